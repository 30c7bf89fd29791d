"""Native (hand-written) versions of the datatype and DomainResource invariants, which run on nearly
every resource; the resource-specific ones are in :mod:`.resource_rules`.

Spec: https://hl7.org/fhir/R4/conformance-rules.html#constraints, the invariants of
https://hl7.org/fhir/R4/datatypes.html (per-1, qty-3, att-1, cpt-2, rng-2, rat-1, sqty-1, tim-*),
https://hl7.org/fhir/R4/domainresource.html (dom-3, dom-6) and https://hl7.org/fhir/R4/narrative.html
(txt-1, txt-2).

Each rule is keyed by the constraint key *and* the exact expression it implements (the same key can
carry other expressions in other resources, e.g. ``inv-1``), so a native version is only used where it
means the same thing; ``tests/fhir/validation`` checks every expression below still exists in the model.

A rule receives the node (the JSON object, or the primitive value for primitive elements) and the
validation context, and returns ``True`` when the invariant holds, ``False`` when it fails at the
node, or a path suffix (``".entry[2]"``, ``".contained[0]"``) that locates the fault more precisely.
Rules never raise on malformed input: the structural checks report that.

Semantics where FHIRPath would give an empty result (comparing ``2020`` with ``2020-03-01``, or
quantities in different units) are treated as satisfied, as the FHIRPath-evaluated invariants are.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from senhealth.fhir.model import get_model
from senhealth.fhir.validation.context import Ctx

__all__ = [
    "DATATYPE_RULES",
    "SKIPPED",
    "NativeRule",
    "choice_keys",
    "dicts",
    "has",
    "has_coding",
    "items",
]

NativeRule = Callable[[Any, Ctx], "bool | str"]

UCUM = "http://unitsofmeasure.org"
NUMBER = (int, float, Decimal)  # JSON numbers, parsed as floats or (parse_float=Decimal) decimals

# Invariants enforced elsewhere, structurally (same key and meaning), so never evaluated as rules:
# ele-1 (empty objects / id-only), ref-1 (local references, references.py), dom-2 / dom-4 / dom-5
# (contained resources, resources.py), ext-1 (checked in structure.py for every Extension).
SKIPPED = frozenset({"ele-1", "ref-1", "dom-2", "dom-4", "dom-5", "ext-1"})


def has(node: dict[str, Any], name: str) -> bool:
    """``name.exists()`` for a primitive or complex child (a primitive may be only ``_name``)."""
    return name in node or ("_" + name) in node


def items(value: Any) -> list[Any]:
    if type(value) is list:
        return value
    return [] if value is None else [value]


def dicts(value: Any) -> list[dict[str, Any]]:
    return [v for v in items(value) if type(v) is dict]


def has_coding(cc: Any, system: str, codes: tuple[str, ...]) -> bool:
    if type(cc) is not dict:
        return False
    return any(c.get("system") == system and c.get("code") in codes for c in dicts(cc.get("coding")))


def choice_keys(type_path: str, name: str) -> frozenset[str]:
    """The JSON names of the choice element ``name`` of ``type_path`` (``valueQuantity``, ``_valueString``...)."""
    el = get_model().child(type_path, name)
    names = [j for j, _t in el.json_names()] if el is not None else []
    return frozenset(names + ["_" + j for j in names])


# -- date comparison (FHIRPath semantics: unknown when equal up to the lesser precision) ---------


def _parse_instant(v: str) -> datetime | None:
    if len(v) <= 10 or "T" not in v:
        return None
    text = v[:-1] + "+00:00" if v.endswith("Z") else v
    dot = text.find(".")
    if dot != -1:  # Python accepts at most 6 fraction digits
        end = dot + 1
        while end < len(text) and text[end].isdigit():
            end += 1
        text = text[: min(end, dot + 7)] + text[end:]
    if ":60" in text[17:20]:
        text = text[:17] + "59" + text[19:]
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _le(a: Any, b: Any) -> bool | None:
    """``a <= b`` for two FHIR date/dateTime strings; None when unknown."""
    if type(a) is not str or type(b) is not str:
        return None
    ia, ib = _parse_instant(a), _parse_instant(b)
    if ia is not None and ib is not None:
        return ia <= ib
    da, db = a[:10], b[:10]
    n = min(len(da), len(db))
    if da[:n] != db[:n]:
        return da[:n] < db[:n]
    return None if len(da) != len(db) or ia is not None or ib is not None else True


def _value_of(q: Any) -> Any:
    return q.get("value") if type(q) is dict else None


# -- datatypes --------------------------------------------------------------------------------------


def per_1(node: Any, ctx: Ctx) -> bool:
    if type(node) is not dict:
        return True
    return _le(node.get("start"), node.get("end")) is not False


def qty_3(node: Any, ctx: Ctx) -> bool:
    return not has(node, "code") or has(node, "system")


def sqty_1(node: Any, ctx: Ctx) -> bool:
    return not has(node, "comparator")


def att_1(node: Any, ctx: Ctx) -> bool:
    return not has(node, "data") or has(node, "contentType")


def cpt_2(node: Any, ctx: Ctx) -> bool:
    return not has(node, "value") or has(node, "system")


def rng_2(node: Any, ctx: Ctx) -> bool:
    low, high = node.get("low"), node.get("high")
    lv, hv = _value_of(low), _value_of(high)
    if type(lv) not in NUMBER or type(hv) not in NUMBER:
        return True
    if (low.get("system"), low.get("code")) != (high.get("system"), high.get("code")):
        return True  # different units: FHIRPath cannot compare without conversion
    return bool(lv <= hv)


def rat_1(node: Any, ctx: Ctx) -> bool:
    num, den = has(node, "numerator"), has(node, "denominator")
    return (not num) == (not den) and (num or has(node, "extension"))


def age_1(node: Any, ctx: Ctx) -> bool:
    v = node.get("value")
    return (
        (has(node, "code") or not has(node, "value"))
        and (not has(node, "system") or node.get("system") == UCUM)
        and (type(v) not in NUMBER or v > 0)
    )


def drt_1(node: Any, ctx: Ctx) -> bool:
    return not has(node, "code") or (node.get("system") == UCUM and has(node, "value"))


def dis_1(node: Any, ctx: Ctx) -> bool:
    return (has(node, "code") or not has(node, "value")) and (
        not has(node, "system") or node.get("system") == UCUM
    )


def mqty_1(node: Any, ctx: Ctx) -> bool:
    return (has(node, "code") or not has(node, "value")) and (
        not has(node, "system") or node.get("system") == "urn:iso:std:iso:4217"
    )


def cnt_3(node: Any, ctx: Ctx) -> bool:
    v = node.get("value")
    return (
        (has(node, "code") or not has(node, "value"))
        and (not has(node, "system") or node.get("system") == UCUM)
        and (not has(node, "code") or node.get("code") == "1")
        and type(v) is not float  # written with a '.' or an exponent
        and (type(v) is not Decimal or "." not in str(v))
    )


# Timing.repeat
def tim_1(node: Any, ctx: Ctx) -> bool:
    return not has(node, "duration") or has(node, "durationUnit")


def tim_2(node: Any, ctx: Ctx) -> bool:
    return not has(node, "period") or has(node, "periodUnit")


def tim_4(node: Any, ctx: Ctx) -> bool:
    v = node.get("duration")
    return type(v) not in NUMBER or v >= 0


def tim_5(node: Any, ctx: Ctx) -> bool:
    v = node.get("period")
    return type(v) not in NUMBER or v >= 0


def tim_6(node: Any, ctx: Ctx) -> bool:
    return not has(node, "periodMax") or has(node, "period")


def tim_7(node: Any, ctx: Ctx) -> bool:
    return not has(node, "durationMax") or has(node, "duration")


def tim_8(node: Any, ctx: Ctx) -> bool:
    return not has(node, "countMax") or has(node, "count")


def tim_9(node: Any, ctx: Ctx) -> bool:
    if not has(node, "offset"):
        return True
    when = items(node.get("when"))
    return bool(when) and not any(w in ("C", "CM", "CD", "CV") for w in when)


def tim_10(node: Any, ctx: Ctx) -> bool:
    return not has(node, "timeOfDay") or not has(node, "when")


# Narrative.div
_FORBIDDEN_TAG = re.compile(
    r"<\s*(script|head|body|html|form|input|button|select|textarea|iframe|frame|frameset|object|embed"
    r"|applet|base|link|meta|style)\b",
    re.IGNORECASE,
)
# the definition of an event attribute or a javascript: URL; txt_1 searches the reversed forms below
_EVENT_ATTR = re.compile(r"""\son[a-z]+\s*=|javascript:""", re.IGNORECASE)
# The same two patterns reversed, searched in the reversed text: each then starts with a character that
# has no case ("=", ":"), which the regex engine finds with a fast scan instead of trying both
# alternatives at every position (a third of the time; the same matches).
_EVENT_ATTR_REVERSED = re.compile(r"=\s*[a-z]+no\s", re.IGNORECASE)
_JAVASCRIPT_REVERSED = re.compile(r":tpircsavaj", re.IGNORECASE)
_TAG = re.compile(r"<[^>]*>")


def txt_1(node: Any, ctx: Ctx) -> bool:
    if type(node) is not str:
        return True
    if _FORBIDDEN_TAG.search(node) is not None:
        return False
    backwards = node[::-1]
    return _EVENT_ATTR_REVERSED.search(backwards) is None and _JAVASCRIPT_REVERSED.search(backwards) is None


def txt_2(node: Any, ctx: Ctx) -> bool:
    if type(node) is not str or "<img" in node:
        return True
    return bool(_TAG.sub("", node).replace("&nbsp;", " ").strip())


# -- DomainResource ---------------------------------------------------------------------------------


def _local_refs(value: Any, out: set[str]) -> None:
    """Every string in ``value`` that starts with ``#`` (references, canonicals, uris)."""
    if type(value) is dict:
        for v in value.values():
            if type(v) is str:
                if v.startswith("#"):
                    out.add(v)
            elif type(v) in (dict, list):
                _local_refs(v, out)
    elif type(value) is list:
        for v in value:
            if type(v) is str:
                if v.startswith("#"):
                    out.add(v)
            elif type(v) in (dict, list):
                _local_refs(v, out)


