"""The retention status of each clinical document: its rule, the end of its episode, its holds, and
whether it may be destroyed on a given day.

Spec: https://hl7.org/fhir/R4/composition.html (``encounter``, ``event.period``, ``date``,
``custodian``, ``relatesTo``), https://hl7.org/fhir/R4/encounter.html (``period.end``,
``hospitalization.dischargeDisposition``, code ``exp`` of
http://terminology.hl7.org/CodeSystem/discharge-disposition), rules: :mod:`.rules`.

The episode of a document ends at its Encounter's ``period.end``; without an encounter, at the end of
the Composition's ``event.period``, else at its ``date``. An encounter still open (status planned,
arrived, triaged, in-progress, onleave, or no end) keeps the document: the retention has not started.
Holds that apply: those on the document, on its encounter, on its patient, and on any document of its
correction chain (``relatesTo`` replaces / replaced-by: a correction and the original are kept and
destroyed together).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Final, Literal
from zoneinfo import ZoneInfo

from senhealth.emr.documents.types import document_type_for_code
from senhealth.emr.retention.hold import LegalHold, active_holds
from senhealth.emr.retention.rules import (
    RETENTION_TAG_SYSTEM,
    Classification,
    DocumentFacts,
    classify,
    purgeable_from,
)
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore, Gone, NotFound, StoreTx

__all__ = [
    "Decision",
    "RetentionStatus",
    "all_compositions",
    "retention_status",
]

_OPEN: Final = frozenset({"planned", "arrived", "triaged", "in-progress", "onleave"})
_PAGE: Final = 500

Decision = Literal["purgeable", "under-retention", "permanent", "legal-hold", "episode-open", "no-rule"]


@dataclass(frozen=True, slots=True)
class RetentionStatus:
    """One document's retention (see the module docstring)."""

    composition: str  # the id
    doc_type: str
    patient: str | None  # Patient id
    encounter: str | None  # Encounter id
    facility: str | None  # Organization/<id> (custodian, else the encounter's serviceProvider)
    episode_end: date | None
    episode_open: bool
    classification: Classification | None
    holds: tuple[LegalHold, ...] = ()
    chain: tuple[str, ...] = ()  # ids of the documents of its correction chain (itself included)
    facts: DocumentFacts | None = field(default=None, compare=False)

    @property
    def purgeable_from(self) -> date | None:
        if self.classification is None or self.episode_end is None:
            return None
        return purgeable_from(self.episode_end, self.classification.years)

    def decision(self, as_of: date) -> Decision:
        """Whether the document may be destroyed on ``as_of`` and, when not, why (holds first)."""
        if self.holds:
            return "legal-hold"
        if self.classification is None:
            return "no-rule"
        if self.classification.permanent:
            return "permanent"
        if self.episode_open or self.episode_end is None:
            return "episode-open"
        until = self.purgeable_from
        assert until is not None
        return "purgeable" if as_of >= until else "under-retention"

    def explain(self, as_of: date) -> tuple[str, str]:
        """The decision in words: (English, Vietnamese)."""
        d = self.decision(as_of)
        if d == "legal-hold":
            reasons = "; ".join(f"#{h.id} {h.target}: {h.reason}" for h in self.holds)
            return f"on legal hold ({reasons})", f"đang bị giữ theo yêu cầu pháp lý ({reasons})"
        if d == "no-rule":
            return (
                "no retention rule covers this document (unknown type): it is kept",
                "không có quy định lưu trữ cho loại hồ sơ này: tiếp tục lưu",
            )
        assert self.classification is not None
        rule = self.classification.rule
        if d == "permanent":
            return (f"kept permanently ({rule.title_en})", f"lưu trữ vĩnh viễn ({rule.title_vi})")
        if d == "episode-open":
            return ("the episode of care has not ended: retention has not started",
                    "đợt điều trị chưa kết thúc: chưa bắt đầu tính thời hạn lưu trữ")  # fmt: skip
        until = self.purgeable_from
        years = self.classification.years
        if d == "under-retention":
            return (
                f"under retention until {until} ({years} years, {rule.title_en})",
                f"còn trong thời hạn lưu trữ đến {until} ({years} năm, {rule.title_vi})",
            )
        return (
            f"retention ended ({years} years, {rule.title_en}; destroyable from {until})",
            f"đã hết thời hạn lưu trữ ({years} năm, {rule.title_vi}; được hủy từ {until})",
        )


def _ref_id(value: Any, res_type: str) -> str | None:
    ref = value.get("reference") if isinstance(value, Mapping) else None
    if not isinstance(ref, str):
        return None
    parts = ref.split("/_history/")[0].split("/")
    return parts[-1] if len(parts) >= 2 and parts[-2] == res_type and parts[-1] else None


def _local_date(value: Any, zone: ZoneInfo) -> date | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        if len(value) == 4:
            return date(int(value), 12, 31)
        if len(value) == 7:
            return date(int(value[:4]), int(value[5:7]), 28)
        if len(value) == 10:
            return date.fromisoformat(value)
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.astimezone(zone).date() if when.tzinfo is not None else when.date()


async def _read(tx: StoreTx, res_type: str, res_id: str | None) -> dict[str, Any] | None:
    if not res_id:
        return None
    try:
        return (await tx.read(res_type, res_id)).content
    except (NotFound, Gone):
        return None


def _icd_codes(condition: Mapping[str, Any]) -> list[str]:
    out = []
    for coding in (condition.get("code") or {}).get("coding") or []:
        if (
            isinstance(coding, Mapping)
            and "icd" in str(coding.get("system", "")).lower()
            and coding.get("code")
        ):
            out.append(str(coding["code"]))
    return out


