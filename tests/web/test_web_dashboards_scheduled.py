"""Scheduled PDF reports: the worker runs ``analytics.scheduled_report`` for the demo province's month; the
PDF is stored as a DocumentReference whose text (pypdf) holds the month's numbers (the indicator library's
and form 14/BCT's, computed here), is e-mailed through a loopback SMTP server, is listed on
``/dashboards/reports/scheduled`` and downloads byte for byte. A second run replaces it (one per month).
Synthetic data only.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import httpx
import pytest
from analytics.province_support import PROVINCE
from pypdf import PdfReader
from test_web_dashboards import (
    OFFICER,
    DashboardProvince,
    computed,
    dashboard_province,
    install_dashboards,
    signed_in,
)

from senhealth.analytics import scheduled_reports
from senhealth.analytics.reports import report_14bct
from senhealth.fhir import access
from senhealth.fhir.store import FhirStore

QUEUE = "dashboards-test"


@dataclass
class Mailbox:
    """A loopback SMTP server (RFC 5321: EHLO, MAIL, RCPT, DATA, QUIT) keeping what it receives."""

    mails: list[EmailMessage] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def say(line: str) -> None:
            writer.write(line.encode() + b"\r\n")
            await writer.drain()

        await say("220 localhost")
        while line := (await reader.readline()).decode().rstrip("\r\n"):
            verb = line[:4].upper()
            if verb in ("EHLO", "HELO"):
                await say("250 localhost")
            elif verb == "DATA":
                await say("354 go on")
                data = b""
                while (chunk := await reader.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                mail = message_from_bytes(data, policy=policy.default)
                assert isinstance(mail, EmailMessage)
                self.mails.append(mail)
                await say("250 queued")
            elif verb == "QUIT":
                await say("221 bye")
                break
            else:
                await say("250 OK")
        writer.close()


@pytest.fixture(scope="module")
def demo(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DashboardProvince]:
    with dashboard_province(database_url, tmp_path_factory.mktemp("scheduled")) as found:
        yield found


@pytest.fixture
def registered() -> Iterator[None]:
    from senhealth.web.views import dashboard_data

    scheduled_reports.register_providers(dashboard_data.checkup_providers)
    config = scheduled_reports.get_config()
    before = config.model_dump()
    try:
        yield
    finally:
        scheduled_reports.clear_providers()
        scheduled_reports.configure(**before)
        dashboard_data.use_views_schema(None)
        dashboard_data.clear_cache()
        access.install(policy=access.OPEN, sink=access.NO_AUDIT)


def test_the_schedule_and_the_month_it_reports() -> None:
    from senhealth.core.queue import registered_tasks

    assert ("monthly", "0 0 1 * *") in registered_tasks()[scheduled_reports.TASK].schedules
    # the run of 1 April 00:00 UTC (07:00 in Viet Nam) reports on March; 31 March 20:00 UTC is April there
    assert scheduled_reports.previous_month(dt.datetime(2025, 4, 1, 0, 0, tzinfo=dt.UTC)) == (2025, 3)
    assert scheduled_reports.previous_month(dt.datetime(2025, 3, 31, 20, 0, tzinfo=dt.UTC)) == (2025, 3)
    assert scheduled_reports.previous_month(dt.datetime(2025, 1, 1, 3, 0, tzinfo=dt.UTC)) == (2024, 12)


def test_the_worker_stores_mails_and_lists_the_months_pdf(demo: DashboardProvince, registered: None) -> None:
    from senhealth.app import build_app
    from senhealth.core.db import get_pool
    from senhealth.core.queue import enqueue
    from senhealth.jobs.worker import run_worker
    from senhealth.web.views import dashboard_data

    p = demo.province
    dashboard_data.use_views_schema(p.schema)

    async def main() -> None:
        mailbox = Mailbox()
        await mailbox.start()
        scheduled_reports.configure(
            emails=["so-y-te@example.vn"],
            smtp_host="127.0.0.1",
            smtp_port=mailbox.port,
            smtp_from="bc@example.vn",
        )
        app = build_app(demo.settings)
        install_dashboards(app)
        try:
            async with app.router.lifespan_context(app):
                args: dict[str, Any] = {
                    "year": p.year,
                    "month": p.month,
                    "province": PROVINCE,
                    "schema": p.schema,
                }
                job = await enqueue(scheduled_reports.TASK, args, queue=QUEUE)
                await run_worker(wait=False, install_signal_handlers=False, queues=[QUEUE])
                store = FhirStore(get_pool())
                async with store.pool.connection() as conn:
                    cur = await conn.execute(
                        "SELECT status::text FROM procrastinate_jobs WHERE id = %s", (job,)
                    )
                    assert await cur.fetchone() == ("succeeded",)
                doc_id = scheduled_reports.document_id(PROVINCE, f"{p.year}{p.month:02d}")
                doc = (await store.read("DocumentReference", doc_id)).content
                assert doc is not None and doc["status"] == "current" and "subject" not in doc
                pdf = base64.b64decode(doc["content"][0]["attachment"]["data"])
                assert pdf.startswith(b"%PDF")
                text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)

                # the month's numbers, computed here by the library's functions
                results = await computed(demo)
                report = await report_14bct(
                    store.pool, p.year, p.month, PROVINCE, param_ids=await store.param_ids(), schema=p.schema
                )
                assert f"Báo cáo y tế tháng {p.month:02d}/{p.year}" in text
                visits = results["visits-by-level"].total.numerator
                emr = results["emr-adoption"].total
                assert visits > 0 and emr.denominator
                assert f"{visits}" in text and f"{emr.numerator} {emr.denominator}" in text
                assert f"{100 * emr.numerator / emr.denominator:.1f}".replace(".", ",") + " %" in text
                coverage = results["checkup-coverage"].total  # given by the registered provider
                assert results["checkup-coverage"].available and f"{coverage.denominator}" in text
                assert "Tổng số" in text and str(report.total["cases"]) in text

                # e-mailed with the PDF attached
                assert len(mailbox.mails) == 1
                mail = mailbox.mails[0]
                assert mail["To"] == "so-y-te@example.vn" and f"{p.month:02d}/{p.year}" in str(
                    mail["Subject"]
                )
                attached = [part.get_content() for part in mail.iter_attachments()]
                assert attached == [pdf]

                # a second run replaces the month's document (a new version, not a second document)
                again = await scheduled_reports.produce(
                    store, p.year, p.month, PROVINCE, schema=p.schema, email=False
                )
                # the same document again: a new version, or none when the PDF came out byte for byte the same (an
                # update that changes nothing writes nothing: both runs in the same second)
                assert again["document"] == f"DocumentReference/{doc_id}" and again["version"] in (1, 2)
                assert again["created"] is False

                # the page lists it; the download is the stored PDF
                transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 40000))
                async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                    signed_in(client, demo, OFFICER)
                    page = await client.get("/dashboards/reports/scheduled")
                    assert page.status_code == 200, page.text[:500]
                    key = f"{PROVINCE}-{p.year}{p.month:02d}"
                    assert page.text.count('<tr id="report-') == 1 and f'id="report-{key}"' in page.text
                    href = f"/dashboards/reports/scheduled/{doc_id}"
                    assert f'href="{href}"' in page.text
                    got = await client.get(href)
                    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
                    stored = (await store.read("DocumentReference", doc_id)).content
                    assert stored is not None
                    assert got.content == base64.b64decode(stored["content"][0]["attachment"]["data"])
                    assert (await client.get("/dashboards/reports/scheduled/nope")).status_code == 404
        finally:
            await mailbox.stop()

    asyncio.run(main())
