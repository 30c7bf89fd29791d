"""``senhealth load``, ``senhealth serve`` and ``senhealth demo``, run as a user runs them, on a real database."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

SYNTHEA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "synthea"


@pytest.fixture
def fresh_url(server_url: str) -> Iterator[str]:
    """An empty database of its own (the CLI migrates it), dropped afterwards."""
    name = f"senhealth_test_cli_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    params = conninfo_to_dict(server_url)
    params["dbname"] = name
    url = make_conninfo(**params)  # type: ignore[arg-type]
    # Held open for the test: between two CLI runs nobody else is connected, and another test process
    # would take the database for one abandoned by a killed run (tests/conftest.py, _drop_abandoned).
    holder = psycopg.connect(url, autocommit=True)
    try:
        yield url
    finally:
        holder.close()
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def senhealth(url: str, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("senhealth", path=str(Path(sys.executable).parent))
    assert exe
    env = {**os.environ, "SENHEALTH_DATABASE_URL": url}
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=timeout, env=env)


def count(url: str, query: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


@pytest.mark.skipif(not SYNTHEA.is_dir(), reason="the Synthea sample (../shared/data/synthea) is not present")
def test_load_synthea_bundles_and_ndjson(fresh_url: str, tmp_path: Path) -> None:
    files = sorted(SYNTHEA.glob("*Information*.json")) + sorted(SYNTHEA.glob("Liz_Conn*.json"))
    r = senhealth(fresh_url, "load", *map(str, files))
    assert r.returncode == 0, r.stderr
    bundle = json.loads(files[-1].read_text())
    patients = count(fresh_url, "SELECT count(*) FROM fhir_resource WHERE res_type = 'Patient'")
    assert patients == 1
    observations = sum(1 for e in bundle["entry"] if e["resource"]["resourceType"] == "Observation")
    assert (
        count(fresh_url, "SELECT count(*) FROM fhir_resource WHERE res_type = 'Observation'") == observations
    )
    # the urn:uuid references were rewritten: every Observation's subject is the patient
    assert count(fresh_url, "SELECT count(*) FROM idx_reference WHERE target_type = 'Patient'") > observations
    again = senhealth(fresh_url, "load", str(files[-1]))
    assert again.returncode == 0 and "0 mới / created" in again.stderr
    nd = tmp_path / "patients.ndjson"
    nd.write_text(
        json.dumps({"resourceType": "Patient", "id": "nd-1", "gender": "female"})
        + "\n"
        + json.dumps({"resourceType": "Patient", "id": "nd-2", "gender": "nu"})
        + "\n"
    )
    bad = senhealth(fresh_url, "load", str(nd))
    assert bad.returncode == 1  # one rejected
    assert count(fresh_url, "SELECT count(*) FROM fhir_resource WHERE res_id = 'nd-1'") == 1
    assert count(fresh_url, "SELECT count(*) FROM fhir_locator WHERE res_id = 'nd-2'") == 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_loads_a_province_then_serves(fresh_url: str) -> None:
    r = senhealth(fresh_url, "demo", "--citizens", "20", "--seed", "7", "--no-serve")
    assert r.returncode == 0, r.stderr
    assert count(fresh_url, "SELECT count(*) FROM fhir_resource WHERE res_type = 'Patient'") == 20
    again = senhealth(fresh_url, "demo", "--citizens", "20", "--seed", "7", "--no-serve")
    assert "already loaded" in again.stderr
    port = free_port()
    exe = shutil.which("senhealth", path=str(Path(sys.executable).parent))
    assert exe
    env = {**os.environ, "SENHEALTH_DATABASE_URL": fresh_url}
    proc = subprocess.Popen(
        [exe, "serve", "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        body = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/fhir/Patient?_summary=count") as resp:
                    body = json.load(resp)
                break
            except OSError:
                time.sleep(0.3)
        assert body is not None, "the server did not answer within 60 s"
        assert body["total"] == 20
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/docs") as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_load_reports_missing_files(fresh_url: str) -> None:
    r = senhealth(fresh_url, "load", "no-such-file.json")
    assert r.returncode == 2
    assert "file not found" in r.stderr
