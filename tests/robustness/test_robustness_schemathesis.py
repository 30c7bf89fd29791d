"""Schemathesis (https://schemathesis.readthedocs.io/) against the server's own OpenAPI schema: every
operation, generated and mutated requests (positive and negative), zero server errors.

The server is ``senhealth serve`` on a fresh database, seeded with a few resources whose types and
ids Schemathesis draws from (a "dictionary") most of the time, so that reads, updates, patches,
history and operations reach real resources instead of 404s. The run is bounded: the ``examples``,
``coverage`` and ``fuzzing`` phases, at most ``SENHEALTH_FUZZ_EXAMPLES`` cases per operation and
``SENHEALTH_FUZZ_SECONDS`` in all (fuzzing repeats until the time is spent), with a fixed seed
(``SENHEALTH_FUZZ_SEED``) so that a run in CI is repeatable. A longer run by hand::

    SENHEALTH_FUZZ_SECONDS=900 SENHEALTH_FUZZ_EXAMPLES=200 .venv/bin/pytest -s \\
        tests/robustness/test_robustness_schemathesis.py

The check is ``not_a_server_error``, and independently the server's own access log (run at ``info``)
must show no 5xx and its log no traceback. The test prints a summary: operations tested, test cases
generated, requests the server answered (by status class), server errors.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import httpx
import pytest
from robustness_support import JSON_HEADERS, dumps, fresh_database, observation, patient, running_server

SECONDS = int(os.environ.get("SENHEALTH_FUZZ_SECONDS", "60"))
EXAMPLES = int(os.environ.get("SENHEALTH_FUZZ_EXAMPLES", "25"))
SEED = os.environ.get("SENHEALTH_FUZZ_SEED", "20261125")
# NUL bytes in generated strings: on (a NUL in a search value is a 400 since the nul-in-search-* cases
# of bad_input_corpus.json were fixed).
ALLOW_NUL = True

TYPES = ("Patient", "Observation", "Encounter", "Condition", "Organization", "Practitioner")
IDS = ("rb-p1", "rb-p2", "rb-o1", "rb-e1", "rb-c1", "rb-org1")
ACCESS = re.compile(r'^INFO:\s+\S+ - "(\S+) (\S*) HTTP/[\d.]+" (\d{3})', re.MULTILINE)


def seed(fhir: str) -> None:
    org = {"resourceType": "Organization", "id": "rb-org1", "name": "Trạm Y tế xã Sen"}
    enc = {
        "resourceType": "Encounter",
        "id": "rb-e1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "subject": {"reference": "Patient/rb-p1"},
    }
    cond = {
        "resourceType": "Condition",
        "id": "rb-c1",
        "subject": {"reference": "Patient/rb-p1"},
        "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "E11"}]},
    }
    resources = [
        org,
        patient("fuzz-1", res_id="rb-p1", managingOrganization={"reference": "Organization/rb-org1"}),
        patient(
            "fuzz-2", res_id="rb-p2", link=[{"other": {"reference": "Patient/rb-p1"}, "type": "seealso"}]
        ),
        {**observation("fuzz-o1", "Patient/rb-p1"), "id": "rb-o1"},
        enc,
        cond,
    ]
    with httpx.Client(base_url=fhir, timeout=30) as c:
        for r in resources:
            answer = c.put(f"/{r['resourceType']}/{r['id']}", content=dumps(r), headers=JSON_HEADERS)
            assert answer.status_code == 201, answer.text


def config(path: Path) -> Path:
    quoted = ", ".join(json.dumps(v) for v in TYPES)
    ids = ", ".join(json.dumps(v) for v in IDS)
    path.write_text(
        f"""
[dictionaries.types]
values = [{quoted}]

[dictionaries.ids]
values = [{ids}]

[parameters]
"path.type" = {{ dictionary = "types", probability = 0.7 }}
"path.id" = {{ dictionary = "ids", probability = 0.6 }}

[generation]
allow-x00 = {"true" if ALLOW_NUL else "false"}
""",
        encoding="utf-8",
    )
    return path


def test_schemathesis_finds_no_server_error(server_url: str, tmp_path: Path) -> None:
    exe = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("schemathesis is not installed (pip install -e '.[dev]')")
    with (
        fresh_database(server_url, "fuzz") as url,
        running_server(url, tmp_path, log_level="info") as server,
    ):
        seed(server.fhir)
        reports = tmp_path / "reports"
        cmd = [
            exe,
            "--config-file",
            str(config(tmp_path / "schemathesis.toml")),
            "run",
            f"{server.base}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            str(EXAMPLES),
            "--max-time",
            str(SECONDS),
            "--seed",
            SEED,
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--workers",
            "1",
            "--report",
            "json",
            "--report-dir",
            str(reports),
            "--no-color",
        ]
        run = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=SECONDS + 180)
        report_files = sorted(reports.glob("*.json"))
        assert report_files, f"no report: exit {run.returncode}\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
        report = json.loads(report_files[-1].read_text())
        log = server.log_text()
        statuses = Counter(int(m.group(3)) for m in ACCESS.finditer(log))
        refused = log.count("Invalid HTTP request received")
        classes = Counter(f"{s // 100}xx" for s in statuses.elements())
        summary = (
            f"schemathesis {report['schemathesis_version']}, seed {report['seed']}, "
            f"{report['running_time']:.0f} s: {report['operations']['tested']} of "
            f"{report['operations']['total']} operations tested, "
            f"{report['test_cases']['generated']} test cases, {statuses.total()} requests answered by "
            f"the app ({', '.join(f'{k}: {v}' for k, v in sorted(classes.items()))}) and {refused} refused "
            f"by the HTTP server; failures: {len(report['failures'])}, errors: {len(report['errors'])}, "
            f"server errors in the access log: {sum(v for s, v in statuses.items() if s >= 500)}"
        )
        print("\n" + summary)
        assert report["failures"] == [] and report["errors"] == [], (
            f"{summary}\n{json.dumps(report['failures'], indent=1)}\n{run.stdout[-6000:]}"
        )
        assert not [s for s in statuses if s >= 500], summary
        assert server.tracebacks() == [], "\n\n".join(server.tracebacks()[:5])
        assert report["operations"]["tested"] == report["operations"]["total"], summary
