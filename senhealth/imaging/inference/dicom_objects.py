"""The AI result as DICOM objects stored with the study: a TID 1500 Measurement Report and a Segmentation.

Spec: DICOM PS3.16 TID 1500 (Measurement Report), TID 1410 (Planar ROI Measurements and Qualitative
Evaluations), TID 1501 (Measurement and Qualitative Evaluation Group), TID 4019 (Algorithm
Identification); PS3.3 A.35.13 (Comprehensive 3D SR IOD), A.51 (Segmentation IOD). Built with highdicom
(https://highdicom.readthedocs.io/), which writes the templates and checks them, rather than by hand.

- :func:`segmentation`: a FRACTIONAL Segmentation of the source image, one segment ("Nodule" in "Lung",
  algorithm type AUTOMATIC, the model as the algorithm): the model's heatmap resampled to the image's size
  (the overlay the radiologist sees). Written for every study, so a negative call is inspectable too.
- :func:`measurement_report`: the SR, the model as the observer device. A positive call: one planar ROI
  group (finding type Nodule, finding site Lung, a CIRCLE around the heatmap's hottest region, the
  probability as a measurement, Present as the qualitative evaluation); a negative call: one
  measurement group with the probability and "Nodule: Absent". The title is the Imaging Measurement Report;
  the report is not complete nor verified (a preliminary result until a radiologist signs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import highdicom as hd
import numpy as np
from numpy.typing import NDArray
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from senhealth.imaging.models.card import ModelCard
from senhealth.imaging.models.preprocess import resample

__all__ = ["PROBABILITY", "Region", "hot_region", "measurement_report", "segmentation"]

#: The probability the model gives to its finding (a code of this platform: DICOM has none for an AI
#: model's score; SR allows private coding schemes, PS3.16 8.2).
PROBABILITY = Code("ai-probability", "99SENHEALTH", "AI model probability")
_SOFTWARE = "senhealth imaging AI"


@dataclass(frozen=True, slots=True)
class Region:
    """The hottest region of the heatmap, in the source image's pixels (column, row, radius)."""

    col: float
    row: float
    radius: float


def hot_region(heatmap: NDArray[np.float32], rows: int, cols: int, level: float = 0.5) -> Region:
    """Centre and size of the heatmap's cells at ``level`` or above around its maximum (else the maximum's
    cell), in the image's pixel coordinates."""
    gy, gx = heatmap.shape
    sy, sx = rows / gy, cols / gx
    peak = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    hot = np.argwhere(heatmap >= max(level, float(heatmap.max()) * 0.5))
    near = hot[np.abs(hot - np.array(peak)).max(axis=1) <= 4] if len(hot) else np.array([peak])
    cy = (float(near[:, 0].mean()) + 0.5) * sy
    cx = (float(near[:, 1].mean()) + 0.5) * sx
    extent = max(float(np.ptp(near[:, 0])) + 1, float(np.ptp(near[:, 1])) + 1)
    return Region(col=cx, row=cy, radius=max(extent * max(sy, sx) / 2, max(sy, sx)))


def _algorithm(card: ModelCard) -> hd.AlgorithmIdentificationSequence:
    return hd.AlgorithmIdentificationSequence(
        name=card.name,
        family=codes.DCM.ArtificialIntelligence,
        version=card.version,
        source=card.manufacturer,
    )


def segmentation(
    source: Dataset, heatmap: NDArray[np.float32], card: ModelCard, *, series_number: int = 901
) -> hd.seg.Segmentation:
    """The heatmap as a FRACTIONAL Segmentation of ``source``."""
    rows, cols = int(source.Rows), int(source.Columns)
    full = np.clip(resample(np.kron(heatmap, np.ones((8, 8), dtype=np.float32)), max(rows, cols)), 0.0, 1.0)
    full = full[:rows, :cols].astype(np.float32)
    description = hd.seg.SegmentDescription(
        segment_number=1,
        segment_label=f"{card.finding.display} (AI)",
        segmented_property_category=codes.SCT.MorphologicallyAbnormalStructure,
        segmented_property_type=Code(card.finding.code, "SCT", card.finding.display),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.AUTOMATIC,
        algorithm_identification=_algorithm(card),
        anatomic_regions=[Code(card.finding.site_code, "SCT", card.finding.site_display)],
    )
    return hd.seg.Segmentation(
        source_images=[source],
        pixel_array=full[None, :, :],
        segmentation_type=hd.seg.SegmentationTypeValues.FRACTIONAL,
        segment_descriptions=[description],
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=card.manufacturer,
        manufacturer_model_name=card.name,
        software_versions=f"{card.name} {card.version}",
        device_serial_number=card.sha256[:16],
        series_description=f"AI {card.name} {card.version} (preliminary)",
        max_fractional_value=255,
    )


def measurement_report(
    source: Dataset,
    probability: float,
    heatmap: NDArray[np.float32],
    card: ModelCard,
    *,
    device_uid: str,
    series_number: int = 902,
) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 Measurement Report of one model run on ``source``."""
    positive = probability >= card.threshold
    finding = Code(card.finding.code, "SCT", card.finding.display)
    site = hd.sr.FindingSite(anatomic_location=Code(card.finding.site_code, "SCT", card.finding.site_display))
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=device_uid,
            name=card.label,
            manufacturer_name=card.manufacturer,
            model_name=card.name,
            serial_number=card.sha256[:16],
        ),
    )
    context = hd.sr.ObservationContext(observer_device_context=observer)
    score = hd.sr.Measurement(
        name=PROBABILITY,
        value=round(float(probability), 4),
        unit=codes.UCUM.NoUnits,
        algorithm_id=hd.sr.AlgorithmIdentification(name=card.name, version=card.version),
    )
    evaluation = hd.sr.QualitativeEvaluation(
        name=finding, value=codes.SCT.Present if positive else codes.SCT.Absent
    )
    tracking = hd.sr.TrackingIdentifier(uid=generate_uid(), identifier=f"{card.name} finding 1")
    group: Any
    if positive:
        region = hot_region(heatmap, int(source.Rows), int(source.Columns))
        group = hd.sr.PlanarROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking,
            referenced_region=hd.sr.ImageRegion(
                graphic_type=hd.sr.GraphicTypeValues.CIRCLE,
                graphic_data=np.array(
                    [[region.col, region.row], [region.col + region.radius, region.row]], dtype=float
                ),
                source_image=hd.sr.SourceImageForRegion.from_source_image(source),
            ),
            finding_type=finding,
            algorithm_id=hd.sr.AlgorithmIdentification(name=card.name, version=card.version),
            finding_sites=[site],
            measurements=[score],
            qualitative_evaluations=[evaluation],
        )
    else:
        group = hd.sr.MeasurementsAndQualitativeEvaluations(
            tracking_identifier=tracking,
            finding_type=finding,
            algorithm_id=hd.sr.AlgorithmIdentification(name=card.name, version=card.version),
            finding_sites=[site],
            measurements=[score],
            qualitative_evaluations=[evaluation],
            source_images=[hd.sr.SourceImageForMeasurementGroup.from_source_image(source)],
        )
    report = hd.sr.MeasurementReport(
        observation_context=context,
        procedure_reported=codes.SCT.ImagingProcedure,
        imaging_measurements=[group],
    )
    return hd.sr.Comprehensive3DSR(
        evidence=[source],
        content=report,
        series_instance_uid=generate_uid(),
        series_number=series_number,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=card.manufacturer,
        is_complete=True,
        is_final=False,
        is_verified=False,
        series_description=f"AI {card.name} {card.version} (preliminary)",
    )
