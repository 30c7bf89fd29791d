"""Agreement of the radiologists with a model, per month, and the automatic suspension below a threshold.

Spec: https://hl7.org/fhir/R4/provenance.html (each review is a Provenance, tagged with its verdict, the
agreement and the model: :mod:`.review`), https://hl7.org/fhir/R4/communication.html (the notice of a
suspension). Derived data, rebuilt from the resources (DESIGN.md §1): nothing is counted anywhere else.

A review **agrees** when the radiologist's final call on the finding (present or absent) is the model's;
an edit that keeps the call (a better wording, a size) agrees, a reject never does. The month is the
review's local month (``SENHEALTH_IMAGING_AI_TIMEZONE``). :func:`check_suspension`: when the month has at
least ``agreement_min_cases`` reviews and its agreement is below ``agreement_threshold``, every enablement
of the model still on is switched off (``suspended``, audited by the registry) and a Communication tells
the facilities (and the installed :func:`install_suspension_listener`, e.g. e-mail), in one go.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from zoneinfo import ZoneInfo

from senhealth.fhir.access import Principal
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore
from senhealth.imaging.models.config import get_config
from senhealth.imaging.models.definition import AI_SYSTEM
from senhealth.imaging.models.registry import suspend

__all__ = [
    "AGREEMENT_SYSTEM",
    "MODEL_SYSTEM",
    "REVIEW_SYSTEM",
    "Agreement",
    "Suspension",
    "agreement",
    "check_suspension",
    "install_suspension_listener",
    "month_of",
]

REVIEW_SYSTEM: Final = f"{AI_SYSTEM}-review"  # accepted | edited | rejected
AGREEMENT_SYSTEM: Final = f"{AI_SYSTEM}-agreement"  # agree | disagree
MODEL_SYSTEM: Final = f"{AI_SYSTEM}-model"  # the model's name


@dataclass(frozen=True, slots=True)
class Agreement:
    model: str
    month: str  # YYYY-MM
    cases: int
    agreed: int
    accepted: int
    edited: int
    rejected: int

    @property
    def rate(self) -> float | None:
        return self.agreed / self.cases if self.cases else None


@dataclass(frozen=True, slots=True)
class Suspension:
    agreement: Agreement
    threshold: float
    devices: list[str]
    communication: str


SuspensionListener = Callable[[Suspension], Awaitable[None]]
_listener: SuspensionListener | None = None


def install_suspension_listener(listener: SuspensionListener | None) -> None:
    """Who else hears of a suspension (after it is stored)."""
    global _listener
    _listener = listener


def month_of(when: datetime) -> str:
    return when.astimezone(ZoneInfo(get_config().timezone)).strftime("%Y-%m")


def _bounds(month: str) -> tuple[str, str]:
    year, mon = (int(p) for p in month.split("-"))
    zone = ZoneInfo(get_config().timezone)
    start = datetime(year, mon, 1, tzinfo=zone)
    end = datetime(year + (mon == 12), mon % 12 + 1, 1, tzinfo=zone)
    return start.isoformat(), end.isoformat()


def _tag(resource: dict[str, Any], system: str) -> str | None:
    for tag in (resource.get("meta") or {}).get("tag") or []:
        if tag.get("system") == system:
            return str(tag.get("code"))
    return None


async def agreement(store: FhirStore, model: str, month: str | None = None) -> Agreement:
    """The agreement with ``model`` in ``month`` (YYYY-MM; default: this month)."""
    month = month or month_of(datetime.now(UTC))
    start, end = _bounds(month)
    counts = {"accepted": 0, "edited": 0, "rejected": 0, "agree": 0}
    async with store.transaction() as tx:
        params = await tx.store.param_ids()
        criteria = [
            ("_tag", f"{MODEL_SYSTEM}|{model}"),
            ("recorded", f"ge{start}"),
            ("recorded", f"lt{end}"),
            ("_count", "1000"),
        ]
        cursor: str | None = None
        while True:
            request = parse_search("Provenance", [*criteria, *([("_cursor", cursor)] if cursor else [])])
            result = await search(tx.conn, request, params)
            for row in result.matches:
                verdict = _tag(row.content, REVIEW_SYSTEM)
                if verdict in counts:
                    counts[verdict] += 1
                    counts["agree"] += _tag(row.content, AGREEMENT_SYSTEM) == "agree"
            cursor = result.next_cursor
            if not cursor:
                break
    cases = counts["accepted"] + counts["edited"] + counts["rejected"]
    return Agreement(
        model, month, cases, counts["agree"], counts["accepted"], counts["edited"], counts["rejected"]
    )


async def check_suspension(
    store: FhirStore, model: str, *, month: str | None = None, principal: Principal | None = None
) -> Suspension | None:
    """Suspend ``model`` when its month's agreement is below the threshold (see the module docstring)."""
    config = get_config()
    current = await agreement(store, model, month)
    if current.cases < config.agreement_min_cases or current.rate is None:
        return None
    if current.rate >= config.agreement_threshold:
        return None
    reason = (
        f"Tự động tạm dừng: đồng thuận {100 * current.rate:.0f}% < {100 * config.agreement_threshold:.0f}% "
        f"({current.agreed}/{current.cases} ca, tháng {current.month}) / suspended automatically: agreement "
        f"{100 * current.rate:.0f}% below {100 * config.agreement_threshold:.0f}% ({current.agreed}/{current.cases} "
        f"cases, {current.month})"
    )
    devices = await suspend(store, model, reason=reason, principal=principal)
    if not devices:
        return None  # already off everywhere
    owners = sorted({str(d["owner"]["reference"]) for d in devices if d.get("owner")})
    now = datetime.now(UTC).isoformat(timespec="milliseconds")
    notice: dict[str, Any] = {
        "resourceType": "Communication",
        "status": "completed",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/communication-category",
                        "code": "alert",
                        "display": "Alert",
                    }
                ]
            }
        ],
        "priority": "urgent",
        "about": [{"reference": f"Device/{d['id']}"} for d in devices],
        "sent": now,
        "recipient": [{"reference": o} for o in owners],
        "reasonCode": [
            {"coding": [{"system": AI_SYSTEM, "code": "model-suspended", "display": "AI model suspended"}]}
        ],
        "payload": [{"contentString": f"{model}: {reason}"}],
        "meta": {"tag": [{"system": MODEL_SYSTEM, "code": model}]},
    }
    stored = await store.create(notice)
    suspension = Suspension(
        agreement=current,
        threshold=config.agreement_threshold,
        devices=[f"Device/{d['id']}" for d in devices],
        communication=f"Communication/{stored.res_id}",
    )
    if _listener is not None:
        await _listener(suspension)
    return suspension
