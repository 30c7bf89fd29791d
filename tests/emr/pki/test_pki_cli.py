"""``senhealth pki init|issue|revoke|list|crl`` on a real database, and the installation's /pki services
(the router's default: the CA loaded from settings, the register in PostgreSQL) on loopback HTTP."""

from __future__ import annotations

import json
import socket
import stat
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest
import uvicorn
from cryptography import x509
from fastapi import FastAPI
from typer.testing import CliRunner

from senhealth import cli_pki
from senhealth.api.pki import pki_router
from senhealth.cli_pki import pki_app
from senhealth.cli_users import users_app
from senhealth.core import db
from senhealth.core.config import Settings, get_settings
from senhealth.emr.pki.installation import trust_roots, tsa_url
from senhealth.emr.pki.keystore import signing_key
from senhealth.emr.pki.timestamp import request_timestamp, verify_timestamp
from senhealth.emr.pki.validation import check_certificate

runner = CliRunner()


@pytest.fixture
def cli_env(schema_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SENHEALTH_DATABASE_URL", schema_url)
    monkeypatch.setenv("SENHEALTH_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("SENHEALTH_ENVIRONMENT", raising=False)
    monkeypatch.setattr(cli_pki.out, "width", 250)  # the tables unwrapped
    monkeypatch.setattr(cli_pki.err, "width", 250)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


def _socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve(settings: Settings, sock: socket.socket) -> Iterator[None]:
    """The /pki routes with their default authority (from settings), the pool open, on ``sock``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await db.open_pool(settings.database_url, max_size=2)
        try:
            yield
        finally:
            await db.close_pool()

    app = FastAPI(lifespan=lifespan)
    app.state.settings = settings
    app.include_router(pki_router())
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    try:
        yield
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_init_issue_revoke(cli_env: Path) -> None:
    sock = _socket()
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        created = runner.invoke(pki_app, ["init", "--base-url", base])
        assert created.exit_code == 0, created.output
        assert "development CA created" in created.output and "Sen Health Dev CA" in created.output
        folder = cli_env / "pki"
        assert json.loads((folder / "pki.json").read_text())["base_url"] == base
        for name in ("root", "intermediate", "ocsp", "tsa"):
            assert stat.S_IMODE((folder / "keys" / f"{name}.key.pem").stat().st_mode) == 0o600
            assert b"ENCRYPTED PRIVATE KEY" in (folder / "keys" / f"{name}.key.pem").read_bytes()
        assert (folder / "crl" / "intermediate.crl").is_file()
        root_before = (folder / "ca" / "root.pem").read_bytes()

        again = runner.invoke(pki_app, ["init"])
        assert again.exit_code == 0 and "already initialised" in again.output
        assert (folder / "ca" / "root.pem").read_bytes() == root_before

        added = runner.invoke(
            users_app,
            [
                "add",
                "-u",
                "bs.an",
                "-r",
                "doctor",
                "--password",
                "Sen-health 2026!",
                "--name",
                "Nguyễn Văn An",
            ],
        )
        assert added.exit_code == 0, added.output
        issued = runner.invoke(pki_app, ["issue", "--user", "bs.an"])
        assert issued.exit_code == 0, issued.output
        assert "certificate issued" in issued.output and "Nguyễn Văn An" in issued.output

        nobody = runner.invoke(pki_app, ["issue", "--user", "bs.khongco"])
        assert nobody.exit_code == 1 and "no account" in nobody.output
        both = runner.invoke(pki_app, ["issue", "--user", "bs.an", "--organization", "1"])
        assert both.exit_code == 1 and "exactly one" in both.output
        unnamed = runner.invoke(pki_app, ["issue", "--organization", "bv-9"])
        assert unnamed.exit_code == 1 and "give --name" in unnamed.output
        org = runner.invoke(pki_app, ["issue", "--organization", "bv-1", "--name", "Bệnh viện Đa khoa tỉnh"])
        assert org.exit_code == 0, org.output

        settings = get_settings()
        key = signing_key(settings, user="bs.an")
        roots = trust_roots(settings)
        assert key.certificate.subject.rfc4514_string().startswith("CN=Nguyễn Văn An,UID=bs.an")
        assert (
            signing_key(settings, organization="bv-1")
            .certificate.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_IDENTIFIER)[0]
            .value
            == "bv-1"
        )
        serial = format(key.certificate.serial_number, "x")

        with serve(settings, sock):
            check = check_certificate(key.certificate, key.chain, trust_roots=roots)
            assert check.valid, check.reason
            assert {s["method"] for s in check.evidence["sources"]} == {"ocsp", "crl"}
            data = b"ky truoc khi thu hoi"
            token = request_timestamp(data, tsa_url(settings))
            signed_at = verify_timestamp(token, data, roots)

        # the certificate URLs name the first port: serve the same base URL again after the revocation
        port = int(base.rsplit(":", 1)[1])
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))

        time.sleep(max(0.0, 1.05 - (time.time() % 1)))  # the revocation falls in a later second
        bad_reason = runner.invoke(pki_app, ["revoke", serial, "--reason", "boredom"])
        assert bad_reason.exit_code == 1 and "invalid revocation reason" in bad_reason.output
        unknown = runner.invoke(pki_app, ["revoke", "abc123"])
        assert unknown.exit_code == 1 and "no certificate with serial abc123" in unknown.output
        revoked = runner.invoke(pki_app, ["revoke", serial, "--reason", "keyCompromise"])
        assert revoked.exit_code == 0, revoked.output
        assert "revoked" in revoked.output and serial in revoked.output

        listed = runner.invoke(pki_app, ["list", "--holder", "bs.an"])
        assert listed.exit_code == 0 and serial in listed.output and "thu hồi / revoked" in listed.output
        crl_file = runner.invoke(pki_app, ["crl"])
        assert crl_file.exit_code == 0 and "(1 đã thu hồi / revoked)" in crl_file.output
        crl = x509.load_der_x509_crl((folder / "crl" / "intermediate.crl").read_bytes())
        assert crl.get_revoked_certificate_by_serial_number(key.certificate.serial_number) is not None

        with serve(settings, sock):
            now = check_certificate(key.certificate, key.chain, trust_roots=roots)
            assert not now.valid and "revoked" in now.reason
            then = check_certificate(key.certificate, key.chain, at=signed_at, trust_roots=roots)
            assert then.valid, then.reason
    finally:
        sock.close()


def test_init_refused_in_production(cli_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENHEALTH_ENVIRONMENT", "production")
    monkeypatch.setenv("SENHEALTH_SECRET_KEY", "x" * 40)
    get_settings.cache_clear()
    refused = runner.invoke(pki_app, ["init"])
    assert refused.exit_code == 1 and "refused in production" in refused.output
    assert not (cli_env / "pki" / "pki.json").exists()


def test_commands_before_init(cli_env: Path) -> None:
    issued = runner.invoke(pki_app, ["issue", "--organization", "bv-1", "--name", "BV"])
    assert issued.exit_code == 1 and "pki init" in issued.output
    listed = runner.invoke(pki_app, ["list"])
    assert listed.exit_code == 0 and "no certificates issued" in listed.output
