"""``senhealth claims export`` and ``senhealth claims import`` (the Typer app of senhealth.cli_claims) on a
real database: a signed export, per-file result lines, a non-zero exit code when a file is refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from claims_support import make_claims_pki, native_visit, put_all, run_with_store
from cryptography.hazmat.primitives import serialization
from typer.testing import CliRunner

from senhealth.cli_claims import claims_app
from senhealth.core.config import get_settings
from senhealth.core.migrate import migrate
from senhealth.emr.claims.envelope import signature_present, verify_envelope
from senhealth.emr.claims.synthetic import generate_claims
from senhealth.emr.claims.xml_tables import parse_xml
from senhealth.fhir.store import FhirStore

runner = CliRunner()
PKI = make_claims_pki()
KEY = PKI.facility("01001")


@pytest.fixture
def cli_db(schema_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    migrate(schema_url)
    monkeypatch.setenv("SENHEALTH_DATABASE_URL", schema_url)
    get_settings.cache_clear()

    async def setup(store: FhirStore) -> None:
        await put_all(store, native_visit())

    run_with_store(schema_url, setup)
    yield schema_url
    get_settings.cache_clear()


def _pem_files(folder: Path) -> tuple[Path, Path, Path]:
    key = folder / "facility.key.pem"
    key.write_bytes(
        KEY.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    chain = folder / "facility.chain.pem"
    chain.write_bytes(
        b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (KEY.certificate, *KEY.chain))
    )
    roots = folder / "roots.pem"
    roots.write_bytes(PKI.root.public_bytes(serialization.Encoding.PEM))
    return key, chain, roots


def test_export_and_import_from_the_command_line(cli_db: str, tmp_path: Path) -> None:
    key, chain, roots = _pem_files(tmp_path)
    signed = tmp_path / "enc-a.xml"
    done = runner.invoke(
        claims_app,
        [
            "export",
            "--encounter",
            "enc-a",
            "--out",
            str(signed),
            "--key-file",
            str(key),
            "--cert-file",
            str(chain),
        ],
    )
    assert done.exit_code == 0, done.output
    assert verify_envelope(signed.read_bytes(), trust_roots=PKI.trust_roots).signer == KEY.certificate
    unsigned = tmp_path / "unsigned.xml"
    plain = runner.invoke(
        claims_app, ["export", "--encounter", "enc-a", "--out", str(unsigned), "--unsigned"]
    )
    assert plain.exit_code == 0 and not signature_present(parse_xml(unsigned.read_bytes()))
    missing = runner.invoke(
        claims_app, ["export", "--encounter", "nobody", "--out", str(tmp_path / "x.xml"), "--unsigned"]
    )
    assert missing.exit_code == 1 and "nobody" in missing.output

    broken = next(c for c in generate_claims(40, seed=31, key=KEY, broken=1.0) if c.defect == "sex-code")
    bad = tmp_path / broken.name
    bad.write_bytes(broken.data)
    result = runner.invoke(claims_app, ["import", str(signed), str(bad), "--trust-roots", str(roots)])
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.startswith(("✓", "✗"))]
    assert lines[0].startswith("✓ enc-a.xml: MA_LK enc-a;")
    assert lines[1].startswith(f"✗ {bad.name}: XML1[1].GIOI_TINH:")
    assert "1 nhận / accepted, 1 từ chối / refused" in result.output
    again = runner.invoke(claims_app, ["import", str(signed), "--trust-roots", str(roots)])
    assert again.exit_code == 0, again.output
    assert "(0 new)" in again.output
    refused = runner.invoke(claims_app, ["import", str(unsigned), "--trust-roots", str(roots)])
    assert refused.exit_code == 1 and "CHUKYDONVI" in refused.output
    allowed = runner.invoke(
        claims_app, ["import", str(unsigned), "--trust-roots", str(roots), "--allow-unsigned"]
    )
    assert allowed.exit_code == 0, allowed.output
    absent = runner.invoke(claims_app, ["import", str(tmp_path / "absent.xml")])
    assert absent.exit_code == 2
