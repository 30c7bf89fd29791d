"""Legal holds, the purge and the retention report on a real store with signed documents.

Spec: Circular 33/2025 (vietnam.md §2, unverified) for the periods; the purge refuses anything under
retention, kept permanently or on hold, even when asked for by id; what it destroys leaves no content
in the store's history and one audit event per document; BALP for the audit event.
"""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, date, datetime
from typing import Any

import pytest
from emr_pki_support import TestPki
from printing_support import FACILITY, PATIENT, run_store, seed, sign

from senhealth.core import db
from senhealth.core.queue import enqueue, get_job
from senhealth.emr.printing.copy_verification import verify_copy
from senhealth.emr.printing.print_log import PrintRecord, record_print
from senhealth.emr.retention.hold import HoldError, list_holds, place_hold, release_hold
from senhealth.emr.retention.purge import PurgeError, purge
from senhealth.emr.retention.report import format_report, retention_report
from senhealth.emr.retention.rules import RETENTION_TAG_SYSTEM
from senhealth.emr.retention.scan import retention_status
from senhealth.emr.signatures import pki_services
from senhealth.emr.signatures.records import signed_records
from senhealth.fhir import access
from senhealth.fhir.access import Principal
from senhealth.fhir.store import FhirStore, Gone

AS_OF = date(2026, 3, 1)
ADMIN = Principal(kind="user", subject="qt.bv", roles=frozenset({"facility_admin"}))
TAG = {"meta": {"tag": [{"system": RETENTION_TAG_SYSTEM, "code": "medical-incident"}]}}

# id: (episode end, extra conditions, discharge disposition, Composition extras)
DOCUMENTS: dict[str, tuple[str, tuple[tuple[str, str], ...], str | None, dict[str, Any]]] = {
    "due": ("2015-06-03T10:30:00+07:00", (), None, {}),  # 10 years: destroyable from 2026-01-01
    "new-year": ("2015-12-31T23:30:00+07:00", (), None, {}),  # still 2015 in Vietnam: due as well
    "recent": ("2016-01-01T00:30:00+07:00", (), None, {}),  # 2015-12-31 UTC, 2016 in Vietnam: 2027
    "psych": ("2015-06-03T10:30:00+07:00", (("F20.0", "Tâm thần phân liệt"),), None, {}),  # 20 years
    "death": ("2015-06-03T10:30:00+07:00", (), "exp", {}),  # 30 years
    "incident": ("2015-06-03T10:30:00+07:00", (), None, TAG),  # permanent
    "held": ("2015-06-03T10:30:00+07:00", (), None, {}),  # due, but its encounter is on hold
}


def _seed_all(settings: Any, pki: TestPki) -> Any:
    author = pki.issue_user("bs.lan", "BS. Lê Văn Lân")

    async def scenario(store: FhirStore) -> None:
        for cid, (end, conditions, disposition, extra) in DOCUMENTS.items():
            await seed(store, cid, encounter_id=f"enc-{cid}", encounter_end=end, extra_conditions=conditions,
                       disposition=disposition, **extra)  # fmt: skip
        for cid in ("due", "held"):
            await sign(store, settings, cid, author=author)
        async with store.pool.connection() as conn, conn.transaction():
            await place_hold(
                conn, "Encounter/enc-held", reason="Khiếu nại của người bệnh số 12/2026", by="qt.bv"
            )
            await record_print(
                conn,
                PrintRecord(code="7KQ2M9XD4TAR", composition="due", version=1, doc_type="discharge-paper",
                            title="Giấy ra viện", document_date=datetime(2015, 6, 3, tzinfo=UTC),
                            facility=f"Organization/{FACILITY}", facility_name="Bệnh viện Đa khoa tỉnh Quảng Ninh",
                            patient=PATIENT, patient_initials="N.T.H.Đ.", birth_year=1985,
                            printed_at=datetime(2016, 1, 5, tzinfo=UTC), printed_by="dd.mai",
                            printed_by_name="ĐD. Trần Thị Mai", printed_role="nurse",
                            pdf_sha256=hashlib.sha256(b"pdf").digest(), pdf_pages=1),
                principal=None,
            )  # fmt: skip

    run_store(settings.database_url, scenario)


async def _sql(store: FhirStore, query: str, *params: Any) -> list[tuple[Any, ...]]:
    async with store.pool.connection() as conn:
        return await (await conn.execute(query, params)).fetchall()


