"""``Encounter/[id]/$claim-xml`` and ``$import-claim-xml``: the claim XML over the FHIR API.

Spec: FHIR operations https://hl7.org/fhir/R4/operations.html; the claim file: docs/claims.md.

- ``GET [base]/Encounter/[id]/$claim-xml`` answers the signed ``GIAMDINHHS`` file of the Encounter
  (``application/xml``), signed with the key of the facility that provided it (the Organization of
  ``Encounter.serviceProvider``), read under the caller's access restriction. An Encounter that cannot be
  claimed yet answers an OperationOutcome: 422 with one issue per field that fails the tables' checks,
  409 when no signing key exists for the facility.
- ``POST [base]/$import-claim-xml`` takes one claim file as the body (``application/xml`` or
  ``text/xml``) and answers the transaction-response Bundle (200), or an OperationOutcome with one
  issue per fault (422; 400 for a body that is not a claim file at all). ``?allowUnsigned=true`` admits
  an unsigned file only where the server was registered with ``allow_unsigned=True``.

Register with :func:`register_claims_operations` (``senhealth/app.py``; tests in a fixture, then
:func:`unregister_claims_operations`). The facility's key comes from ``signing_key`` (a callable
``organization id -> SigningKey``), by default the PKI key store's
:func:`senhealth.emr.pki.keystore.signing_key`; the trust roots from ``trust_roots`` (a sequence, or a
callable), by default :func:`senhealth.emr.pki.installation.trust_roots` of the settings.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

from cryptography import x509

from senhealth.emr.claims import fhir_terms
from senhealth.emr.claims.envelope import (
    CertificateCheck,
    EnvelopeError,
    build_envelope,
    read_envelope,
    sign_envelope,
)
from senhealth.emr.claims.export import ClaimInvalid, claim_files, encounter_data
from senhealth.emr.claims.export_mapping import ExportError
from senhealth.emr.claims.importer import import_claim
from senhealth.emr.pki.errors import NoSigningKey, PkiError
from senhealth.emr.pki.keys import SigningKey
from senhealth.fhir.operations.registry import (
    Operation,
    OperationCall,
    OperationError,
    OperationResult,
    register,
    unregister,
)
from senhealth.fhir.store import NotFound

__all__ = [
    "CLAIM_XML",
    "IMPORT_CLAIM_XML",
    "KeyResolver",
    "register_claims_operations",
    "unregister_claims_operations",
]

KeyResolver = Callable[[str], SigningKey]
"""``organization id -> SigningKey`` of that facility (raises ``NoSigningKey`` when there is none)."""
TrustRoots = Sequence[x509.Certificate] | Callable[[], Sequence[x509.Certificate]]
XML_TYPES: Final = frozenset({"application/xml", "text/xml"})
CLAIM_XML: Final = "claim-xml"
IMPORT_CLAIM_XML: Final = "import-claim-xml"
_BASE = "https://senhealth.vn/fhir/OperationDefinition"


def _settings_key(organization: str) -> SigningKey:
    from senhealth.core.config import get_settings
    from senhealth.emr.pki.keystore import signing_key

    return signing_key(get_settings(), organization=organization)


def _settings_roots() -> Sequence[x509.Certificate]:
    from senhealth.core.config import get_settings
    from senhealth.emr.pki.installation import trust_roots

    return trust_roots(get_settings())


def _outcome_422(errors: Sequence[Any]) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "required" if e.code == "required" else "invalid",
                "details": {"text": e.message_vi},
                "diagnostics": f"{e.message_vi} / {e.message_en}",
                "expression": [e.expression],
            }
            for e in errors
        ],
    }


def _claim_xml(resolve_key: KeyResolver) -> Callable[[OperationCall], Any]:
    async def run(call: OperationCall) -> OperationResult:
        assert call.resource_id is not None
        try:
            data = await encounter_data(call.store, call.resource_id, restriction=call.restriction)
            facility, files = claim_files(data)
        except NotFound:
            raise OperationError(404, f"Encounter/{call.resource_id} is not known", "not-found") from None
        except ExportError as exc:
            raise OperationError(422, str(exc), "processing", exc.expression) from None
        except ClaimInvalid as exc:
            return OperationResult(_outcome_422(exc.errors), status=422)
        provider = str((data.encounter.get("serviceProvider") or {}).get("reference") or "")
        if not provider.startswith("Organization/"):
            raise OperationError(
                409,
                "Encounter.serviceProvider is not a stored Organization: no facility key to sign with / "
                "không có cơ sở KBCB để ký",
                "processing",
                "Encounter.serviceProvider",
            )
        try:
            key = resolve_key(provider.removeprefix("Organization/"))
        except NoSigningKey as exc:
            raise OperationError(409, exc.message, "processing", "Encounter.serviceProvider") from None
        except PkiError as exc:
            raise OperationError(409, exc.message, "processing") from None
        document = build_envelope(facility, [files])
        signed = sign_envelope(document, key)
        filename = f"claim-{data.encounter.get('id')}.xml"
        return OperationResult(
            None,
            content=signed,
            media_type="application/xml",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    return run


#: Staff roles that import their own facility's claim files (a facility's records, written in bulk).
IMPORTING_ROLES: Final = frozenset({"facility_admin", "doctor", "nurse"})


async def _may_import(call: OperationCall, data: bytes) -> None:
    """Who imports a claim file: an unrestricted caller (a system client, development without sign-in), or
    a facility administrator, doctor or nurse of the facility the file comes from (``MACSKCB``, the
    Organization with that facility code as identifier). ``$import-claim-xml`` authorises its writes
    itself (``Operation.authorizes_writes``): the file's resources are the facility's own records."""
    principal = call.principal
    if call.restriction is None or principal is None:
        return
    if not principal.roles & IMPORTING_ROLES:
        raise OperationError(
            403,
            "Vai trò của bạn không nhập hồ sơ XML / your role does not import claim files",
            "forbidden",
        )
    try:
        code = read_envelope(data).facility
    except EnvelopeError:
        return  # not an envelope: the import refuses it with the element at fault, writing nothing
    own = (principal.facility or "").removeprefix("Organization/")
    found = await _organizations_with_code(call, code)
    if not own or own not in found:
        raise OperationError(
            403,
            f"Chỉ nhân viên của cơ sở {code[:10]} mới nhập hồ sơ của cơ sở đó / only staff of facility "
            f"{code[:10]} import its claim files",
            "forbidden",
            "THONGTINDONVI.MACSKCB",
        )


async def _organizations_with_code(call: OperationCall, code: str) -> list[str]:
    from senhealth.fhir.search.execute import search
    from senhealth.fhir.search.request import parse_search

    request = parse_search(
        "Organization",
        [("identifier", f"{fhir_terms.FACILITY_SYSTEM}|{code}"), ("_count", "5")],
        base_urls=call.store.base_urls,
    )
    param_ids = await call.store.param_ids()
    async with call.store.pool.connection() as conn:
        result = await search(conn, request, param_ids)
    return [row.res_id for row in result.matches]


def _import(
    roots: TrustRoots, allow_unsigned: bool, certificate_check: CertificateCheck | None
) -> Callable[[OperationCall], Any]:
    async def run(call: OperationCall) -> OperationResult:
        if call.raw_body is None:
            raise OperationError(
                415,
                "post the claim file itself (Content-Type application/xml or text/xml) / "
                "gửi tệp XML hồ sơ (application/xml)",
                "not-supported",
            )
        unsigned = call.text("allowUnsigned")
        if unsigned not in (None, "true", "false"):
            raise OperationError(400, "allowUnsigned is true or false", expression="allowUnsigned")
        if unsigned == "true" and not allow_unsigned:
            raise OperationError(
                403,
                "this server does not accept unsigned claim files / máy chủ không nhận hồ sơ chưa ký số",
                "forbidden",
                "allowUnsigned",
            )
        await _may_import(call, call.raw_body)
        trusted = roots() if callable(roots) else roots
        result = await import_claim(
            call.store,
            call.raw_body,
            trust_roots=trusted,
            allow_unsigned=unsigned == "true",
            certificate_check=certificate_check,
            base_url=call.base_url,
        )
        return OperationResult(result.resource, status=result.status)

    return run


def register_claims_operations(
    *,
    signing_key: KeyResolver | None = None,
    trust_roots: TrustRoots | None = None,
    allow_unsigned: bool = False,
    certificate_check: CertificateCheck | None = None,
) -> None:
    """Register ``$claim-xml`` and ``$import-claim-xml`` (again: replaces them)."""
    register(
        Operation(
            name=CLAIM_XML,
            handler=_claim_xml(signing_key or _settings_key),
            levels=frozenset({"instance"}),
            resource_types=frozenset({"Encounter"}),
            definition=f"{_BASE}/Encounter-claim-xml",
            documentation=(
                "Hồ sơ XML giám định BHYT (GIAMDINHHS, ký số) của lượt khám / the signed insurance claim "
                "XML of the Encounter (Decisions 130/4750/3176)"
            ),
        ),
        replace=True,
    )
    register(
        Operation(
            name=IMPORT_CLAIM_XML,
            handler=_import(
                trust_roots if trust_roots is not None else _settings_roots, allow_unsigned, certificate_check
            ),
            levels=frozenset({"system"}),
            definition=f"{_BASE}/import-claim-xml",
            affects_state=True,
            authorizes_writes=True,
            raw_body_types=XML_TYPES,
            documentation=(
                "Nhập một tệp XML giám định BHYT (GIAMDINHHS) / import one signed insurance claim file: "
                "a transaction-response Bundle, or an OperationOutcome with one issue per field"
            ),
        ),
        replace=True,
    )


def unregister_claims_operations() -> None:
    unregister(CLAIM_XML)
    unregister(IMPORT_CLAIM_XML)
