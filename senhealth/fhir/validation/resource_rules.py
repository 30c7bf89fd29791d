"""Native versions of the resource invariants met on most writes: Observation, Condition,
AllergyIntolerance, Patient, Organization, CarePlan, Goal, Immunization and Bundle.

Spec: the invariants listed on https://hl7.org/fhir/R4/observation.html#invs,
https://hl7.org/fhir/R4/condition.html#invs, https://hl7.org/fhir/R4/allergyintolerance.html#invs,
https://hl7.org/fhir/R4/patient.html#invs, https://hl7.org/fhir/R4/organization.html#invs and
https://hl7.org/fhir/R4/bundle.html#invs. Conventions as in :mod:`.invariant_rules` (keyed by key and
exact expression; ``True`` holds, ``False`` fails at the node, a string locates the fault below it).
"""

from __future__ import annotations

from typing import Any

from senhealth.fhir.validation.context import Ctx
from senhealth.fhir.validation.invariant_rules import NativeRule, choice_keys, dicts, has, has_coding

__all__ = ["RESOURCE_RULES"]

_OBS_VALUE = choice_keys("Observation", "value")
_CON_ABATEMENT = choice_keys("Condition", "abatement")
_PARAMETER_VALUE = choice_keys("Parameters.parameter", "value")


def obs_6(node: Any, ctx: Ctx) -> bool:
    return not has(node, "dataAbsentReason") or _OBS_VALUE.isdisjoint(node)


def _codings(cc: Any) -> list[dict[str, Any]]:
    return dicts(cc.get("coding")) if type(cc) is dict else []


def obs_7(node: Any, ctx: Ctx) -> bool:
    if "component" not in node or _OBS_VALUE.isdisjoint(node):
        return True
    own = _codings(node.get("code"))
    return not any(c in own for comp in dicts(node.get("component")) for c in _codings(comp.get("code")))


def obs_3(node: Any, ctx: Ctx) -> bool:
    return "low" in node or "high" in node or has(node, "text")


def org_2_3(node: Any, ctx: Ctx) -> bool:
    # Organization.address / Organization.telecom: where(use = 'home').empty(), on each item
    return node.get("use") != "home"


def cpl_3(node: Any, ctx: Ctx) -> bool:
    return "detail" not in node or "reference" not in node


def gol_1(node: Any, ctx: Ctx) -> bool:
    return "detail" not in node or "measure" in node


def con_1(node: Any, ctx: Ctx) -> bool:
    return "summary" in node or "assessment" in node


def con_2(node: Any, ctx: Ctx) -> bool:
    return "code" in node or "detail" in node


def imm_1(node: Any, ctx: Ctx) -> bool:
    return has(node, "documentType") or has(node, "reference")


def inv_1_parameters(node: Any, ctx: Ctx) -> bool:
    part, resource = "part" in node, "resource" in node
    value = not _PARAMETER_VALUE.isdisjoint(node)
    return (part and not value and not resource) or (not part and value != resource)


def pat_1(node: Any, ctx: Ctx) -> bool:
    return any(k in node for k in ("name", "telecom", "address", "organization"))


def org_1(node: Any, ctx: Ctx) -> bool:
    return "identifier" in node or has(node, "name")


_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
_CON_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
_AIT_VER = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
_EIE = ("entered-in-error",)


def con_3(node: Any, ctx: Ctx) -> bool:
    # category.select($this = 'problem-list-item') compares a CodeableConcept with a string: false,
    # so the rule reduces to "with a category, clinicalStatus or entered-in-error"
    return (
        "clinicalStatus" in node
        or has_coding(node.get("verificationStatus"), _CON_VER, _EIE)
        or "category" not in node
    )


def con_4(node: Any, ctx: Ctx) -> bool:
    return _CON_ABATEMENT.isdisjoint(node) or has_coding(
        node.get("clinicalStatus"), _CLINICAL, ("resolved", "remission", "inactive")
    )


def con_5(node: Any, ctx: Ctx) -> bool:
    return not has_coding(node.get("verificationStatus"), _CON_VER, _EIE) or "clinicalStatus" not in node


def ait_1(node: Any, ctx: Ctx) -> bool:
    return has_coding(node.get("verificationStatus"), _AIT_VER, _EIE) or "clinicalStatus" in node


def ait_2(node: Any, ctx: Ctx) -> bool:
    return not has_coding(node.get("verificationStatus"), _AIT_VER, _EIE) or "clinicalStatus" not in node


# -- Bundle -----------------------------------------------------------------------------------------


def _entries(node: dict[str, Any]) -> list[dict[str, Any]]:
    return dicts(node.get("entry"))


def bdl_1(node: Any, ctx: Ctx) -> bool:
    return not has(node, "total") or node.get("type") in ("searchset", "history")


def bdl_2(node: Any, ctx: Ctx) -> bool | str:
    if node.get("type") == "searchset":
        return True
    for i, e in enumerate(_entries(node)):
        if "search" in e:
            return f".entry[{i}].search"
    return True


def bdl_3(node: Any, ctx: Ctx) -> bool | str:
    want = node.get("type") in ("batch", "transaction", "history")
    for i, e in enumerate(_entries(node)):
        if ("request" in e) != want:
            return f".entry[{i}]"
    return True


