"""``QuestionnaireResponse/$extract``: a check-up response's Observations and Conditions as a transaction.

Spec: SDC ``$extract`` https://hl7.org/fhir/uv/sdc/OperationDefinition-QuestionnaireResponse-extract.html
(``POST [base]/QuestionnaireResponse/$extract`` with the response in the body, as the
``questionnaire-response`` parameter or as the whole body; ``GET|POST [base]/QuestionnaireResponse/[id]/$extract``
on a stored response; the answer is a Bundle, here of type ``transaction``), transactions
https://hl7.org/fhir/R4/http.html#transaction, operations https://hl7.org/fhir/R4/operations.html.

The Bundle holds ``PUT`` entries with stable ids (:func:`~.extraction.extracted_id`), so sending it
(or extracting again) rewrites the same resources; a response given in the body is its first entry
(it gets an id when it has none). ``persist`` = true (the project's parameter) writes that Bundle
through the store in one transaction and answers the ``transaction-response``: the response and
everything extracted from it are stored together or not at all. A bad answer is 422 with an
OperationOutcome naming the item (``linkId``) and the answer's path; nothing is written.
"""

from __future__ import annotations

from typing import Any, Final

from senhealth.checkup.forms.extraction import ExtractionError, extract
from senhealth.checkup.forms.install import resolve_questionnaire
from senhealth.fhir.access import OPEN, access_policy
from senhealth.fhir.bundle import BundleError, EntryRequest, EntryResponse, process_bundle, status_of
from senhealth.fhir.operations.registry import (
    Operation,
    OperationCall,
    OperationError,
    OperationResult,
    register,
    unregister,
)
from senhealth.fhir.store import FhirStore, Gone, NotFound, StoreTx
from senhealth.fhir.store.meta import new_id
from senhealth.fhir.validation import validate

__all__ = ["EXTRACT", "extract_bundle", "register_forms_operations", "unregister_forms_operations"]

EXTRACT: Final = "http://hl7.org/fhir/uv/sdc/OperationDefinition/QuestionnaireResponse-extract"


class _PlainWrites:
    """The Bundle holds only plain ``PUT Type/id``: the store writes it in bulk; anything else fails it."""

    allows_bulk = True

    async def execute(self, tx: StoreTx, request: EntryRequest) -> EntryResponse:
        raise BundleError(
            400, f"Bundle.entry[{request.index}]: not a plain update", expression="Bundle.entry"
        )

    async def match(self, tx: StoreTx, res_type: str, query: str) -> list[str]:
        raise BundleError(400, "the extraction Bundle has no conditional references")


def _boolean(call: OperationCall, name: str) -> bool:
    value = call.first(name)
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise OperationError(400, f"Parameter {name!r} must be true or false", expression=name)


def _reference(response: dict[str, Any], name: str, rtype: str) -> str:
    ref = (response.get(name) or {}).get("reference") if isinstance(response.get(name), dict) else None
    if not isinstance(ref, str) or not ref.startswith(f"{rtype}/"):
        raise OperationError(
            422,
            f"The response must name its {rtype} (QuestionnaireResponse.{name}) to be extracted",
            "required",
            f"QuestionnaireResponse.{name}",
        )
    return ref


