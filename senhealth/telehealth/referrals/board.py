"""The referral board of a facility: its referrals, both directions, in columns by step.

Spec: R4 Task https://hl7.org/fhir/R4/task.html (``businessStatus`` the referral step,
``…/CodeSystem/referral-step``; :mod:`.model`), docs/telehealth-referrals.md.

Why a list of its own rather than a FHIR search as the user: the destination's staff see the patient's
record before arrival only through the referral network of the access policy, and a facility's referrals
have no facility search parameter (the referring facility is a ``Task.input``). So, as the steps
themselves do (:func:`.store._step` reads the Task and request directly and checks the caller's
facility), the board lists the referrals whose referring facility (``input`` ``referring-facility``) or
destination (``ServiceRequest.performer``) is the caller's facility, and nothing else; one listing is one
audit event (``search`` on Task, ``query`` ``referral-board``, the patients listed).

Columns: ``requested``, ``accepted``, ``summary-sent``, ``arrived``, ``returned`` (step ``completed``);
declined referrals are counted apart. Each card says what the caller's facility may do next
(:func:`next_actions`). At most ``limit`` (500) referrals, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, Literal

from senhealth.fhir.access import AccessEvent, Principal, audit_sink
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore
from senhealth.telehealth.referrals.model import OUTPUT_SYSTEM, STEP_SYSTEM, TASK_CODE, Step, ref_id

__all__ = ["COLUMNS", "Board", "Card", "next_actions", "referral_board"]

#: The board's columns: the steps a referral moves through (``completed`` is "returned").
COLUMNS: Final = (Step.REQUESTED, Step.ACCEPTED, Step.SUMMARY_SENT, Step.ARRIVED, Step.COMPLETED)
_CODE: Final = TASK_CODE["coding"][0]


@dataclass(frozen=True, slots=True)
class Card:
    """One referral on the board."""

    task_id: str
    direction: Literal["outgoing", "incoming"]
    step: Step
    patient: str
    patient_name: str
    referring: str
    referring_name: str
    destination: str
    destination_name: str
    encounter: str | None
    reasons: tuple[str, ...]
    updated: datetime | None
    summary_draft: str | None
    return_draft: str | None
    receiving_encounter: str | None
    actions: tuple[str, ...]


@dataclass
class Board:
    """A facility's referrals by column (see the module docstring)."""

    facility: str
    columns: dict[Step, list[Card]] = field(default_factory=lambda: {s: [] for s in COLUMNS})
    declined: list[Card] = field(default_factory=list)

    def all(self) -> list[Card]:
        return [c for cards in self.columns.values() for c in cards] + self.declined


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _step(task: dict[str, Any]) -> Step | None:
    for c in (task.get("businessStatus") or {}).get("coding") or []:
        if c.get("system") == STEP_SYSTEM:
            try:
                return Step(c.get("code"))
            except ValueError:
                return None
    return None


def _typed(items: list[dict[str, Any]], kind: str) -> dict[str, Any] | None:
    found = None
    for item in items:
        codes = [c.get("code") for c in (item.get("type") or {}).get("coding") or []]
        if kind in codes:
            found = item.get("valueReference") or {}
    return found


def next_actions(step: Step, direction: Literal["outgoing", "incoming"], has_draft: bool) -> tuple[str, ...]:
    """The steps the facility on ``direction``'s side may take now (the operations' own rules)."""
    if direction == "incoming":
        return {
            Step.REQUESTED: ("accept", "decline"),
            Step.SUMMARY_SENT: ("arrive",),
            Step.ARRIVED: ("draft-return", "return") if has_draft else ("draft-return",),
        }.get(step, ())
    if step in (Step.REQUESTED, Step.ACCEPTED):
        return ("draft-summary", "send-summary") if has_draft else ("draft-summary",)
    return ()


def _card(
    task: dict[str, Any], request: dict[str, Any], direction: Literal["outgoing", "incoming"]
) -> Card | None:
    step = _step(task)
    if step is None:
        return None
    referring = _typed(task.get("input") or [], "referring-facility") or {}
    destination: dict[str, Any] = next(
        (p for p in request.get("performer") or [] if ref_id(p, "Organization")), {}
    )
    summary = _typed(task.get("input") or [], "summary-draft")
    ret = _typed(task.get("input") or [], "return-draft")
    receiving = _typed([o for o in task.get("output") or [] if _is_output(o)], "receiving-encounter")
    draft = summary if direction == "outgoing" else ret
    reasons = tuple(
        str(c.get("code"))
        for concept in request.get("reasonCode") or []
        for c in (concept.get("coding") or [])[:1]
        if c.get("code")
    )
    return Card(
        task_id=str(task["id"]),
        direction=direction,
        step=step,
        patient=ref_id(task.get("for"), "Patient") or "",
        patient_name=str(
            (request.get("subject") or {}).get("display") or (task.get("for") or {}).get("display") or ""
        ),
        referring=ref_id(referring, "Organization") or "",
        referring_name=str(referring.get("display") or ref_id(referring, "Organization") or ""),
        destination=ref_id(destination, "Organization") or "",
        destination_name=str(destination.get("display") or ref_id(destination, "Organization") or ""),
        encounter=ref_id(task.get("encounter"), "Encounter"),
        reasons=reasons,
        updated=_when(task.get("lastModified")),
        summary_draft=ref_id(summary, "Composition"),
        return_draft=ref_id(ret, "Composition"),
        receiving_encounter=ref_id(receiving, "Encounter"),
        actions=next_actions(step, direction, ref_id(draft, "Composition") is not None),
    )


def _is_output(item: dict[str, Any]) -> bool:
    return any(c.get("system") == OUTPUT_SYSTEM for c in (item.get("type") or {}).get("coding") or [])


async def referral_board(
    store: FhirStore, principal: Principal | None, facility: str, *, limit: int = 500
) -> Board:
    """The referrals of Organization ``facility`` (an id), see the module docstring; audited."""
    board = Board(facility=facility)
    mine = f"Organization/{facility}"
    async with store.transaction() as tx:
        found = await search(
            tx.conn,
            parse_search(
                "Task",
                [
                    ("code", f"{_CODE['system']}|{_CODE['code']}"),
                    ("_sort", "-_lastUpdated"),
                    ("_count", str(limit)),
                    ("_include", "Task:focus"),
                ],
            ),
            await store.param_ids(),
        )
        requests = {
            str(r.content.get("id")): r.content
            for r in found.included
            if r.content.get("resourceType") == "ServiceRequest"
        }
        patients: list[str] = []
        for row in found.matches:
            task = row.content
            request = requests.get(ref_id(task.get("focus"), "ServiceRequest") or "")
            if request is None:
                continue
            referring = (_typed(task.get("input") or [], "referring-facility") or {}).get("reference")
            destinations = {
                f"Organization/{ref_id(p, 'Organization')}"
                for p in request.get("performer") or []
                if ref_id(p, "Organization")
            }
            direction: Literal["outgoing", "incoming"]
            if referring == mine:
                direction = "outgoing"
            elif mine in destinations:
                direction = "incoming"
            else:
                continue
            card = _card(task, request, direction)
            if card is None:
                continue
            if card.step == Step.DECLINED:
                board.declined.append(card)
            else:
                board.columns[card.step].append(card)
            if card.patient and card.patient not in patients:
                patients.append(card.patient)
        await audit_sink().record(
            tx.conn,
            AccessEvent(
                when=datetime.now(UTC),
                principal=principal,
                action="search",
                res_type="Task",
                query="referral-board",
                patients=tuple(patients),
                details={"facility": mine, "referrals": len(board.all())},
            ),
        )
    return board
