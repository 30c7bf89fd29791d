"""What the listener does for each DIMSE request (pynetdicom event handlers, run in association threads).

Spec: C-ECHO PS3.7 §9.1.5; C-STORE statuses PS3.4 B.2.3 (``0000`` success, ``A7xx`` out of resources,
``A9xx`` data set does not match SOP class, ``Cxxx`` cannot understand); C-FIND PS3.4 C.4.1 (``FF00``
pending per match, keys returned exactly as asked, ``QueryRetrieveLevel`` STUDY/SERIES/IMAGE; ``A900``
identifier does not match SOP class, ``C000`` unable to process); C-MOVE PS3.4 C.4.2 (``A801`` move
destination unknown; the sub-operations are C-STOREs on a new association to the destination); refusal
of a peer not allowed the service: general status ``0124`` (Refused: not authorised, PS3.7 C.5.7).
"""

from __future__ import annotations

import io
import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, Final

from pydicom import dcmread
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pynetdicom.events import Event
from pynetdicom.presentation import PresentationContext, build_context

from senhealth.fhir.store import FhirStore
from senhealth.imaging.storage import audit
from senhealth.imaging.storage.files import FileStore
from senhealth.imaging.storage.hooks import StudyStored, notify
from senhealth.imaging.storage.index import InstanceRow, instance_rows
from senhealth.imaging.storage.ingest import ingest
from senhealth.imaging.storage.query import Level, Query, QueryError, run_query

if TYPE_CHECKING:
    from senhealth.imaging.dimse.listener import DicomListener

__all__ = ["Handlers"]

log = logging.getLogger(__name__)

REFUSED: Final = 0x0124
FIND_UNABLE: Final = 0xC000
FIND_BAD_IDENTIFIER: Final = 0xA900
MOVE_UNABLE: Final = 0xC000
PENDING: Final = 0xFF00
_LEVELS: Final[dict[str, Level]] = {"STUDY": "study", "SERIES": "series", "IMAGE": "instance"}
_SKIPPED_KEYS: Final = frozenset({"00080052", "00080005", "00080056"})  # level, character set, availability


def _calling(event: Event) -> str:
    return str(event.assoc.requestor.ae_title).strip()


def _address(event: Event) -> str | None:
    address = event.assoc.requestor.address
    return str(address) if address else None