def dom_3(node: Any, ctx: Ctx) -> bool | str:
    contained = node.get("contained")
    if type(contained) is not list:
        return True
    # the references checked so far under this root (all of them: invariants run after the children)
    refs = ctx.local_refs if ctx.root is node else set()
    scanned = False
    for i, item in enumerate(contained):
        if type(item) is not dict or type(item.get("id")) is not str:
            continue
        if "#" + item["id"] in refs:
            continue
        if not scanned:  # a canonical or uri may point at it too: look everywhere, once
            refs = set(refs)
            _local_refs(node, refs)
            scanned = True
            if "#" + item["id"] in refs:
                continue
        back: set[str] = set()
        _local_refs(item, back)
        if "#" not in back:
            return f".contained[{i}]"
    return True


def dom_6(node: Any, ctx: Ctx) -> bool:
    if ctx.resource is not ctx.root:
        return True  # a contained resource carries no narrative of its own
    text = node.get("text")
    return type(text) is dict and "div" in text


DATATYPE_RULES: dict[tuple[str, str], NativeRule] = {
    ("per-1", "start.hasValue().not() or end.hasValue().not() or (start <= end)"): per_1,
    ("qty-3", "code.empty() or system.exists()"): qty_3,
    ("sqty-1", "comparator.empty()"): sqty_1,
    ("att-1", "data.empty() or contentType.exists()"): att_1,
    ("cpt-2", "value.empty() or system.exists()"): cpt_2,
    ("rng-2", "low.empty() or high.empty() or (low <= high)"): rng_2,
    (
        "rat-1",
        "(numerator.empty() xor denominator.exists()) and (numerator.exists() or extension.exists())",
    ): rat_1,
    (
        "age-1",
        "(code.exists() or value.empty()) and (system.empty() or system = %ucum) and (value.empty() or "
        "value.hasValue().not() or value > 0)",
    ): age_1,
    ("drt-1", "code.exists() implies ((system = %ucum) and value.exists())"): drt_1,
    ("dis-1", "(code.exists() or value.empty()) and (system.empty() or system = %ucum)"): dis_1,
    (
        "mqty-1",
        "(code.exists() or value.empty()) and (system.empty() or system = 'urn:iso:std:iso:4217')",
    ): mqty_1,
    (
        "cnt-3",
        "(code.exists() or value.empty()) and (system.empty() or system = %ucum) and (code.empty() or "
        "code = '1') and (value.empty() or value.hasValue().not() or value.toString().contains('.').not())",
    ): cnt_3,
    ("tim-1", "duration.empty() or durationUnit.exists()"): tim_1,
    ("tim-2", "period.empty() or periodUnit.exists()"): tim_2,
    ("tim-4", "duration.exists() implies duration >= 0"): tim_4,
    ("tim-5", "period.exists() implies period >= 0"): tim_5,
    ("tim-6", "periodMax.empty() or period.exists()"): tim_6,
    ("tim-7", "durationMax.empty() or duration.exists()"): tim_7,
    ("tim-8", "countMax.empty() or count.exists()"): tim_8,
    (
        "tim-9",
        "offset.empty() or (when.exists() and when.select($this in ('C' | 'CM' | 'CD' | 'CV')).allFalse())",
    ): tim_9,
    ("tim-10", "timeOfDay.empty() or when.empty()"): tim_10,
    ("txt-1", "htmlChecks()"): txt_1,
    ("txt-2", "htmlChecks()"): txt_2,
    (
        "dom-3",
        "contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants().as(canonical) "
        "| %resource.descendants().as(uri) | %resource.descendants().as(url))) or descendants().where(reference "
        "= '#').exists() or descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) "
        "= '#').exists()).not()).trace('unmatched', id).empty()",
    ): dom_3,
    (
        "dom-3",
        "contained.where(((id.exists() and ('#'+id in (%resource.descendants().reference | "
        "%resource.descendants().as(canonical) | %resource.descendants().as(uri) | "
        "%resource.descendants().as(url)))) or descendants().where(reference = '#').exists() or "
        "descendants().where(as(canonical) = '#').exists() or descendants().where(as(uri) = '#').exists())"
        ".not()).trace('unmatched', id).empty()",
    ): dom_3,
    ("dom-6", "text.`div`.exists()"): dom_6,
}
