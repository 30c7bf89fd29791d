"""A model card: what an imaging AI model is, what it is for, how it was validated, and its file.

Spec: https://hl7.org/fhir/R4/devicedefinition.html (the model as a kind of device: name, version,
manufacturer, type, properties, safety), Mitchell et al., "Model Cards for Model Reporting" (FAT* 2019) for
the fields a card carries. A card is JSON (``senhealth/imaging/models/data/<name>.json`` for the built-in
demonstration model, written by its training script); :class:`ModelCard` reads it and checks the fields the
platform relies on. The whole card is kept in the DeviceDefinition too (:mod:`.definition`), so what a
facility enabled can always be read back exactly.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

__all__ = ["BUILTIN_DIR", "DEMO_MODEL", "CardError", "Finding", "ModelCard", "builtin_cards"]

#: Where the built-in models' files and cards are (package data).
BUILTIN_DIR: Final = Path(__file__).resolve().parent / "data"
#: The demonstration model trained in the project (scripts/train_demo_chest_nodule.py).
DEMO_MODEL: Final = "demo-chest-nodule"

_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{1,40}$")
_VERSION = re.compile(r"^[0-9A-Za-z.+-]{1,20}$")


class CardError(ValueError):
    """A model card that lacks a field or has a wrong one."""


@dataclass(frozen=True, slots=True)
class Finding:
    """The finding the model reports (a SNOMED CT concept) and where (its finding site)."""

    system: str
    code: str
    display: str
    site_code: str
    site_display: str
    text_vi: str


@dataclass(frozen=True, slots=True)
class ModelCard:
    name: str
    version: str
    title: str
    title_vi: str
    manufacturer: str
    regulatory_status: str
    regulatory_status_vi: str
    licence: str
    intended_use: str
    intended_use_vi: str
    modalities: tuple[str, ...]
    body_parts: tuple[str, ...]
    file: str
    sha256: str
    input_size: int
    heatmap_size: int
    finding: Finding
    threshold: float
    urgent_threshold: float
    validation: dict[str, Any]
    raw: dict[str, Any] = field(compare=False, repr=False)

    @property
    def status_text(self) -> str:
        """The regulatory status, Vietnamese then English."""
        return f"{self.regulatory_status_vi} / {self.regulatory_status}"

    @property
    def label(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def matches(self, modality: str | None, body_part: str | None) -> bool:
        """Whether a study of ``modality`` and ``body_part`` (DICOM Body Part Examined) is for this model:
        the modality must be one of the card's; the body part too, when the study says it."""
        if not modality or modality.upper() not in self.modalities:
            return False
        return body_part is None or body_part == "" or body_part.upper() in self.body_parts

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelCard:
        try:
            name = str(data["name"])
            version = str(data["version"])
            if not _NAME.match(name):
                raise CardError(f"name {name!r}: lower-case letters, digits and '-', 2–41 characters")
            if not _VERSION.match(version):
                raise CardError(f"version {version!r}: letters, digits, '.', '+', '-'")
            sha = str(data["sha256"]).lower()
            if not re.fullmatch(r"[0-9a-f]{64}", sha):
                raise CardError("sha256: 64 hexadecimal digits")
            f = data["finding"]
            return cls(
                name=name,
                version=version,
                title=str(data["title"]),
                title_vi=str(data.get("title_vi") or data["title"]),
                manufacturer=str(data["manufacturer"]),
                regulatory_status=str(data["regulatory_status"]),
                regulatory_status_vi=str(data.get("regulatory_status_vi") or data["regulatory_status"]),
                licence=str(data["licence"]),
                intended_use=str(data["intended_use"]),
                intended_use_vi=str(data.get("intended_use_vi") or data["intended_use"]),
                modalities=tuple(str(m).upper() for m in data["modalities"]),
                body_parts=tuple(str(b).upper() for b in data["body_parts"]),
                file=str(data["file"]),
                sha256=sha,
                input_size=int(data["input"]["size"]),
                heatmap_size=int(data["outputs"]["heatmap_size"]),
                finding=Finding(
                    system=str(f["system"]),
                    code=str(f["code"]),
                    display=str(f["display"]),
                    site_code=str(f["site_code"]),
                    site_display=str(f["site_display"]),
                    text_vi=str(f.get("text_vi") or f["display"]),
                ),
                threshold=float(data["threshold"]),
                urgent_threshold=float(data.get("urgent_threshold", data["threshold"])),
                validation=dict(data.get("validation") or {}),
                raw=data,
            )
        except KeyError as e:
            raise CardError(f"the model card has no {e.args[0]!r}") from None
        except (TypeError, ValueError) as e:
            if isinstance(e, CardError):
                raise
            raise CardError(f"the model card is malformed: {e}") from None

    @classmethod
    def load(cls, path: Path) -> ModelCard:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise CardError(f"cannot read the model card {path.name}: {e}") from None
        if not isinstance(data, dict):
            raise CardError("a model card is a JSON object")
        return cls.from_json(data)


def builtin_cards() -> list[ModelCard]:
    """The cards of the models shipped with the platform."""
    return [ModelCard.load(p) for p in sorted(BUILTIN_DIR.glob("*.json"))]