async def extract_bundle(
    store: FhirStore, response: dict[str, Any], *, base_url: str = "", include_response: bool = False
) -> dict[str, Any]:
    """The transaction Bundle of what ``response`` records (raises :class:`OperationError`)."""
    status = response.get("status")
    if status not in ("completed", "amended"):
        raise OperationError(
            422,
            f"Only a completed or amended response is extracted, not {str(status)[:30]!r}",
            "business-rule",
            "QuestionnaireResponse.status",
        )
    canonical = response.get("questionnaire")
    if not isinstance(canonical, str) or not canonical:
        raise OperationError(
            422, "The response names no questionnaire", "required", "QuestionnaireResponse.questionnaire"
        )
    questionnaire = await resolve_questionnaire(store, canonical)
    if questionnaire is None:
        raise OperationError(
            422,
            f"The questionnaire {canonical} is not known",
            "not-found",
            "QuestionnaireResponse.questionnaire",
        )
    patient = _reference(response, "subject", "Patient")
    encounter = _reference(response, "encounter", "Encounter")
    try:
        resources = extract(questionnaire, response, patient=patient, encounter=encounter)
    except ExtractionError as exc:
        message = f"linkId {exc.link_id}: {exc.message}" if exc.link_id else exc.message
        raise OperationError(422, message, "invalid", exc.expression) from None
    entries = [response] if include_response else []
    entries.extend(resources)
    for resource in entries:
        outcome = validate(resource)
        errors = [i for i in outcome["issue"] if i["severity"] in ("error", "fatal")]
        if errors:
            first = errors[0]
            raise OperationError(
                422,
                f"{resource['resourceType']}: {first.get('diagnostics')}",
                "invalid",
                (first.get("expression") or [None])[0],
            )
    base = base_url.rstrip("/")
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": f"{base}/{r['resourceType']}/{r['id']}"
                if base
                else f"{r['resourceType']}/{r['id']}",
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in entries
        ],
    }


def _check_writes(call: OperationCall, types: set[str]) -> None:
    policy = access_policy()
    for rtype in sorted(types):
        if policy is not OPEN and not policy.check(call.principal, "create", rtype):
            raise OperationError(403, f"Your role may not create {rtype}", "forbidden")
    if call.restriction is not None and call.restriction.deidentified:
        raise OperationError(
            403, "Extraction writes identified data: not for de-identified access", "forbidden"
        )


async def _extract(call: OperationCall) -> OperationResult:
    persist = _boolean(call, "persist")
    if call.level == "instance":
        assert call.resource_id is not None
        try:
            response = (await call.store.read("QuestionnaireResponse", call.resource_id)).content or {}
        except (NotFound, Gone):
            raise OperationError(
                404, f"QuestionnaireResponse/{call.resource_id} is not known", "not-found"
            ) from None
        include = False
    else:
        given = call.first("questionnaire-response") or call.first("resource")
        if not isinstance(given, dict) or given.get("resourceType") != "QuestionnaireResponse":
            raise OperationError(
                400,
                "Give the QuestionnaireResponse as the body or as the parameter 'questionnaire-response'",
                "required",
                "questionnaire-response",
            )
        response = dict(given)
        response.pop("meta", None)
        response.setdefault("id", new_id())
        include = True
    bundle = await extract_bundle(call.store, response, base_url=call.base_url, include_response=include)
    if not persist:
        return OperationResult(bundle)
    _check_writes(call, {e["resource"]["resourceType"] for e in bundle["entry"]})
    try:
        answer = await process_bundle(
            call.store, bundle, _PlainWrites(), base=call.base_url, return_pref="minimal"
        )
    except BundleError as exc:
        raise OperationError(exc.status, exc.message, "invalid", exc.expression) from None
    except Exception as exc:  # a store error or a write hook's refusal, with its status: nothing was kept
        status = status_of(exc)
        if status is None:
            raise
        raise OperationError(status, str(exc) or type(exc).__name__, "processing") from None
    return OperationResult(answer)


def register_forms_operations() -> None:
    """Register ``QuestionnaireResponse/$extract`` (type and instance level; replaces an earlier one)."""
    register(
        Operation(
            name="extract",
            handler=_extract,
            levels=frozenset({"type", "instance"}),
            definition=EXTRACT,
            resource_types=frozenset({"QuestionnaireResponse"}),
            documentation=(
                "SDC extraction of a check-up response into Observations and Conditions (a transaction "
                "Bundle); persist=true writes the response and them in one transaction."
            ),
        ),
        replace=True,
    )


def unregister_forms_operations() -> None:
    """Remove it (tests)."""
    unregister("extract")
