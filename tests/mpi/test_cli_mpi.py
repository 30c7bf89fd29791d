"""``senhealth mpi dedup`` and ``senhealth mpi review list|decide`` (the Typer app of senhealth.cli_mpi)
on a real database, with a synthetic population.

Spec: https://hl7.org/fhir/R4/patient.html#links (a ``linked`` decision merges the two records).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from mpi_population import generate
from mpi_store import patient_resource, run_with_store
from typer.testing import CliRunner

from senhealth.cli_mpi import mpi_app
from senhealth.core.config import get_settings
from senhealth.core.db import transaction
from senhealth.core.migrate import migrate
from senhealth.fhir.store import FhirStore
from senhealth.mpi.link import linked_ids

runner = CliRunner()


@pytest.fixture
def cli_db(schema_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    migrate(schema_url)
    monkeypatch.setenv("SENHEALTH_DATABASE_URL", schema_url)
    get_settings.cache_clear()
    yield schema_url
    get_settings.cache_clear()


def _load(url: str) -> None:
    population = generate(600, 40, 9)

    async def body(store: FhirStore) -> None:
        report = await store.load([patient_resource(c) for c in population.records])
        assert report.created == len(population.records)

    run_with_store(url, body)


def _pairs(url: str) -> list[tuple[int, str, str, str]]:
    async def body(store: FhirStore) -> list[tuple[int, str, str, str]]:
        async with transaction(store.pool) as conn:
            cur = await conn.execute("SELECT id, patient_a, patient_b, status FROM mpi_review ORDER BY id")
            return [(int(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in await cur.fetchall()]

    return run_with_store(url, body)


def test_dedup_queue_run_list_and_decide(cli_db: str) -> None:
    _load(cli_db)
    queued = runner.invoke(mpi_app, ["dedup"])
    assert queued.exit_code == 0, queued.output
    assert re.search(r"job \d+", queued.output)
    again = runner.invoke(mpi_app, ["dedup", "--full"])
    assert again.exit_code == 1 and "already waiting" in again.output

    ran = runner.invoke(mpi_app, ["dedup", "--wait", "--full"])
    assert ran.exit_code == 0, ran.output
    found = re.search(r"(\d+) merged", ran.output)
    assert found is not None and int(found.group(1)) >= 30
    rerun = runner.invoke(mpi_app, ["dedup", "--wait"])
    assert rerun.exit_code == 0 and "0 checked, 0 merged" in rerun.output

    pairs = [p for p in _pairs(cli_db) if p[3] == "open"]
    assert len(pairs) >= 2, "the population should leave pairs to review"
    listed = runner.invoke(mpi_app, ["review", "list"])
    assert listed.exit_code == 0 and str(pairs[0][0]) in listed.output and pairs[0][1] in listed.output

    first, second = pairs[0], pairs[1]
    linked = runner.invoke(
        mpi_app, ["review", "decide", str(first[0]), "linked", "--by", "reviewer-1", "--survivor", first[1]]
    )
    assert linked.exit_code == 0, linked.output
    assert f"Patient/{first[2]} merged into Patient/{first[1]}" in linked.output
    distinct = runner.invoke(mpi_app, ["review", "decide", str(second[0]), "distinct", "--by", "reviewer-1"])
    assert distinct.exit_code == 0 and "distinct" in distinct.output
    twice = runner.invoke(mpi_app, ["review", "decide", str(first[0]), "distinct", "--by", "reviewer-2"])
    assert twice.exit_code == 1 and "already decided" in twice.output

    async def links(store: FhirStore) -> set[str]:
        return await linked_ids(store, first[1])

    assert first[2] in run_with_store(cli_db, links)
    statuses = {p[0]: p[3] for p in _pairs(cli_db)}
    assert statuses[first[0]] == "linked" and statuses[second[0]] == "distinct"
    # decided pairs are never re-opened by the job
    runner.invoke(mpi_app, ["dedup", "--wait", "--full"])
    assert {p[0]: p[3] for p in _pairs(cli_db)}[second[0]] == "distinct"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["review", "decide", "999999", "linked", "--by", "r"], 1, "No review pair"),
        (["review", "decide", "1", "maybe", "--by", "r"], 2, "linked' or 'distinct"),
        (["review", "decide", "1", "linked"], 2, "--by"),
    ],
)
def test_decide_errors(cli_db: str, args: list[str], code: int, message: str) -> None:
    result = runner.invoke(mpi_app, args)
    assert result.exit_code == code and message in result.output, result.output


def test_empty_review_list(cli_db: str) -> None:
    result = runner.invoke(mpi_app, ["review", "list"])
    assert result.exit_code == 0 and "no open pairs" in result.output
