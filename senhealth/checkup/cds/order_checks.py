"""The ``order-select`` and ``order-sign`` services: drug-drug interactions and duplicate therapy.

Spec: https://cds-hooks.org/hooks/order-select/ (context ``selections``: the draft orders just chosen;
``draftOrders``: a Bundle of every draft order) and https://cds-hooks.org/hooks/order-sign/
(``draftOrders`` about to be signed). The orders checked are the draft MedicationRequests; they are
checked against each other and against the patient's active MedicationRequests (prefetch
``medications``). For ``order-select`` only pairs with at least one selected order are reported, for
``order-sign`` every pair with at least one draft order.

- an **interaction**: a pair matching an entry of ``data/interactions.json`` (ATC codes or prefixes on
  each side), one card per pair naming both drugs, the effect, the advice and the published source;
  indicator ``critical`` for a contraindicated pair, else ``warning``;
- **duplicate therapy**: two different orders whose drugs share an ATC level-4 class (``C10AA`` two
  statins), or the same drug twice, except the deliberate combinations listed in the data
  (``duplicate_exceptions``); indicator ``warning``.

Each card suggests removing the draft order (an action ``delete`` with ``MedicationRequest/<id>``): one
suggestion per draft order of the pair (the user picks at most one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from senhealth.checkup.cds.cards import Action, Card, Source, Suggestion, Text
from senhealth.checkup.cds.drug_catalogue import Drug, Interaction, catalogue, identify
from senhealth.checkup.cds.fhir_data import resources

__all__ = ["PREFETCH", "order_cards"]

PREFETCH: Final[dict[str, str]] = {
    "medications": "MedicationRequest?patient={{context.patientId}}&status=active&_count=200",
}
_SEVERITY_VI: Final = {"contraindicated": "chống chỉ định", "major": "nghiêm trọng", "moderate": "trung bình"}


@dataclass(frozen=True, slots=True)
class _Order:
    ref: str | None  # MedicationRequest/<id>, when it has an id
    drug: Drug
    draft: bool
    selected: bool


def _orders(context: Mapping[str, Any], prefetch: Mapping[str, Any], hook: str) -> list[_Order]:
    selections = set(context.get("selections") or []) if hook == "order-select" else set()
    out: list[_Order] = []
    drafts: set[str] = set()
    for req in resources(context.get("draftOrders"), "MedicationRequest"):
        drug = identify(req)
        ref = f"MedicationRequest/{req['id']}" if isinstance(req.get("id"), str) else None
        if ref:
            drafts.add(ref)
        if drug is not None:
            out.append(_Order(ref, drug, True, hook == "order-sign" or ref in selections))
    for req in resources(prefetch.get("medications"), "MedicationRequest"):
        ref = f"MedicationRequest/{req.get('id')}"
        if ref in drafts or req.get("status") not in ("active", "on-hold"):
            continue
        drug = identify(req)
        if drug is not None:
            out.append(_Order(ref, drug, False, False))
    return out


def _names(x: _Order, y: _Order) -> tuple[str, str]:
    return f"{x.drug.name_vi} + {y.drug.name_vi}", f"{x.drug.name_en} + {y.drug.name_en}"


def _removals(x: _Order, y: _Order) -> tuple[Suggestion, ...]:
    out = []
    for o in (x, y):
        if o.draft and o.ref:
            out.append(
                Suggestion(
                    Text(f"Bỏ đơn thuốc {o.drug.name_vi}", f"Remove the {o.drug.name_en} order"),
                    (Action("delete", Text(f"Xóa đơn nháp {o.ref}", f"Delete draft {o.ref}"), o.ref),),
                )
            )
    return tuple(out)


def _interaction_card(x: _Order, y: _Order, i: Interaction) -> Card:
    vi, en = _names(x, y)
    src = i.source
    unverified_vi = "" if src.get("verified") else " (nguồn chưa được kiểm chứng)"
    unverified_en = "" if src.get("verified") else " (source not verified)"
    note = f"\n\n{i.note}" if i.note else ""
    return Card(
        summary=Text(f"Tương tác thuốc {vi}: {i.effect_vi}", f"Drug interaction {en}: {i.effect_en}"),
        indicator="critical" if i.severity == "contraindicated" else "warning",
        source=Source(str(src["label"]), src.get("url")),
        detail=Text(
            f"**{vi}** – mức độ {_SEVERITY_VI.get(i.severity, i.severity)}. {i.effect_vi}. {i.advice_vi}.\n\n"
            f"Nguồn: {src['citation']}{unverified_vi}",
            f"**{en}** – {i.severity}. {i.effect_en}. {i.advice_en}.\n\nSource: {src['citation']}{unverified_en}"
            + note,
        ),
        suggestions=_removals(x, y),
    )


def _duplicate_card(x: _Order, y: _Order) -> Card | None:
    shared = sorted(x.drug.level4 & y.drug.level4)
    same = x.drug.key == y.drug.key
    if not shared and not same:
        return None
    both = frozenset(x.drug.atc) | frozenset(y.drug.atc)
    for atc, _vi, _en in catalogue().duplicate_exceptions:
        if not same and atc <= both and len(atc & frozenset(x.drug.atc)) and len(atc & frozenset(y.drug.atc)):
            return None
    vi, en = _names(x, y)
    klass = shared[0] if shared else x.drug.atc[0][:5]
    return Card(
        summary=Text(f"Trùng nhóm điều trị: {vi} (ATC {klass})", f"Duplicate therapy: {en} (ATC {klass})"),
        indicator="warning",
        source=Source("WHO ATC classification", "https://www.whocc.no/atc_ddd_index/"),
        detail=Text(
            f"Hai đơn thuốc cùng nhóm ATC bậc 4 {klass}"
            + (" (cùng hoạt chất)" if same else "")
            + ". Kiểm tra lại chỉ định.",
            f"Two orders in the same ATC level-4 class {klass}"
            + (" (the same drug)" if same else "")
            + ". Check the indication.",
        ),
        suggestions=_removals(x, y),
    )


def order_cards(hook: str, context: Mapping[str, Any], prefetch: Mapping[str, Any]) -> list[Card]:
    """The cards of an ``order-select`` or ``order-sign`` request (see the module docstring)."""
    orders = _orders(context, prefetch, hook)
    cards: list[Card] = []
    interactions = catalogue().interactions
    for n, x in enumerate(orders):
        for y in orders[n + 1 :]:
            if not (x.selected or y.selected) or not (x.draft or y.draft):
                continue
            if x.ref is not None and x.ref == y.ref:
                continue
            found = [
                i for i in interactions if x.drug.key != y.drug.key and i.matches(x.drug.atc, y.drug.atc)
            ]
            for i in found:
                cards.append(_interaction_card(x, y, i))
            duplicate = _duplicate_card(x, y)
            if duplicate is not None and not any(i.id == "nsaid-nsaid" for i in found):
                cards.append(duplicate)
    return cards
