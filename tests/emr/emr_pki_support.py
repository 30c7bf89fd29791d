"""A real, throw-away PKI for tests: root + intermediate CA, OCSP, CRL and RFC 3161 TSA on loopback HTTP.

Usage::

    from emr_pki_support import make_test_pki      # needs tests/emr on sys.path: a conftest.py that
                                                   # inserts it (as tests/emr/pki/conftest.py does)

    def test_something(tmp_path):
        with make_test_pki(tmp_path) as pki:        # or: pki = make_test_pki(tmp_path); ...; pki.close()
            key = pki.issue_user("bs.lan")          # a SigningKey (certificate, chain, sign())
            org = pki.issue_organization("1")
            pki.revoke(key, at=datetime.now(UTC))
            old = pki.issue_user("bs.cu", expired=True)
            pki.ocsp_url, pki.crl_url, pki.tsa_url, pki.trust_roots
        foreign = make_test_pki(tmp_path / "other", own_keys=True)   # a CA with keys of its own

Everything is the platform's own code (``senhealth.emr.pki``): certificates from its profiles, the
register in memory, the services through ``senhealth.api.pki.pki_router`` served by uvicorn in a thread.
The installation layout is written too (``<tmp_path>/pki``: certificates and encrypted keys, ``pki.json``),
so ``senhealth.emr.pki.keystore.signing_key(Settings(data_dir=tmp_path), user="bs.lan")`` finds the keys
issued here, and ``senhealth.emr.pki.installation.trust_roots(settings)`` / ``tsa_url(settings)`` name
this PKI's root and TSA. ``pki.revoke(key)`` without ``at`` waits for the next whole second and revokes
from it, so what was timestamped before the call is before the revocation and what comes after is after.
``pki.ocsp_available = False`` (or ``crl_available``, ``tsa_available``) makes that service
answer 503, for fallback tests.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import uvicorn
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from starlette.responses import Response

from senhealth.api.pki import pki_router
from senhealth.emr.pki import certificate_authority as profiles
from senhealth.emr.pki.authority import Authority
from senhealth.emr.pki.keys import LocalSigningKey, SigningKey
from senhealth.emr.pki.keystore import CONFIG_FILE, LocalKeyStore, _passphrase, pki_dir, save_certificate
from senhealth.emr.pki.registry import MemoryRegistry, issued_record

__all__ = ["SOFTHSM_LIBRARIES", "TestPki", "make_test_pki", "softhsm_keystore"]

_KEY_BITS = 2048
_CA_KEYS: dict[str, rsa.RSAPrivateKey] = {}
_KEY_LOCK = threading.Lock()


def _ca_key(name: str, own: bool = False) -> rsa.RSAPrivateKey:
    """CA and service keys are made once per test process (key generation is the slow part)."""
    if own:
        return profiles.new_rsa_key(_KEY_BITS)
    with _KEY_LOCK:
        if name not in _CA_KEYS:
            _CA_KEYS[name] = profiles.new_rsa_key(_KEY_BITS)
        return _CA_KEYS[name]


def _free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


class TestPki:
    """A CA with its services on loopback; see the module docstring."""

    __test__ = False  # not a test class for pytest

    def __init__(self, tmp_path: Path, settings: Any = None, *, own_keys: bool = False) -> None:
        self.data_dir = Path(tmp_path)
        settings = settings or SimpleNamespace(data_dir=self.data_dir, environment="development")
        self.folder = pki_dir(settings)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.keystore = LocalKeyStore(self.folder, _passphrase(settings, self.folder))
        self.registry = MemoryRegistry()
        self.ocsp_available = True
        self.crl_available = True
        self.tsa_available = True

        self._socket = _free_socket()
        port = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        self.urls = profiles.pki_urls(self.base_url)

        # The CA and its services are valid from two years back, so tests may validate at past times.
        since = datetime.now(UTC).replace(microsecond=0) - timedelta(days=730)
        root_key = _ca_key("root", own_keys)
        root_cert = profiles.build_root(root_key, not_before=since)
        self.root = LocalSigningKey(root_cert, (), root_key)
        inter_key = _ca_key("intermediate", own_keys)
        inter_cert = profiles.build_intermediate(
            self.root, inter_key.public_key(), urls=self.urls, not_before=since
        )
        self.intermediate = LocalSigningKey(inter_cert, (root_cert,), inter_key)
        ocsp_key = _ca_key("ocsp", own_keys)
        ocsp_cert = profiles.issue_ocsp_responder(
            self.intermediate, ocsp_key.public_key(), urls=self.urls, not_before=since, days=1095
        )
        tsa_key = _ca_key("tsa", own_keys)
        tsa_cert = profiles.issue_timestamping(
            self.intermediate, tsa_key.public_key(), urls=self.urls, not_before=since
        )
        chain = (inter_cert, root_cert)
        self.ocsp = LocalSigningKey(ocsp_cert, chain, ocsp_key)
        self.tsa = LocalSigningKey(tsa_cert, chain, tsa_key)
        self.authority = Authority(
            root=self.root,
            intermediate=self.intermediate,
            ocsp=self.ocsp,
            tsa=self.tsa,
            registry=self.registry,
            urls=self.urls,
        )
        for key, kind in ((self.intermediate, "intermediate"), (self.ocsp, "ocsp"), (self.tsa, "tsa")):
            issuer = "root" if kind == "intermediate" else "intermediate"
            self.registry.add_now(issued_record(key.certificate, kind=kind, holder=None, issuer=issuer))
        for name, local in (
            ("root", self.root),
            ("intermediate", self.intermediate),
            ("ocsp", self.ocsp),
            ("tsa", self.tsa),
        ):
            save_certificate(self.folder, name, local.certificate)
            self.keystore.store(name, local.private_key)
        (self.folder / CONFIG_FILE).write_text(
            json.dumps(
                {"base_url": self.base_url, "keystore": "local", "created": datetime.now(UTC).isoformat()}
            ),
            encoding="utf-8",
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._start()

    # --- the loopback server ---------------------------------------------------------------------------

    def _app(self) -> FastAPI:
        app = FastAPI()
        pki = self

        @app.middleware("http")
        async def availability(request: Request, call_next: Any) -> Response:
            path = request.url.path
            if (
                (path.startswith("/pki/ocsp") and not pki.ocsp_available)
                or (path.startswith("/pki/crl") and not pki.crl_available)
                or (path.startswith("/pki/tsa") and not pki.tsa_available)
            ):
                return Response("service unavailable (test switch)", status_code=503)
            response: Response = await call_next(request)
            return response

        app.include_router(pki_router(self.authority))
        return app

    def _start(self) -> None:
        config = uvicorn.Config(self._app(), log_level="warning", lifespan="off")
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, kwargs={"sockets": [self._socket]}, daemon=True)
        thread.start()
        deadline = time.monotonic() + 10
        while not server.started:
            if time.monotonic() > deadline or not thread.is_alive():
                raise RuntimeError("the test PKI's HTTP server did not start")
            time.sleep(0.01)
        self._server, self._thread = server, thread

    def close(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=10)
            self._server = None
        self._socket.close()

    def __enter__(self) -> TestPki:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- what tests use --------------------------------------------------------------------------------

    @property
    def ocsp_url(self) -> str:
        return self.urls.ocsp

    @property
    def crl_url(self) -> str:
        """The intermediate CA's CRL (the one end-entity certificates point at)."""
        return self.urls.crl("intermediate")

    @property
    def root_crl_url(self) -> str:
        return self.urls.crl("root")

    @property
    def tsa_url(self) -> str:
        return self.urls.tsa

    @property
    def trust_roots(self) -> tuple[x509.Certificate, ...]:
        return (self.root.certificate,)

    @property
    def chain(self) -> tuple[x509.Certificate, ...]:
        return (self.intermediate.certificate, self.root.certificate)

    def _validity(
        self, expired: bool, not_before: datetime | None, not_after: datetime | None
    ) -> tuple[datetime | None, datetime | None]:
        if expired and not_after is None:
            now = datetime.now(UTC).replace(microsecond=0)
            return not_before or now - timedelta(days=400), now - timedelta(days=1)
        return not_before, not_after

    def issue_user(
        self,
        username: str,
        display_name: str | None = None,
        *,
        organization: str | None = None,
        expired: bool = False,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> LocalSigningKey:
        """A user's signing key and certificate (also saved where ``signing_key(settings, user=)`` looks)."""
        key = profiles.new_rsa_key(_KEY_BITS)
        start, end = self._validity(expired, not_before, not_after)
        cert = profiles.issue_user(
            self.intermediate,
            key.public_key(),
            username=username,
            display_name=display_name or f"BS. {username}",
            organization=organization,
            urls=self.urls,
            not_before=start,
            not_after=end,
        )
        return self._keep(f"user:{username}", cert, key, kind="user", holder=username)

    def issue_organization(
        self,
        organization_id: str,
        name: str | None = None,
        *,
        expired: bool = False,
        not_before: datetime | None = None,
        not_after: datetime | None = None,
    ) -> LocalSigningKey:
        """An organisation's signing key and certificate (O = facility name)."""
        key = profiles.new_rsa_key(_KEY_BITS)
        start, end = self._validity(expired, not_before, not_after)
        cert = profiles.issue_organization(
            self.intermediate,
            key.public_key(),
            organization_id=organization_id,
            name=name or f"Bệnh viện Đa khoa {organization_id}",
            urls=self.urls,
            not_before=start,
            not_after=end,
        )
        return self._keep(
            f"organization:{organization_id}", cert, key, kind="organization", holder=organization_id
        )

    def _keep(
        self, name: str, cert: x509.Certificate, key: rsa.RSAPrivateKey, *, kind: str, holder: str
    ) -> LocalSigningKey:
        self.registry.add_now(issued_record(cert, kind=kind, holder=holder, issuer="intermediate"))
        save_certificate(self.folder, name, cert)
        self.keystore.store(name, key)
        return LocalSigningKey(cert, self.chain, key)

    def revoke(
        self,
        certificate: x509.Certificate | SigningKey | int,
        *,
        at: datetime | None = None,
        reason: str | None = "keyCompromise",
    ) -> datetime:
        """Revoke from ``at`` (default: the next whole second, waited for); returns the time recorded."""
        if isinstance(certificate, int):
            serial = certificate
        elif isinstance(certificate, x509.Certificate):
            serial = certificate.serial_number
        else:
            serial = certificate.certificate.serial_number
        if at is None:
            # "Now", made unambiguous: the next whole second, and wait for it. Whatever was timestamped
            # before this call is before the revocation; whatever comes after it is after.
            now = datetime.now(UTC)
            at = now.replace(microsecond=0) + timedelta(seconds=1)
            time.sleep(max(0.0, (at - now).total_seconds()) + 0.01)
        record = self.registry.revoke_now(serial, at=at, reason=reason)
        assert record.revoked_at is not None
        return record.revoked_at

    def crl_der(self, ca: str = "intermediate") -> bytes:
        return asyncio.run(self.authority.crl(ca))


def make_test_pki(tmp_path: Path, settings: Any = None, *, own_keys: bool = False) -> TestPki:
    """A running test PKI under ``tmp_path`` (call ``close()`` or use it as a context manager).

    The CA keys are shared by every test PKI of the process (fast); ``own_keys=True`` makes fresh ones,
    for a second, foreign CA that must not be trusted through the first one's root.
    """
    return TestPki(tmp_path, settings, own_keys=own_keys)


# --- SoftHSM ------------------------------------------------------------------------------------------

SOFTHSM_LIBRARIES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
SOFTHSM_PIN = "246810"
_SOFTHSM: dict[str, Any] = {}


def softhsm_keystore() -> Any:
    """A :class:`~senhealth.emr.pki.pkcs11_keystore.Pkcs11KeyStore` on a SoftHSM token of this test process.

    The PKCS#11 module is loaded once per process and reads ``SOFTHSM2_CONF`` then, so there is one token
    per process (in a temporary folder); tests keep apart by key label (``user:<username>``). Returns
    None when SoftHSM is not installed (skip with that reason). ``.settings`` on the result: the
    ``pkcs11_*`` values for ``key_store`` / ``signing_key``.
    """
    import shutil
    import subprocess
    import tempfile

    from senhealth.emr.pki.pkcs11_keystore import Pkcs11KeyStore

    with _KEY_LOCK:
        if "store" in _SOFTHSM:
            return _SOFTHSM["store"]
        library = next((p for p in SOFTHSM_LIBRARIES if Path(p).is_file()), None)
        tool = shutil.which("softhsm2-util")
        if library is None or tool is None:
            return None
        folder = Path(tempfile.mkdtemp(prefix="senhealth-softhsm-"))
        (folder / "tokens").mkdir()
        conf = folder / "softhsm2.conf"
        conf.write_text(
            f"directories.tokendir = {folder / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n",
            encoding="utf-8",
        )
        import os

        os.environ["SOFTHSM2_CONF"] = str(conf)
        label = "senhealth-test"
        subprocess.run(
            [tool, "--init-token", "--free", "--label", label, "--pin", SOFTHSM_PIN, "--so-pin", "13579111"],
            check=True,
            capture_output=True,
            env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        )
        store = Pkcs11KeyStore(library, label, SOFTHSM_PIN)
        store.settings = {"pkcs11_library": library, "pkcs11_token": label, "pkcs11_pin": SOFTHSM_PIN}  # type: ignore[attr-defined]
        _SOFTHSM["store"] = store
        return store
