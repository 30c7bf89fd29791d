"""The authorization server's settings, read from :class:`senhealth.core.config.Settings`.

Spec: OAuth 2.0 Authorization Server Metadata https://www.rfc-editor.org/rfc/rfc8414 (``issuer``).

The fields are not yet in ``Settings``; they are read with ``getattr(settings, name, default)`` so the
code works before they are added (``SENHEALTH_OAUTH_ISSUER``...):

- ``oauth_issuer``: the public base URL of the server (``https://ehr.example.vn``); the FHIR base,
  the tokens' audience, is ``<issuer>/fhir``;
- ``oauth_signing_key_path``: default ``<data_dir>/oauth/signing-key.jwk``;
- ``oauth_previous_keys_path``: a JWKS file of retired public keys still trusted (optional);
- ``oauth_access_token_minutes`` (60), ``oauth_system_token_minutes`` (5, SMART backend services),
  ``oauth_refresh_token_days`` (30, ``offline_access``), ``oauth_online_refresh_hours`` (12,
  ``online_access``);
- ``secret_key``: the secret of the sign-in form's CSRF tokens (default: derived from the signing key).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from senhealth.core.config import Settings, get_settings

__all__ = ["OAuthConfig"]


@dataclass(frozen=True, slots=True)
class OAuthConfig:
    issuer: str
    signing_key_path: Path
    previous_keys_path: Path | None = None
    access_token_minutes: int = 60
    system_token_minutes: int = 5
    refresh_token_days: int = 30
    online_refresh_hours: int = 12
    code_seconds: int = 60
    launch_minutes: int = 5
    secret_key: str | None = None

    @property
    def fhir_base(self) -> str:
        return f"{self.issuer}/fhir"

    @property
    def token_endpoint(self) -> str:
        return f"{self.issuer}/auth/token"

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, issuer: str | None = None) -> OAuthConfig:
        cfg = settings or get_settings()
        key_path = (
            getattr(cfg, "oauth_signing_key_path", None) or Path(cfg.data_dir) / "oauth" / "signing-key.jwk"
        )
        previous = getattr(cfg, "oauth_previous_keys_path", None)
        return cls(
            issuer=(issuer or getattr(cfg, "oauth_issuer", None) or "http://localhost:8000").rstrip("/"),
            signing_key_path=Path(key_path),
            previous_keys_path=Path(previous) if previous else None,
            access_token_minutes=int(getattr(cfg, "oauth_access_token_minutes", 60)),
            system_token_minutes=int(getattr(cfg, "oauth_system_token_minutes", 5)),
            refresh_token_days=int(getattr(cfg, "oauth_refresh_token_days", 30)),
            online_refresh_hours=int(getattr(cfg, "oauth_online_refresh_hours", 12)),
            secret_key=getattr(cfg, "secret_key", None),
        )
