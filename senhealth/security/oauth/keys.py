"""The authorization server's signing key: an EC P-256 key (ES256), made on first use and kept as a
private JWK in a file of mode 0600 under the data directory; its public half is the JWKS.

Spec: JWK https://www.rfc-editor.org/rfc/rfc7517, JWA ES256 https://www.rfc-editor.org/rfc/rfc7518#section-3.4,
thumbprint key ids https://www.rfc-editor.org/rfc/rfc7638. joserfc does the key work:
https://jose.authlib.org/en/dev/guide/jwk/

Why a file, not a database row: the private key then stays out of database dumps, replicas and
backups (which travel further and are kept longer than a server's disk), and an SQL injection or a
leaked read-only database role cannot forge tokens. A deployment with several API servers gives them
all the same file (its secret store or configuration management), named by ``signing_key_path``.
Two processes creating it at once is safe: each writes its own temporary file and hard-links it into
place, and the one that loses the race reads the winner's key.

Rotation: put a new key file in place and keep the old public key in ``previous_keys_path`` (a JWKS
file) until the tokens it signed have expired; both are published.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

from joserfc import jwk

__all__ = ["load_or_create_signing_key", "public_jwks"]


def _read(path: Path) -> jwk.ECKey:
    data = json.loads(path.read_text(encoding="utf-8"))
    key = jwk.ECKey.import_key(data)
    if key.kid is None:
        key.ensure_kid()
    return key


def load_or_create_signing_key(path: Path) -> jwk.ECKey:
    """The key in ``path`` (a private JWK), created with mode 0600 when missing."""
    if path.exists():
        return _read(path)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = jwk.ECKey.generate_key("P-256", auto_kid=True)
    data = key.as_dict(private=True)
    data.update({"use": "sig", "alg": "ES256"})
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out)
            out.flush()
            os.fsync(out.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)  # atomic: fails if another process made the key first
    finally:
        tmp.unlink(missing_ok=True)
    return _read(path)


def public_jwks(key: jwk.ECKey, previous: Path | None = None) -> dict[str, Any]:
    """The JWKS to publish: the current key's public half, then the previous keys still trusted."""
    current = key.as_dict(private=False)
    current.update({"use": "sig", "alg": "ES256"})
    keys: list[dict[str, Any]] = [current]
    if previous is not None and previous.exists():
        keys.extend(
            k for k in json.loads(previous.read_text(encoding="utf-8")).get("keys", []) if "d" not in k
        )
    return {"keys": keys}
