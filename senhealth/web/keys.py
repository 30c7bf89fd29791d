"""The web application's secret: CSRF tokens (HMAC) and what sessions keep encrypted (AES-256-GCM).

The key is ``Settings.secret_key``. Outside development a missing or short key is refused by
:class:`senhealth.core.config.Settings` itself, and again here (:class:`WebSecretMissing`), so no default
secret is ever used in production. In development without a key, a random one is made once and kept in
``<data_dir>/web/secret-key`` (mode 0600), so sessions survive a restart.

Sub-keys are derived with HKDF-SHA256 (one ``info`` label per use), so the CSRF key and the encryption key
differ. https://cryptography.io/en/latest/hazmat/primitives/key-derivation-functions/#hkdf
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from senhealth.core.config import Settings
from senhealth.core.errors import SenHealthError

__all__ = ["WebKeys", "WebSecretMissing", "load_keys"]

_MIN_LENGTH = 32


class WebSecretMissing(SenHealthError):
    """Outside development the settings must give a secret key of 32 characters or more."""

    code = "exception"


def _derive(master: bytes, label: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label.encode()).derive(master)


@dataclass(frozen=True, slots=True)
class WebKeys:
    """The derived keys; never logged (no repr of the bytes)."""

    csrf: bytes
    seal: bytes

    def __repr__(self) -> str:
        return "WebKeys(<hidden>)"

    def sign(self, *parts: str) -> str:
        """HMAC-SHA256 of ``parts`` (hex)."""
        return hmac.new(self.csrf, "\x1f".join(parts).encode(), hashlib.sha256).hexdigest()

    def encrypt(self, data: bytes, context: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + AESGCM(self.seal).encrypt(nonce, data, context.encode())

    def decrypt(self, blob: bytes, context: str) -> bytes | None:
        try:
            return AESGCM(self.seal).decrypt(blob[:12], blob[12:], context.encode())
        except (InvalidTag, ValueError):
            return None


def _development_key(data_dir: Path) -> bytes:
    path = data_dir / "web" / "secret-key"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_urlsafe(48).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    return key


def load_keys(settings: Settings) -> WebKeys:
    """The web keys from the settings (see the module docstring)."""
    raw = settings.secret_key.get_secret_value() if settings.secret_key is not None else ""
    if len(raw) >= _MIN_LENGTH:
        master = raw.encode()
    elif settings.environment == "development":
        master = _development_key(Path(settings.data_dir))
    else:
        raise WebSecretMissing(
            "Thiếu khóa bí mật / no secret key: set SENHEALTH_SECRET_KEY to 32 or more random characters"
        )
    return WebKeys(
        csrf=_derive(master, "senhealth/web/csrf/v1"), seal=_derive(master, "senhealth/web/seal/v1")
    )
