"""Import a claim file (``GIAMDINHHS``) into FHIR resources: verify, validate, match, write at once.

Spec: FHIR transaction https://hl7.org/fhir/R4/http.html#transaction (all or nothing),
OperationOutcome https://hl7.org/fhir/R4/operationoutcome.html, the envelope and tables of the claim XML
(:mod:`senhealth.emr.claims.envelope`, :mod:`senhealth.emr.claims.validate`).

One file, one answer:

1. the envelope is read and its signature verified against the trust roots (:func:`verify_envelope`);
   an unsigned file is refused unless ``allow_unsigned``; the tables are then read from what was
   signed;
2. every table of every ``HOSO`` is validated field by field, and the file as a whole: exactly one XML1
   per ``HOSO``, one ``MA_LK`` throughout it, the envelope's facility the same as XML1's, the count of
   ``HOSO`` as declared. Any fault: an OperationOutcome with one issue per fault
   (``XML2[3].SO_LUONG``; ``HOSO[2].XML2[3].SO_LUONG`` when the file holds several visits), nothing
   written;
3. each visit's patient is found through the patient index's identifiers
   (:func:`senhealth.emr.claims.patient_match.match_patient`), else a new Patient is made;
4. every resource of the file goes into **one** transaction Bundle (:func:`senhealth.fhir.bundle.process_bundle`)
   of ``PUT``s with stable ids: the file is written whole or not at all, and the same file imported again
   writes the same resources (unchanged content makes no new version): nothing is duplicated.

The answer is the transaction-response Bundle, or the OperationOutcome.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from cryptography import x509

from senhealth.core.db import transaction
from senhealth.emr.claims import fhir_terms as t
from senhealth.emr.claims.envelope import (
    ROOT,
    CertificateCheck,
    EnvelopeError,
    SignatureRejected,
    Unsigned,
    read_envelope,
    signature_present,
    verify_envelope,
)
from senhealth.emr.claims.import_mapping import ImportContext, Record, patient_from_claim
from senhealth.emr.claims.import_records import claim_resources
from senhealth.emr.claims.patient_match import match_patient
from senhealth.emr.claims.tables import TABLE_NAMES, table
from senhealth.emr.claims.validate import FieldError, validate_table
from senhealth.emr.claims.xml_tables import XmlError, local_name, parse_xml, read_records, record_values
from senhealth.fhir.bundle import BundleError, EntryRequest, EntryResponse, process_bundle
from senhealth.fhir.search.execute import search
from senhealth.fhir.search.request import parse_search
from senhealth.fhir.store import FhirStore, StoreTx

__all__ = ["ImportResult", "Issue", "import_claim"]

_ISSUE_CODE: Final = {
    "required": "required",
    "type": "value",
    "length": "value",
    "format": "value",
    "pattern": "value",
    "code": "code-invalid",
    "icd10": "code-invalid",
    "unknown": "structure",
    "duplicate": "structure",
    "structure": "structure",
    "consistency": "business-rule",
    "security": "security",
    "envelope": "structure",
}


@dataclass(frozen=True, slots=True)
class Issue:
    """One reason a file was refused: where (``XML2[3].SO_LUONG``), a code, Vietnamese and English."""

    expression: str
    code: str
    message_vi: str
    message_en: str

    @property
    def message(self) -> str:
        return f"{self.expression}: {self.message_vi} / {self.message_en}"


@dataclass(slots=True)
class ImportResult:
    """What became of one file: accepted (the transaction-response Bundle) or refused (the reasons)."""

    accepted: bool
    status: int
    resource: dict[str, Any]  # transaction-response Bundle, or OperationOutcome
    issues: list[Issue] = field(default_factory=list)
    visits: list[str] = field(default_factory=list)  # MA_LK of each HOSO
    resources: int = 0  # resources in the transaction
    created: int = 0
    patients: list[str] = field(default_factory=list)  # "Patient/<id> (personal ID)" per visit


def _outcome(issues: Sequence[Issue]) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": _ISSUE_CODE.get(i.code, "invalid"),
                "details": {"text": i.message_vi},
                "diagnostics": f"{i.message_vi} / {i.message_en}",
                "expression": [i.expression],
            }
            for i in issues
        ],
    }


def _refused(status: int, issues: list[Issue]) -> ImportResult:
    return ImportResult(False, status, _outcome(issues), issues)


def _field_issue(error: FieldError, prefix: str) -> Issue:
    return Issue(prefix + error.expression, error.code, error.message_vi, error.message_en)


class _NoEntryExecutor:
    """The import's Bundle holds only plain ``PUT Type/id``: the store writes it in bulk, without an
    executor. Should one ever be asked for, the Bundle fails as a whole (nothing written)."""

    allows_bulk = True

    async def execute(self, tx: StoreTx, request: EntryRequest) -> EntryResponse:
        raise BundleError(
            400, f"Bundle.entry[{request.index}]: not a plain update", expression="Bundle.entry"
        )

    async def match(self, tx: StoreTx, res_type: str, query: str) -> list[str]:
        raise BundleError(400, "conditional references are not used by the claim import")


@dataclass(slots=True)
class _Visit:
    position: str  # "" or "HOSO[2]."
    tables: dict[str, list[Record]]

    @property
    def xml1(self) -> Record:
        return self.tables["XML1"][0]


def _read_visit(files: Sequence[Any], prefix: str) -> tuple[_Visit, list[Issue]]:
    issues: list[Issue] = []
    tables: dict[str, list[Record]] = {}
    for item in files:
        if item.kind not in TABLE_NAMES:
            issues.append(
                Issue(
                    f"{item.position}.LOAIHOSO",
                    "envelope",
                    f"loại hồ sơ {item.kind[:20]!r} không có (XML0 … XML15)",
                    f"unknown file type {item.kind[:20]!r} (XML0 … XML15)",
                )
            )
            continue
        if item.kind in tables:
            issues.append(
                Issue(
                    f"{item.position}.LOAIHOSO",
                    "structure",
                    f"bảng {item.kind} có hai lần trong một hồ sơ",
                    f"table {item.kind} appears twice in one HOSO",
                )
            )
            continue
        spec = table(item.kind)
        try:
            root = parse_xml(item.content)
        except XmlError as exc:
            issues.append(
                Issue(f"{prefix}{item.kind}", "structure", f"không phải XML hợp lệ: {exc}", str(exc))
            )
            continue
        errors = validate_table(item.kind, root)
        issues.extend(_field_issue(e, prefix) for e in errors)
        tables[item.kind] = [record_values(spec, r) for r in read_records(spec, root)]
    visit = _Visit(prefix, tables)
    if "XML1" not in tables:
        if not any(i.expression.startswith(f"{prefix}XML1") for i in issues):
            issues.append(
                Issue(
                    f"{prefix}XML1", "required", "hồ sơ phải có bảng XML1", "each HOSO needs its XML1 table"
                )
            )
        return visit, issues
    ma_lk = visit.xml1.get("MA_LK", "")
    for name, rows in tables.items():
        spec = table(name)
        if spec.field("MA_LK") is None:
            continue
        for n, row in enumerate(rows, 1):
            if row.get("MA_LK") and row["MA_LK"] != ma_lk:
                issues.append(
                    Issue(
                        f"{prefix}{name}[{n}].MA_LK",
                        "consistency",
                        f"MA_LK {row['MA_LK'][:40]!r} khác MA_LK của XML1 ({ma_lk[:40]!r})",
                        f"MA_LK {row['MA_LK'][:40]!r} differs from XML1's ({ma_lk[:40]!r})",
                    )
                )
    return visit, issues


async def _organization(store: FhirStore, conn: Any, param_ids: Any, code: str) -> dict[str, Any]:
    request = parse_search(
        "Organization",
        [("identifier", f"{t.FACILITY_SYSTEM}|{code}"), ("_count", "2")],
        base_urls=store.base_urls,
    )
    result = await search(conn, request, param_ids)
    if len(result.matches) == 1:
        return {"reference": f"Organization/{result.matches[0].res_id}"}
    return {"identifier": {"system": t.FACILITY_SYSTEM, "value": code}, "display": f"Cơ sở KBCB {code}"}


async def import_claim(
    store: FhirStore,
    data: bytes,
    *,
    trust_roots: Sequence[x509.Certificate] = (),
    allow_unsigned: bool = False,
    certificate_check: CertificateCheck | None = None,
    at: datetime | None = None,
    base_url: str = "",
) -> ImportResult:
    """Import one claim file; see the module docstring. Never raises for a bad file."""
    try:
        root = parse_xml(data)
    except XmlError as exc:
        return _refused(400, [Issue("GIAMDINHHS", "envelope", f"tệp không phải XML hợp lệ: {exc}", str(exc))])
    if local_name(root) != ROOT:
        name = local_name(root)[:40]
        return _refused(
            400,
            [
                Issue(
                    ROOT,
                    "envelope",
                    f"thẻ gốc phải là <{ROOT}>, không phải <{name}>",
                    f"the root element must be <{ROOT}>, not <{name}>",
                )
            ],
        )
    try:
        if signature_present(root):
            signed = verify_envelope(
                root, trust_roots=trust_roots, at=at, certificate_check=certificate_check
            ).signed_root
        elif allow_unsigned:
            signed = root
        else:
            raise Unsigned(
                "hồ sơ chưa được ký số (CHUKYDONVI trống)",
                "the file is not signed (empty CHUKYDONVI)",
                "CHUKYDONVI",
            )
        envelope = read_envelope(signed)
    except (Unsigned, SignatureRejected) as exc:
        return _refused(422, [Issue(exc.expression, "security", exc.message_vi, exc.message_en)])
    except EnvelopeError as exc:
        return _refused(400, [Issue(exc.expression, "envelope", exc.message_vi, exc.message_en)])
    issues: list[Issue] = []
    if not envelope.records:
        issues.append(
            Issue("THONGTINHOSO.DANHSACHHOSO", "required", "không có hồ sơ nào (HOSO)", "no HOSO in the file")
        )
    if envelope.declared_count != str(len(envelope.records)):
        issues.append(
            Issue(
                "THONGTINHOSO.SOLUONGHOSO",
                "consistency",
                f"SOLUONGHOSO = {envelope.declared_count[:10]!r} nhưng tệp có {len(envelope.records)} hồ sơ",
                f"SOLUONGHOSO is {envelope.declared_count[:10]!r} but the file holds {len(envelope.records)}",
            )
        )
    several = len(envelope.records) > 1
    visits: list[_Visit] = []
    for h, files in enumerate(envelope.records, 1):
        visit, found = _read_visit(files, f"HOSO[{h}]." if several else "")
        issues.extend(found)
        visits.append(visit)
    seen: set[str] = set()
    for visit in visits:
        if "XML1" not in visit.tables:
            continue
        xml1 = visit.xml1
        if envelope.facility and xml1.get("MA_CSKCB") and envelope.facility != xml1["MA_CSKCB"]:
            issues.append(
                Issue(
                    "THONGTINDONVI.MACSKCB",
                    "consistency",
                    f"MACSKCB {envelope.facility[:10]!r} khác MA_CSKCB của XML1 ({xml1['MA_CSKCB'][:10]!r})",
                    f"MACSKCB {envelope.facility[:10]!r} differs from XML1's MA_CSKCB ({xml1['MA_CSKCB'][:10]!r})",
                )
            )
        key = xml1.get("MA_LK", "")
        if key in seen:
            issues.append(
                Issue(
                    f"{visit.position}XML1[1].MA_LK",
                    "duplicate",
                    "MA_LK trùng trong tệp",
                    "MA_LK repeated in the file",
                )
            )
        seen.add(key)
    if issues:
        return _refused(422, issues)
    return await _write(store, visits, base_url)


async def _write(store: FhirStore, visits: list[_Visit], base_url: str) -> ImportResult:
    resources: list[dict[str, Any]] = []
    matches: list[str] = []
    async with transaction(store.pool) as conn:
        param_ids = await store.param_ids()
        organizations: dict[str, dict[str, Any]] = {}
        for visit in visits:
            xml1 = visit.xml1
            facility, ma_lk = xml1["MA_CSKCB"], xml1["MA_LK"]
            if facility not in organizations:
                organizations[facility] = await _organization(store, conn, param_ids, facility)
            patient_id, how = await match_patient(store, conn, param_ids, xml1)
            if patient_id is None:
                patient_id = t.resource_id(facility, "patient", xml1.get("MA_BN", "") or ma_lk)
                resources.append(patient_from_claim(xml1, patient_id))
                how = "new"
            matches.append(f"Patient/{patient_id} ({how})")
            ctx = ImportContext(facility, ma_lk, f"Patient/{patient_id}", organizations[facility])
            resources.extend(claim_resources(visit.tables, ctx))
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": r,
                "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"},
            }
            for r in resources
        ],
    }
    try:
        answer = await process_bundle(store, bundle, _NoEntryExecutor(), base=base_url, return_pref="minimal")
    except BundleError as exc:
        outcome = exc.outcome()
        issues = [
            Issue(
                ", ".join(i.get("expression") or ["Bundle"]),
                "consistency",
                "không ghi được hồ sơ vào kho dữ liệu",
                str(i.get("diagnostics") or exc.message),
            )
            for i in outcome.get("issue") or []
        ]
        return ImportResult(False, exc.status, outcome, issues)
    created = sum(1 for e in answer.get("entry") or [] if str(e["response"]["status"]).startswith("201"))
    return ImportResult(
        True,
        200,
        answer,
        visits=[v.xml1["MA_LK"] for v in visits],
        resources=len(resources),
        created=created,
        patients=matches,
    )
