"""``CodeSystem/$subsumes``: does code A subsume code B in the code system's hierarchy?

Spec: https://hl7.org/fhir/R4/codesystem-operation-subsumes.html
(OperationDefinition http://hl7.org/fhir/OperationDefinition/CodeSystem-subsumes).

In: ``codeA`` and ``codeB`` with ``system`` (+ ``version``), or ``codingA`` and ``codingB`` (of one
system); at the instance level the code system is ``CodeSystem/[id]``. Out: ``outcome``:
``equivalent`` (the same concept), ``subsumes`` (A is an ancestor of B: ICD-10 chapter ``I`` subsumes
``A97.1``), ``subsumed-by`` or ``not-subsumed``. Errors: a missing code or system (400), codings of
two systems (400), an unknown code system (404 naming ``system``), a code not in it (400 naming
``codeA`` / ``codeB``).
"""

from __future__ import annotations

from senhealth.fhir.operations.registry import OperationCall, OperationError, OperationResult
from senhealth.fhir.terminology.codesystem_lookup import resolve_code_system
from senhealth.fhir.terminology.inputs import coding, on_date, text

__all__ = ["run_subsumes"]


async def run_subsumes(call: OperationCall) -> OperationResult:
    """``$subsumes`` (type or instance level)."""
    coding_a, coding_b = coding(call, "codingA"), coding(call, "codingB")
    code_a = text(call, "codeA") or (coding_a.code if coding_a else None)
    code_b = text(call, "codeB") or (coding_b.code if coding_b else None)
    if code_a is None or code_b is None:
        missing = "codeA" if code_a is None else "codeB"
        raise OperationError(
            400, f"Give both codes: {missing!r} (or codingA / codingB) is missing", "required", missing
        )
    systems = {c.system for c in (coding_a, coding_b) if c is not None and c.system}
    if len(systems) > 1:
        raise OperationError(400, "codingA and codingB are from different code systems", expression="codingB")
    system = text(call, "system") or (systems.pop() if systems else None)
    version = text(call, "version") or next(
        (c.version for c in (coding_a, coding_b) if c and c.version), None
    )
    cs = await resolve_code_system(call, system, version, on_date(call))
    for name, code in (("codeA", code_a), ("codeB", code_b)):
        if cs.find(code) is None:
            raise OperationError(400, f"{name}: the code {code!r} is not in {cs.url}", "code-invalid", name)
    outcome = cs.subsumes(code_a, code_b)
    return OperationResult(
        {"resourceType": "Parameters", "parameter": [{"name": "outcome", "valueCode": outcome}]}
    )