def _section_refs(sections: Any) -> Iterable[Any]:
    for s in sections or []:
        if isinstance(s, Mapping):
            yield from s.get("entry") or []
            yield from _section_refs(s.get("section"))


def _tags(comp: Mapping[str, Any]) -> frozenset[str]:
    tags = (comp.get("meta") or {}).get("tag") or []
    return frozenset(
        str(t.get("code")) for t in tags if isinstance(t, Mapping) and t.get("system") == RETENTION_TAG_SYSTEM
    )


def _chain(comp: Mapping[str, Any]) -> set[str]:
    out = {str(comp.get("id"))}
    for r in comp.get("relatesTo") or []:
        if isinstance(r, Mapping) and r.get("code") in ("replaces", "transforms", "appends"):
            target = _ref_id(r.get("targetReference"), "Composition")
            if target:
                out.add(target)
    return out


async def _replacing(tx: StoreTx, composition_id: str) -> list[str]:
    """Ids of Compositions that say they replace ``composition_id``."""
    request = parse_search(
        "Composition", [("related-ref", f"Composition/{composition_id}"), ("_count", str(_PAGE))]
    )
    result = await search(tx.conn, request, await tx.store.param_ids())
    return [r.res_id for r in result.matches]


async def retention_status(
    store: FhirStore,
    composition_id: str,
    *,
    tx: StoreTx | None = None,
    zone: str = "Asia/Ho_Chi_Minh",
) -> RetentionStatus | None:
    """The retention status of ``Composition/{composition_id}`` (None when it is not stored); read in
    ``tx`` when given (the purge's transaction), else in a transaction of its own."""
    if tx is not None:
        return await _status(tx, composition_id, ZoneInfo(zone))
    async with store.transaction() as own:
        return await _status(own, composition_id, ZoneInfo(zone))


async def _status(tx: StoreTx, composition_id: str, tz: ZoneInfo) -> RetentionStatus | None:
    comp = await _read(tx, "Composition", composition_id)
    if comp is None:
        return None
    dtype = document_type_for_code(comp.get("type"))
    key = dtype.key if dtype else _local_type(comp)
    enc_id = _ref_id(comp.get("encounter"), "Encounter")
    encounter = await _read(tx, "Encounter", enc_id)
    pat_id = _ref_id(comp.get("subject"), "Patient")
    patient = await _read(tx, "Patient", pat_id)
    codes: list[str] = []
    refs = list(_section_refs(comp.get("section")))
    for d in (encounter or {}).get("diagnosis") or []:
        if isinstance(d, Mapping):
            refs.append(d.get("condition"))
    seen: set[str] = set()
    for ref in refs:
        cid = _ref_id(ref, "Condition")
        if cid and cid not in seen:
            seen.add(cid)
            cond = await _read(tx, "Condition", cid)
            codes.extend(_icd_codes(cond or {}))
    end: date | None = None
    is_open = False
    if encounter is not None:
        end = _local_date((encounter.get("period") or {}).get("end"), tz)
        is_open = encounter.get("status") in _OPEN or end is None
    else:
        for event in comp.get("event") or []:
            if isinstance(event, Mapping):
                e = _local_date((event.get("period") or {}).get("end"), tz)
                if e is not None and (end is None or e > end):
                    end = e
        end = end or _local_date(comp.get("date"), tz)
        is_open = end is None
    disposition = None
    for coding in (((encounter or {}).get("hospitalization") or {}).get("dischargeDisposition") or {}).get(
        "coding"
    ) or []:
        if isinstance(coding, Mapping) and coding.get("code"):
            disposition = str(coding["code"])
            break
    died = False
    if patient is not None and end is not None:
        death = _local_date(patient.get("deceasedDateTime"), tz)
        start = _local_date(((encounter or {}).get("period") or {}).get("start"), tz)
        died = death is not None and (start is None or death >= start) and death <= end
    facts = DocumentFacts(key, _tags(comp), tuple(codes), disposition, died)
    custodian = _ref_id(comp.get("custodian"), "Organization") or _ref_id(
        (encounter or {}).get("serviceProvider"), "Organization"
    )
    chain = _chain(comp) | set(await _replacing(tx, composition_id))
    targets = [f"Composition/{c}" for c in sorted(chain)]
    if enc_id:
        targets.append(f"Encounter/{enc_id}")
    if pat_id:
        targets.append(f"Patient/{pat_id}")
    holds = await active_holds(tx.conn, targets)
    return RetentionStatus(
        composition=composition_id,
        doc_type=key,
        patient=pat_id,
        encounter=enc_id,
        facility=f"Organization/{custodian}" if custodian else None,
        episode_end=end,
        episode_open=is_open,
        classification=classify(facts),
        holds=tuple(holds),
        chain=tuple(sorted(chain)),
        facts=facts,
    )


def _local_type(comp: Mapping[str, Any]) -> str:
    """A document type code outside :data:`DOCUMENT_TYPES` (a health-check certificate...), from the
    project's document-type coding."""
    for coding in (comp.get("type") or {}).get("coding") or []:
        if isinstance(coding, Mapping) and str(coding.get("system", "")).endswith("/document-type"):
            return str(coding.get("code") or "")
    return ""


async def all_compositions(store: FhirStore, *, page: int = _PAGE) -> AsyncIterator[Sequence[str]]:
    """The ids of every stored Composition, a page at a time."""
    cursor: str | None = None
    while True:
        params = [("_count", str(page)), ("_elements", "id")]
        if cursor:
            params.append(("_cursor", cursor))
        request = parse_search("Composition", params)
        async with store.pool.connection() as conn:
            result = await search(conn, request, await store.param_ids())
        if result.matches:
            yield [r.res_id for r in result.matches]
        cursor = result.next_cursor
        if not cursor:
            return