def test_statuses(settings: Any, pki: TestPki) -> None:
    _seed_all(settings, pki)

    async def scenario(store: FhirStore) -> dict[str, tuple[str, str | None, date | None]]:
        out: dict[str, tuple[str, str | None, date | None]] = {}
        for cid in DOCUMENTS:
            s = await retention_status(store, cid)
            assert s is not None and s.facility == f"Organization/{FACILITY}" and s.patient == PATIENT
            rule = s.classification.rule.key if s.classification else None
            out[cid] = (s.decision(AS_OF), rule, s.purgeable_from)
        return out

    assert run_store(settings.database_url, scenario) == {
        "due": ("purgeable", "medical-record", date(2026, 1, 1)),
        "new-year": ("purgeable", "medical-record", date(2026, 1, 1)),
        "recent": ("under-retention", "medical-record", date(2027, 1, 1)),
        "psych": ("under-retention", "psychiatric", date(2036, 1, 1)),
        "death": ("under-retention", "death", date(2046, 1, 1)),
        "incident": ("permanent", "medical-incident", None),
        "held": ("legal-hold", "medical-record", date(2026, 1, 1)),
    }


def test_purge_refuses_what_it_may_not_destroy_and_destroys_the_rest(settings: Any, pki: TestPki) -> None:
    _seed_all(settings, pki)
    from senhealth.security.audit import PostgresAuditSink

    async def scenario(store: FhirStore) -> None:
        # no audit sink: refused before anything happens; a reason is required
        with pytest.raises(PurgeError, match="audit"):
            await purge(store, ["due"], as_of=AS_OF, reason="QĐ 15/QĐ-BV")
        access.install(sink=PostgresAuditSink())
        with pytest.raises(PurgeError, match="reason"):
            await purge(store, ["due"], as_of=AS_OF, reason=" ")
        bundles = [b.res_id for b in (await signed_records(store, "due")).bundles]
        assert bundles

        # dry run: nothing destroyed
        dry = await purge(
            store, list(DOCUMENTS), as_of=AS_OF, reason="QĐ 15/QĐ-BV", dry_run=True, principal=ADMIN
        )
        assert sorted(p.composition for p in dry.purged) == ["due", "new-year"]
        assert (await store.read("Composition", "due")).content is not None

        # asked for every document by id: only the two due are destroyed, the rest refused with the reason
        report = await purge(
            store, [*DOCUMENTS, "no-such"], as_of=AS_OF, reason="QĐ 15/QĐ-BV", principal=ADMIN
        )
        assert sorted(p.composition for p in report.purged) == ["due", "new-year"]
        refused = {r.composition: r.decision for r in report.refused}
        assert refused == {"recent": "under-retention", "psych": "under-retention", "death": "under-retention",
                           "incident": "permanent", "held": "legal-hold", "no-such": "not-found"}  # fmt: skip
        recent = next(r for r in report.refused if r.composition == "recent")
        assert (
            recent.until == date(2027, 1, 1)
            and "2027-01-01" in recent.reason
            and "lưu trữ" in recent.reason_vi
        )
        held = next(r for r in report.refused if r.composition == "held")
        assert "Khiếu nại" in held.reason
        for cid in ("recent", "psych", "death", "incident", "held"):
            assert (await store.read("Composition", cid)).content is not None

        # destroyed: the Composition, its signed Bundle and its signature Provenances, with their history
        due = next(p for p in report.purged if p.composition == "due")
        assert {r.split("/")[0] for r in due.resources} == {"Composition", "Bundle", "Provenance"}
        for ref in due.resources:
            rtype, rid = ref.split("/")
            with pytest.raises(Gone):
                await store.read(rtype, rid)
            history = await _sql(store, "SELECT deleted, content IS NULL FROM fhir_history WHERE res_type = %s "
                                        "AND res_id = %s", rtype, rid)  # fmt: skip
            assert history == [(True, True)], ref  # only the delete tombstone, no content left
        # the clinical resources of the episode stay (other documents may use them)
        assert (await store.read("Encounter", "enc-due")).content is not None
        # one audit event per document destroyed, with the patient and what was destroyed
        audit = await _sql(store, "SELECT res_id, action, patients, principal_subject, details->>'rule', "
                                  "details->'resources' FROM audit_event WHERE query = 'retention-purge' ORDER BY res_id")  # fmt: skip
        assert [(a[0], a[1], a[2], a[3], a[4]) for a in audit] == [
            ("due", "delete", [PATIENT], "qt.bv", "medical-record"),
            ("new-year", "delete", [PATIENT], "qt.bv", "medical-record"),
        ]
        assert sorted(audit[0][5]) == sorted(due.resources)
        # the printed copy of a destroyed document verifies as destroyed, not unknown
        copy = await verify_copy(store, "7KQ2-M9XD-4TAR", services=pki_services(settings))
        assert (
            copy is not None and copy.state == "purged" and copy.purged_at is not None and not copy.signatures
        )

        # a second run finds nothing more due; releasing the hold makes the held document destroyable
        again = await purge(store, as_of=AS_OF, reason="QĐ 15/QĐ-BV", principal=ADMIN)
        assert again.purged == [] and again.refused == []
        async with store.pool.connection() as conn, conn.transaction():
            [hold] = await list_holds(conn, target="Encounter/enc-held")
            with pytest.raises(HoldError):
                await release_hold(conn, hold.id, reason="", by="qt.bv")
            released = await release_hold(conn, hold.id, reason="Đã giải quyết khiếu nại", by="qt.bv")
            assert not released.active and released.release_reason == "Đã giải quyết khiếu nại"
            assert await list_holds(conn, target="Encounter/enc-held") == []
            assert len(await list_holds(conn, target="Encounter/enc-held", include_released=True)) == 1
            with pytest.raises(HoldError):
                await release_hold(conn, hold.id, reason="again", by="qt.bv")
        final = await purge(store, as_of=AS_OF, reason="QĐ 16/QĐ-BV", principal=ADMIN)
        assert [p.composition for p in final.purged] == ["held"]

    run_store(settings.database_url, scenario)