class Handlers:
    """The event handlers of one listener (pynetdicom calls them from association threads)."""

    def __init__(self, listener: DicomListener) -> None:
        self.listener = listener
        self._pending: dict[int, dict[str, list[StudyStored]]] = defaultdict(lambda: defaultdict(list))
        self._lock = threading.Lock()

    @property
    def fhir(self) -> FhirStore:
        assert self.listener.store is not None
        return self.listener.store

    def _allowed(self, event: Event, service: str) -> bool:
        config = self.listener.config
        if getattr(config, f"always_allow_{service}"):
            return True
        known = config.known_aes.get(_calling(event))
        if known is None or not getattr(known, f"allow_{service}"):
            log.warning("DICOM %s refused to AE %r from %s", service, _calling(event), _address(event))
            return False
        return True

    # -- C-ECHO -------------------------------------------------------------------------------------------

    def echo(self, event: Event) -> int:
        return 0x0000 if self._allowed(event, "echo") else REFUSED

    # -- C-STORE ------------------------------------------------------------------------------------------

    def store(self, event: Event) -> int:
        if not self._allowed(event, "store"):
            return REFUSED
        data = event.encoded_dataset(include_meta=True)
        result = self.listener.call(
            ingest(
                self.fhir,
                self.listener.blobs,
                self.listener.config,
                [data],
                source="C-STORE",
                principal=audit.ae_principal(_calling(event)),
                source_ip=_address(event),
                run_hooks=False,
            )
        )
        if result.failed:
            failed = result.failed[0]
            log.warning("C-STORE of %s refused: %s", failed.sop_uid, failed.message)
            return failed.reason
        with self._lock:
            for study in result.studies:
                self._pending[id(event.assoc)][study.study_uid].append(study)
        return 0x0000

    def closed(self, event: Event) -> None:
        """The association ended: tell the hooks about each study it stored, once."""
        with self._lock:
            pending = self._pending.pop(id(event.assoc), None)
        if not pending:
            return
        merged = [_merge(events) for events in pending.values()]

        async def run() -> None:
            async with self.fhir.transaction() as tx:
                await notify(tx.conn, merged)

        try:
            self.listener.call(run())
        except Exception:
            log.exception("on_study_stored hooks failed after a DICOM association")

    # -- C-FIND -------------------------------------------------------------------------------------------

    def find(self, event: Event) -> Iterator[tuple[int, Dataset | None]]:
        if not self._allowed(event, "find"):
            yield REFUSED, None
            return
        try:
            identifier = event.identifier
            query = _query(identifier)
        except (QueryError, ValueError, AttributeError) as exc:
            log.warning("C-FIND identifier refused: %s", exc)
            yield FIND_BAD_IDENTIFIER, None
            return

        async def run() -> list[dict[str, Any]]:
            async with self.fhir.transaction() as tx:
                results, patients = await run_query(tx.conn, query, "")
                await audit.record(
                    tx.conn,
                    principal=audit.ae_principal(_calling(event)),
                    action="search",
                    study_id=None,
                    patients=patients,
                    source_ip=_address(event),
                    query=f"C-FIND {query.level}",
                    details={"dicom": "C-FIND", "results": len(results)},
                )
            return results

        try:
            results = self.listener.call(run())
        except Exception:
            log.exception("C-FIND failed")
            yield FIND_UNABLE, None
            return
        level = identifier.QueryRetrieveLevel
        charset = identifier.get("SpecificCharacterSet")
        for item in results:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            item.pop("00081190", None)  # no retrieve URL over DIMSE
            ds = Dataset.from_json(item)
            ds.QueryRetrieveLevel = level
            if charset is not None or "SpecificCharacterSet" in ds:
                ds.SpecificCharacterSet = "ISO_IR 192"
            yield PENDING, ds

    # -- C-MOVE -------------------------------------------------------------------------------------------

    def move(self, event: Event) -> Iterator[Any]:
        config = self.listener.config
        destination = str(event.move_destination).strip()
        if not self._allowed(event, "move"):
            yield None, None  # pynetdicom answers A801; a refused peer learns no more
            return
        peer = config.known_aes.get(destination)
        if peer is None:
            log.warning("C-MOVE to unknown destination %r", destination)
            yield None, None
            return
        try:
            rows = self.listener.call(self._move_rows(event.identifier, event))
        except (QueryError, ValueError, AttributeError) as exc:
            log.warning("C-MOVE identifier refused: %s", exc)
            yield peer.host, peer.port, {"contexts": [build_context("1.2.840.10008.1.1")]}
            yield 0
            return
        yield peer.host, peer.port, {"contexts": _contexts(rows)}
        yield len(rows)
        blobs = self.listener.blobs
        for row in rows:
            if event.is_cancelled:
                yield 0xFE00, None
                return
            try:
                if isinstance(blobs, FileStore):
                    ds = dcmread(blobs.path(row.storage_key))
                else:
                    ds = dcmread(io.BytesIO(blobs.get(row.storage_key)))
            except (OSError, ValueError) as exc:
                log.error("C-MOVE: cannot read %s: %s", row.sop_uid, exc)
                failed = Dataset()
                failed.FailedSOPInstanceUIDList = [row.sop_uid]
                yield 0xA702, failed
                continue
            yield PENDING, ds

    async def _move_rows(self, identifier: Dataset, event: Event) -> list[InstanceRow]:
        level = str(identifier.get("QueryRetrieveLevel", "")).upper()
        if level not in _LEVELS:
            raise QueryError(f"C-MOVE at level {level!r} is not supported")
        studies = _values(identifier, "StudyInstanceUID")
        series = _values(identifier, "SeriesInstanceUID") if level in ("SERIES", "IMAGE") else []
        sops = _values(identifier, "SOPInstanceUID") if level == "IMAGE" else []
        if not studies:
            raise QueryError("C-MOVE needs the Study Instance UID")
        rows: list[InstanceRow] = []
        async with self.fhir.transaction() as tx:
            for study in studies:
                for row in await instance_rows(tx.conn, study):
                    if series and row.series_uid not in series:
                        continue
                    if sops and row.sop_uid not in sops:
                        continue
                    rows.append(row)
            for study in sorted({r.study_uid for r in rows}):
                await audit.record(
                    tx.conn,
                    principal=audit.ae_principal(_calling(event)),
                    action="read",
                    study_id=study,
                    patients=[r.patient_ref for r in rows if r.study_uid == study],
                    source_ip=_address(event),
                    details={
                        "dicom": "C-MOVE",
                        "destination": str(event.move_destination).strip(),
                        "instances": sum(1 for r in rows if r.study_uid == study),
                    },
                )
        return rows


def _values(identifier: Dataset, keyword: str) -> list[str]:
    value = identifier.get(keyword)
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [v for v in value.split("\\") if v]
    return [str(v) for v in value]


def _query(identifier: Dataset) -> Query:
    level_name = str(identifier.get("QueryRetrieveLevel", "")).upper()
    if level_name not in _LEVELS:
        raise QueryError(f"C-FIND at level {level_name!r} is not supported (STUDY, SERIES, IMAGE)")
    query = Query(_LEVELS[level_name], limit=10000)
    only: list[str] = []
    for element in identifier:
        tag = f"{int(element.tag):08X}"
        if tag in _SKIPPED_KEYS or element.tag.is_private or element.VR == "SQ":
            continue
        only.append(tag)
        value = element.value
        if value is None or value == "":
            query.add(tag, "")
            continue
        if isinstance(value, MultiValue | list | tuple):
            text = "\\".join(str(v) for v in value)
        else:
            text = str(value)
        query.add(tag, text)
    query.only = only
    return query


def _merge(events: list[StudyStored]) -> StudyStored:
    first, last = events[0], events[-1]
    return StudyStored(
        study_uid=first.study_uid,
        imaging_study_id=last.imaging_study_id,
        patient=last.patient or first.patient,
        instances=tuple(dict.fromkeys(i for e in events for i in e.instances)),
        series=tuple(dict.fromkeys(s for e in events for s in e.series)),
        modalities=tuple(sorted({m for e in events for m in e.modalities})),
        sop_classes=tuple(sorted({c for e in events for c in e.sop_classes})),
        source="C-STORE",
    )


def _contexts(rows: list[InstanceRow]) -> list[PresentationContext]:
    """Presentation contexts for sending ``rows``: each SOP class with the transfer syntaxes stored."""
    by_class: dict[str, list[str]] = {}
    for row in rows:
        syntaxes = by_class.setdefault(row.sop_class_uid, [])
        if row.transfer_syntax not in syntaxes:
            syntaxes.append(row.transfer_syntax)
    contexts = [build_context(sop, syntaxes) for sop, syntaxes in list(by_class.items())[:128]]
    return contexts or [build_context("1.2.840.10008.1.1")]
