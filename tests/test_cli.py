"""The ``senhealth`` command line, run as a user runs it: the installed console script in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "senhealth" / "demo" / "examples"


def senhealth(*args: str) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("senhealth", path=str(Path(sys.executable).parent))
    assert exe, "the package is installed with its console script: make install"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120)


def test_help_everywhere() -> None:
    top = senhealth("--help")
    assert top.returncode == 0
    for command in (
        "fhirpath",
        "validate",
        "index",
        "demo",
        "db",
        "serve",
        "load",
        "worker",
        "jobs",
        "users",
        "audit",
    ):
        assert command in top.stdout
        sub = senhealth(command, "--help")
        assert sub.returncode == 0, sub.stderr
        assert "Usage" in sub.stdout


def test_fhirpath_prints_json() -> None:
    r = senhealth("fhirpath", "Patient.name.given", str(EXAMPLES / "patient-vn.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == ["Thị", "Đào"]
    r = senhealth("fhirpath", "Patient.birthDate + 1 year", str(EXAMPLES / "patient-vn.json"), "--compact")
    assert json.loads(r.stdout) == ["@1991-03-15"]


def test_fhirpath_variables_and_errors() -> None:
    r = senhealth("fhirpath", "%x + 1", str(EXAMPLES / "patient-vn.json"), "--var", "x=41")
    assert json.loads(r.stdout) == [42]
    bad = senhealth("fhirpath", "Patient.name.(", str(EXAMPLES / "patient-vn.json"))
    assert bad.returncode == 2
    assert "FHIRPath" in bad.stderr
    missing = senhealth("fhirpath", "Patient", "no-such-file.json")
    assert missing.returncode == 2
    assert "file not found" in missing.stderr


def test_validate_valid_and_invalid(tmp_path: Path) -> None:
    ok = senhealth("validate", str(EXAMPLES / "patient-vn.json"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = senhealth("validate", "--json", str(EXAMPLES / "patient-vn-broken.json"))
    assert bad.returncode == 1
    (line,) = bad.stdout.strip().splitlines()
    outcome = json.loads(line)["outcome"]
    paths = {e for i in outcome["issue"] if i["severity"] == "error" for e in i.get("expression", [])}
    assert {"Patient.id", "Patient.gender", "Patient.birthDate", "Patient.name"} <= paths
    assert any("nickname" in p for p in paths)


def test_validate_ndjson_and_bundle(tmp_path: Path) -> None:
    good = json.loads((EXAMPLES / "patient-vn.json").read_text())
    nd = tmp_path / "patients.ndjson"
    nd.write_text(
        "\n".join(json.dumps(x) for x in (good, {**good, "gender": "nam"}, {"resourceType": "Nope"})) + "\n"
    )
    r = senhealth("validate", "--json", str(nd))
    assert r.returncode == 1
    sources = [json.loads(line)["source"] for line in r.stdout.splitlines()]
    assert sources == [f"{nd}:2", f"{nd}:3"]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:5b0c7a8e-0a3c-4c53-9a55-0d2f0a0f4e11", "resource": good}],
    }
    b = tmp_path / "bundle.json"
    b.write_text(json.dumps(bundle))
    assert senhealth("validate", str(b)).returncode == 0
    bundle["entry"] = [
        {
            "fullUrl": "urn:uuid:5b0c7a8e-0a3c-4c53-9a55-0d2f0a0f4e11",
            "resource": {**good, "birthDate": "15/03/1990"},
        },
        {"fullUrl": "urn:uuid:5b0c7a8e-0a3c-4c53-9a55-0d2f0a0f4e12", "resource": {**good, "id": "ok-1"}},
        {"fullUrl": "urn:uuid:5b0c7a8e-0a3c-4c53-9a55-0d2f0a0f4e13", "resource": {**good, "gender": "nam"}},
    ]
    b.write_text(json.dumps(bundle))
    r = senhealth("validate", "--json", str(b))
    assert r.returncode == 1
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    assert [x["source"] for x in lines] == [f"{b}#entry[0]", f"{b}#entry[2]"]
    assert lines[0]["outcome"]["issue"][0]["expression"] == ["Bundle.entry[0].resource.birthDate"]
    assert lines[1]["outcome"]["issue"][0]["expression"] == ["Bundle.entry[2].resource.gender"]


def test_validate_against_a_profile_file(tmp_path: Path) -> None:
    profile = {
        "resourceType": "StructureDefinition",
        "url": "https://senhealth.vn/fhir/StructureDefinition/test-patient-cli",
        "name": "TestPatientCli",
        "status": "draft",
        "kind": "resource",
        "abstract": False,
        "type": "Patient",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Patient",
        "derivation": "constraint",
        "differential": {"element": [{"id": "Patient.telecom", "path": "Patient.telecom", "min": 2}]},
    }
    sd = tmp_path / "profile.json"
    sd.write_text(json.dumps(profile))
    r = senhealth(
        "validate", "--profile-file", str(sd), "--profile", profile["url"], str(EXAMPLES / "patient-vn.json")
    )
    assert r.returncode == 1
    assert "Patient.telecom" in r.stdout


@pytest.mark.parametrize("name", ["patient-vn.json"])
def test_index_prints_search_values(name: str) -> None:
    r = senhealth("index", str(EXAMPLES / name))
    assert r.returncode == 0, r.stderr
    assert "nguyen" in r.stdout  # normalised family name
    assert "001190012345" in r.stdout


def test_demo_tour_runs() -> None:
    r = senhealth("demo", "tour")
    assert r.returncode == 0, r.stderr
    assert "Nguyễn Thị Đào" in r.stdout
