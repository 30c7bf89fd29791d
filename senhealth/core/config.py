"""Platform configuration from the environment (``SENHEALTH_*`` variables) and an optional ``.env`` file.

Uses pydantic-settings: https://docs.pydantic.dev/latest/concepts/pydantic_settings/
One cached :func:`get_settings` per process; tests call ``get_settings.cache_clear()`` after changing
the environment.
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


ROOT_DATA_DIR = Path("/var/lib/senhealth")
# Values found in examples and tutorials: never accepted as a production key.
_DEVELOPMENT_KEYS = frozenset({"change-me", "changeme", "secret", "development", "dev"})


def _default_data_dir() -> Path:
    """``/var/lib/senhealth`` for root (a system service), else the XDG user data directory."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        return ROOT_DATA_DIR
    xdg = os.environ.get("XDG_DATA_HOME")
    base = Path(xdg) if xdg else Path.home() / ".local" / "share"
    return base / "senhealth"


class Settings(BaseSettings):
    """Every setting of the platform, with its environment variable ``SENHEALTH_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="SENHEALTH_", env_file=".env", extra="ignore")

    database_url: str | None = Field(
        default=None, description="PostgreSQL URL; when unset the CLI runs an embedded PostgreSQL."
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir, description="Where the platform keeps its files."
    )
    timezone: str = Field(
        default="Asia/Ho_Chi_Minh", description="Zone for dates and times given without one."
    )
    language: str = Field(default="vi", description="Default UI language: vi (Vietnamese) or en.")
    partitions: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Hash partitions of each FHIR table, fixed when the store's migration first runs.",
    )
    search_timeout_s: float = Field(
        default=30.0,
        ge=0,
        description="Seconds a search statement may run before PostgreSQL stops it (0: no limit).",
    )
    environment: Literal["development", "production"] = Field(
        default="development",
        description="development: secrets may be generated on the fly and sign-in may be off; production: "
        "a secret key is required and every FHIR request needs a bearer token.",
    )
    secret_key: SecretStr | None = Field(
        default=None,
        description="Key for sessions, CSRF tokens and secrets at rest (32+ characters). Required in "
        "production; in development a random one is kept under the data directory.",
    )
    auth_required: bool | None = Field(
        default=None,
        description="Whether FHIR requests need a bearer token (default: yes in production, no in development).",
    )
    issuer_url: str | None = Field(
        default=None,
        description="This server's public base URL, as the OAuth issuer (default: from each request).",
    )
    facility_networks: list[str] = Field(
        default_factory=list,
        description="CIDR blocks of facility networks: sign-in from elsewhere needs two-factor.",
    )
    notifiable_icd10: list[str] = Field(
        default_factory=list,
        description=(
            "ICD-10 codes or code prefixes of the notifiable diseases (A90 dengue, B08.4 hand-foot-and-mouth "
            "disease...): public-health officers see the records of patients with such a Condition."
        ),
    )
    access_windows: dict[str, str] = Field(
        default_factory=dict,
        description='Local hours each role may work, e.g. {"data_analyst": "07:00-17:30"}; other roles: any time.',
    )
    bulk_dir: Path | None = Field(
        default=None,
        description="Where Bulk Data exports write their NDJSON files (default: <data_dir>/bulk).",
    )
    bulk_import_hosts: list[str] = Field(
        default_factory=list,
        description=(
            "Host names $import may fetch input files from (https only, exact names); "
            "other URLs are refused. Empty: only files posted in the request."
        ),
    )

    pki_dir: Path | None = Field(
        default=None,
        description="Where the certificate authority, issued certificates and local signing keys live "
        "(default: <data_dir>/pki).",
    )
    pki_base_url: str | None = Field(
        default=None,
        description="Public base URL written into issued certificates for OCSP, CRL and the timestamp "
        "authority (default: issuer_url, else http://localhost:8000).",
    )
    pki_key_passphrase: SecretStr | None = Field(
        default=None, description="Passphrase of the local signing keys on disk (default: secret_key)."
    )
    pki_keystore: Literal["local", "pkcs11"] | None = Field(
        default=None,
        description="Where users' and facilities' signing keys live: local files or a PKCS#11 token.",
    )
    pkcs11_library: str | None = Field(
        default=None, description="The PKCS#11 module (.so) of the token or HSM holding signing keys."
    )
    pkcs11_token: str | None = Field(default=None, description="Label of the PKCS#11 token.")
    pkcs11_pin: SecretStr | None = Field(default=None, description="User PIN of the PKCS#11 token.")
    pki_tsa_url: str | None = Field(
        default=None,
        description="RFC 3161 timestamp authority for signatures (default: this platform's own, /pki/tsa).",
    )
    pki_trust_roots: list[Path] = Field(
        default_factory=list,
        description="PEM files of further trusted root certificates (e.g. the national root CA); the "
        "platform's own CA is always trusted.",
    )

    public_url: str | None = Field(
        default=None,
        description="The address citizens and other facilities reach this platform at, printed in the QR "
        "codes of paper copies (default: issuer_url, else the request's).",
    )
    pdf_long_term_validation: bool = Field(
        default=True,
        description="Embed the certificates' revocation data in signed PDFs (PAdES B-LT), so they verify "
        "after the certificates expire; off: PAdES B-T.",
    )
    form_numbers: dict[str, str] = Field(
        default_factory=dict,
        description='Form number printed on each document type, e.g. {"discharge-paper": "MS: 01/BV-01"}, '
        "overriding the packaged ones.",
    )

    claims_allow_unsigned: bool = Field(
        default=False,
        description="Accept claim XML files without a valid facility signature on $import-claim-xml "
        "(migration of old archives only).",
    )

    @model_validator(mode="after")
    def _production_needs_secrets(self) -> Settings:
        if self.environment == "production":
            key = self.secret_key.get_secret_value() if self.secret_key is not None else ""
            if len(key) < 32 or key in _DEVELOPMENT_KEYS:
                raise ValueError(
                    "SENHEALTH_SECRET_KEY must be set to a random value of at least 32 characters in "
                    "production (for example: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
            if self.auth_required is False:
                raise ValueError("SENHEALTH_AUTH_REQUIRED cannot be false in production")
        return self

    @property
    def requires_auth(self) -> bool:
        """Whether FHIR requests need a bearer token."""
        if self.auth_required is not None:
            return self.auth_required
        return self.environment == "production"


@cache
def get_settings() -> Settings:
    """The settings of this process, read once."""
    return Settings()
