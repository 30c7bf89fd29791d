"""Importing claim files: every file accepted whole or refused with its field-level reason, nothing
half-written; the same file twice writes nothing new; patients found again through the patient index.

Spec: FHIR transaction (https://hl7.org/fhir/R4/http.html#transaction), the claim tables (Decisions
130/4750/3176), docs/claims.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from claims_support import by_identifier, counts, make_claims_pki, other_pki, run_with_store

from senhealth.core.migrate import migrate
from senhealth.emr.claims import fhir_terms as t
from senhealth.emr.claims.envelope import build_envelope, sign_envelope
from senhealth.emr.claims.importer import import_claim
from senhealth.emr.claims.synthetic import DEFECTS, SyntheticClaim, generate_claims
from senhealth.emr.claims.xml_tables import write_table
from senhealth.fhir.store import FhirStore

PKI = make_claims_pki()
KEY = PKI.facility("01001")
FILES = list(generate_claims(50, seed=11, key=KEY, broken=0.3))


@pytest.fixture
def url(schema_url: str) -> str:
    migrate(schema_url)
    return schema_url


def test_the_generated_files_cover_every_defect_and_kind_of_visit() -> None:
    defects = {c.defect for c in FILES if c.defect}
    assert len(defects) >= 6, defects
    assert defects <= set(DEFECTS)
    tables = {name for c in FILES if c.defect is None for name in c.tables if c.tables[name]}
    assert {"XML0", "XML1", "XML2", "XML3", "XML4", "XML5", "XML7", "XML8", "XML14"} <= tables
    people = [c.tables["XML1"][0]["SO_CCCD"] for c in FILES]
    assert len(set(people)) < len(people)  # some patients come back


def test_each_file_is_written_whole_or_refused_with_its_reason(url: str) -> None:
    async def body(store: FhirStore) -> None:
        accepted: list[SyntheticClaim] = []
        for claim in FILES:
            before = await counts(store)
            result = await import_claim(store, claim.data, trust_roots=PKI.trust_roots)
            after = await counts(store)
            if claim.defect is None:
                assert result.accepted, (claim.name, [i.message for i in result.issues])
                assert result.status == 200 and result.resource["type"] == "transaction-response"
                assert len(result.resource["entry"]) == result.resources
                assert after[0] - before[0] == result.created > 0
                accepted.append(claim)
            else:
                assert not result.accepted, claim.defect
                assert result.status == 422
                assert [i.expression for i in result.issues] == list(claim.expected), claim.defect
                issue = result.resource["issue"][0]
                assert issue["expression"] == list(claim.expected)
                assert " / " in issue["diagnostics"] and issue["details"]["text"]
                assert after == before, f"{claim.defect}: something was written"
        encounters = 0
        for claim in accepted:
            found = await by_identifier(store, "Encounter", f"{t.MA_LK_PREFIX}01001", claim.ma_lk)
            encounters += len(found)
        assert encounters == len(accepted)
        people = {c.tables["XML1"][0]["SO_CCCD"] for c in accepted}
        patients = {
            p["id"] for cccd in people for p in await by_identifier(store, "Patient", t.CCCD_SYSTEM, cccd)
        }
        assert len(patients) == len(people)  # a returning patient is found again, never duplicated

    run_with_store(url, body)


def test_the_same_file_twice_writes_nothing_new(url: str) -> None:
    claim = next(c for c in FILES if c.defect is None)

    async def body(store: FhirStore) -> None:
        first = await import_claim(store, claim.data, trust_roots=PKI.trust_roots)
        assert first.accepted and first.created == first.resources
        before = await counts(store)
        second = await import_claim(store, claim.data, trust_roots=PKI.trust_roots)
        assert second.accepted and second.created == 0
        assert first.patients[0].endswith("(new)") and second.patients[0].endswith("(personal ID)")
        assert first.patients[0].split()[0] == second.patients[0].split()[0]
        assert second.resources == first.resources - 1  # the Patient is found, not written again
        assert await counts(store) == before  # no new resource and no new version
        again = {e["response"]["location"] for e in second.resource["entry"]}
        assert again < {e["response"]["location"] for e in first.resource["entry"]}  # same ids, same versions

    run_with_store(url, body)


def test_unsigned_and_untrusted_files(url: str) -> None:
    claim = next(c for c in FILES if c.defect is None)
    visit = [(name, write_table(name, rows)) for name, rows in claim.tables.items() if rows]
    unsigned = build_envelope("01001", [visit])
    stranger = sign_envelope(unsigned, other_pki().facility("01001", key_no=6))
    expired = sign_envelope(
        unsigned, PKI.facility("01001", start=datetime.now(UTC) - timedelta(days=30), days=2, key_no=7)
    )

    async def body(store: FhirStore) -> None:
        before = await counts(store)
        refused = await import_claim(store, unsigned, trust_roots=PKI.trust_roots)
        assert not refused.accepted and refused.status == 422
        assert [i.expression for i in refused.issues] == ["CHUKYDONVI"]
        assert refused.resource["issue"][0]["code"] == "security"
        for data in (stranger, expired):
            result = await import_claim(store, data, trust_roots=PKI.trust_roots)
            assert not result.accepted and [i.code for i in result.issues] == ["security"]
            assert "not trusted" in result.issues[0].message_en
        assert await counts(store) == before
        allowed = await import_claim(store, unsigned, trust_roots=PKI.trust_roots, allow_unsigned=True)
        assert allowed.accepted

    run_with_store(url, body)


def test_file_level_faults(url: str) -> None:
    good = [c for c in FILES if c.defect is None]
    first = [(n, write_table(n, r)) for n, r in good[0].tables.items() if r]
    second = [(n, write_table(n, r)) for n, r in good[1].tables.items() if r]
    broken_second = dict(good[1].tables)
    broken_second["XML1"] = [{**good[1].tables["XML1"][0], "GIOI_TINH": "9"}]
    bad_second = [(n, write_table(n, r)) for n, r in broken_second.items() if r]

    def signed(records: list[list[tuple[str, bytes]]], facility: str = "01001") -> bytes:
        return sign_envelope(build_envelope(facility, records), KEY)

    async def body(store: FhirStore) -> None:
        before = await counts(store)
        cases = {
            "no XML1": (signed([[f for f in first if f[0] != "XML1"]]), ["XML1"]),
            "other facility": (signed([first], "01009"), ["THONGTINDONVI.MACSKCB"]),
            "unknown table": (
                signed([[*first, ("XML99", b"<X/>")]]),
                [f"HOSO[1].FILEHOSO[{len(first) + 1}].LOAIHOSO"],
            ),
            "two visits, one bad": (signed([first, bad_second]), ["HOSO[2].XML1[1].GIOI_TINH"]),
            "same visit twice": (signed([first, first]), ["HOSO[2].XML1[1].MA_LK"]),
        }
        for name, (data, expected) in cases.items():
            result = await import_claim(store, data, trust_roots=PKI.trust_roots)
            assert not result.accepted, name
            assert [i.expression for i in result.issues] == expected, name
        miscounted = signed([first]).replace(b"<SOLUONGHOSO>1</SOLUONGHOSO>", b"<SOLUONGHOSO>2</SOLUONGHOSO>")
        result = await import_claim(store, miscounted, trust_roots=PKI.trust_roots)
        assert [i.code for i in result.issues] == ["security"]  # a changed byte: the signature breaks first
        for junk in (b"not xml", b'<!DOCTYPE x [<!ENTITY a "b">]><GIAMDINHHS/>', b"<OTHER/>"):
            result = await import_claim(store, junk, trust_roots=PKI.trust_roots)
            assert not result.accepted and result.status == 400
        assert await counts(store) == before
        both = await import_claim(store, signed([first, second]), trust_roots=PKI.trust_roots)
        assert both.accepted and both.visits == [good[0].ma_lk, good[1].ma_lk]

    run_with_store(url, body)