def test_holds_on_a_patient_and_bad_holds(settings: Any, pki: TestPki) -> None:
    _seed_all(settings, pki)
    from senhealth.security.audit import PostgresAuditSink

    async def scenario(store: FhirStore) -> None:
        async with store.pool.connection() as conn, conn.transaction():
            for target, reason, by in (("Observation/x", "r", "a"), ("Patient/", "r", "a"), ("Patient/p", " ", "a"),
                                       ("Patient/p", "r", ""), ("Composition/x'; drop table x", "r", "a")):  # fmt: skip
                with pytest.raises(HoldError):
                    await place_hold(conn, target, reason=reason, by=by)
        async with store.pool.connection() as conn, conn.transaction():
            await place_hold(conn, f"Patient/{PATIENT}", reason="Yêu cầu của cơ quan điều tra", by="qt.bv")
        for cid in ("due", "new-year"):
            status = await retention_status(store, cid)
            assert status is not None and status.decision(AS_OF) == "legal-hold"
        access.install(sink=PostgresAuditSink())
        report = await purge(store, as_of=AS_OF, reason="QĐ 15/QĐ-BV", principal=ADMIN)
        assert report.purged == []

    run_store(settings.database_url, scenario)


def test_report_counts_by_year_type_and_facility(settings: Any, pki: TestPki) -> None:
    _seed_all(settings, pki)

    async def scenario(store: FhirStore) -> None:
        report = await retention_report(store, as_of=AS_OF)
        assert report.total == len(DOCUMENTS)
        assert report.by_year() == {2026: 2, 2027: 1, 2036: 1, 2046: 1}
        assert report.due == 2
        assert dict(report.kept) == {"permanent": 1, "legal-hold": 1}
        row = next(r for r in report.rows if r.year == 2026)
        assert (row.doc_type, row.facility, row.count, row.due) == (
            "discharge-paper",
            f"Organization/{FACILITY}",
            2,
            True,
        )
        assert (await retention_report(store, as_of=AS_OF, until_year=2030)).by_year() == {2026: 2, 2027: 1}
        text = format_report(report)
        assert "2046" in text and "destroyable now: 2" in text and "permanent: 1" in text
        assert report.as_json()["by_year"] == {"2026": 2, "2027": 1, "2036": 1, "2046": 1}

    run_store(settings.database_url, scenario)


def test_purge_job(settings: Any, pki: TestPki) -> None:
    """The task ``emr.retention_purge`` run by the worker: destroys what is due, refuses the rest."""
    _seed_all(settings, pki)
    from senhealth.emr.retention.tasks import TASK
    from senhealth.jobs.worker import run_worker
    from senhealth.security.audit import PostgresAuditSink

    access.install(sink=PostgresAuditSink())

    async def main() -> None:
        await db.open_pool(settings.database_url, max_size=6)
        try:
            job_id = await enqueue(TASK, {"reason": "QĐ 15/QĐ-BV", "compositions": ["due", "recent"],
                                          "as_of": AS_OF.isoformat(), "requested_by": "qt.bv"})  # fmt: skip
            bad = await enqueue(TASK, {"reason": "QĐ 15/QĐ-BV", "as_of": "01/03/2026"})
            await run_worker(wait=False, install_signal_handlers=False)
            job = await get_job(job_id)
            assert job is not None and job.status == "succeeded", job
            failed = await get_job(bad)
            assert failed is not None and failed.status == "failed" and failed.attempts == 1
            store = FhirStore(db.get_pool())
            with pytest.raises(Gone):
                await store.read("Composition", "due")
            assert (await store.read("Composition", "recent")).content is not None
            rows = await _sql(
                store,
                "SELECT principal_kind, principal_subject FROM audit_event WHERE query = 'retention-purge'",
            )
            assert rows == [("system", "qt.bv")]
        finally:
            await db.close_pool()

    asyncio.run(main())