def bdl_4(node: Any, ctx: Ctx) -> bool | str:
    want = node.get("type") in ("batch-response", "transaction-response", "history")
    for i, e in enumerate(_entries(node)):
        if ("response" in e) != want:
            return f".entry[{i}]"
    return True


def bdl_7(node: Any, ctx: Ctx) -> bool | str:
    if node.get("type") == "history":
        return True
    seen: set[tuple[Any, Any]] = set()
    for i, e in enumerate(_entries(node)):
        url = e.get("fullUrl")
        if url is None:
            continue
        res = e.get("resource")
        meta = res.get("meta") if type(res) is dict else None
        key = (url, meta.get("versionId") if type(meta) is dict else None)
        if key in seen:
            return f".entry[{i}].fullUrl"
        seen.add(key)
    return True


def bdl_9(node: Any, ctx: Ctx) -> bool:
    if node.get("type") != "document":
        return True
    ident = node.get("identifier")
    return type(ident) is dict and has(ident, "system") and has(ident, "value")


def bdl_10(node: Any, ctx: Ctx) -> bool:
    return node.get("type") != "document" or "timestamp" in node


def _first_type(node: dict[str, Any]) -> Any:
    entries = _entries(node)
    res = entries[0].get("resource") if entries else None
    return res.get("resourceType") if type(res) is dict else None


def bdl_11(node: Any, ctx: Ctx) -> bool:
    return node.get("type") != "document" or _first_type(node) == "Composition"


def bdl_12(node: Any, ctx: Ctx) -> bool:
    return node.get("type") != "message" or _first_type(node) == "MessageHeader"


def bdl_5(node: Any, ctx: Ctx) -> bool:
    return "resource" in node or "request" in node or "response" in node


def bdl_8(node: Any, ctx: Ctx) -> bool:
    url = node.get("fullUrl")
    return type(url) is not str or "/_history/" not in url


# (key, exact expression) -> rule
RESOURCE_RULES: dict[tuple[str, str], NativeRule] = {
    ("obs-6", "dataAbsentReason.empty() or value.empty()"): obs_6,
    (
        "obs-7",
        "value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()",
    ): obs_7,
    ("pat-1", "name.exists() or telecom.exists() or address.exists() or organization.exists()"): pat_1,
    ("org-1", "(identifier.count() + name.count()) > 0"): org_1,
    (
        "inv-1",
        "(part.exists() and value.empty() and resource.empty()) or (part.empty() and (value.exists() xor "
        "resource.exists()))",
    ): inv_1_parameters,
    ("org-2", "where(use = 'home').empty()"): org_2_3,
    ("org-3", "where(use = 'home').empty()"): org_2_3,
    ("obs-3", "low.exists() or high.exists() or text.exists()"): obs_3,
    ("cpl-3", "detail.empty() or reference.empty()"): cpl_3,
    ("gol-1", "(detail.exists() and measure.exists()) or detail.exists().not()"): gol_1,
    ("con-1", "summary.exists() or assessment.exists()"): con_1,
    ("con-2", "code.exists() or detail.exists()"): con_2,
    ("imm-1", "documentType.exists() or reference.exists()"): imm_1,
    (
        "con-3",
        "clinicalStatus.exists() or verificationStatus.coding.where(system='http://terminology.hl7.org/"
        "CodeSystem/condition-ver-status' and code = 'entered-in-error').exists() or "
        "category.select($this='problem-list-item').empty()",
    ): con_3,
    (
        "con-4",
        "abatement.empty() or clinicalStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/"
        "condition-clinical' and (code='resolved' or code='remission' or code='inactive')).exists()",
    ): con_4,
    (
        "con-5",
        "verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-ver-status' "
        "and code='entered-in-error').empty() or clinicalStatus.empty()",
    ): con_5,
    (
        "ait-1",
        "verificationStatus.coding.where(system = 'http://terminology.hl7.org/CodeSystem/"
        "allergyintolerance-verification' and code = 'entered-in-error').exists() or clinicalStatus.exists()",
    ): ait_1,
    (
        "ait-2",
        "verificationStatus.coding.where(system = 'http://terminology.hl7.org/CodeSystem/"
        "allergyintolerance-verification' and code = 'entered-in-error').empty() or clinicalStatus.empty()",
    ): ait_2,
    ("bdl-1", "total.empty() or (type = 'searchset') or (type = 'history')"): bdl_1,
    ("bdl-2", "entry.search.empty() or (type = 'searchset')"): bdl_2,
    (
        "bdl-3",
        "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or "
        "%resource.type = 'history'))",
    ): bdl_3,
    (
        "bdl-4",
        "entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = "
        "'transaction-response' or %resource.type = 'history'))",
    ): bdl_4,
    (
        "bdl-7",
        "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId)"
        ".isDistinct()",
    ): bdl_7,
    (
        "bdl-9",
        "type = 'document' implies (identifier.system.exists() and identifier.value.exists())",
    ): bdl_9,
    ("bdl-10", "type = 'document' implies (timestamp.hasValue())"): bdl_10,
    ("bdl-11", "type = 'document' implies entry.first().resource.is(Composition)"): bdl_11,
    ("bdl-12", "type = 'message' implies entry.first().resource.is(MessageHeader)"): bdl_12,
    ("bdl-5", "resource.exists() or request.exists() or response.exists()"): bdl_5,
    ("bdl-8", "fullUrl.exists() implies fullUrl.contains('/_history/').not()"): bdl_8,
}
