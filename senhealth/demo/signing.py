"""Signing certificates for the demo province, so that documents can be signed in the quick start.

The development certificate authority of ``senhealth pki init`` (never in production: it refuses), a
signing certificate for each demo clinician and one for the demo hospital (organisation signatures on
discharge papers and referrals). Done once: a later ``senhealth demo`` finds them and issues nothing.

PKI: docs/pki.md; signatures: docs/signatures.md.
"""

from __future__ import annotations

from typing import Any

from senhealth.emr.pki.errors import NoSigningKey
from senhealth.emr.pki.installation import init_pki, issue_organization_key, issue_user_key
from senhealth.emr.pki.keystore import signing_key

__all__ = ["ensure_demo_signing"]

#: Demo accounts that sign documents (username, display name).
SIGNERS = (("bs.demo", "BS. Demo"), ("yt.demo", "YT. Demo"), ("quantri.demo", "Quản trị Demo"))


def _has_key(settings: Any, **holder: str) -> bool:
    try:
        signing_key(settings, **holder)
    except NoSigningKey:
        return False
    return True


async def ensure_demo_signing(
    settings: Any, *, hospital: str | None, hospital_name: str = "", base_url: str | None = None
) -> list[str]:
    """Create the development CA if needed (its OCSP, CRL and timestamp URLs under ``base_url``, where the
    demo serves) and the demo's signing certificates that are missing; return what was issued
    (``user:<name>``, ``organization:<id>``). The caller opens the database pool."""
    await init_pki(settings, base_url=base_url)
    issued: list[str] = []
    for username, display in SIGNERS:
        if not _has_key(settings, user=username):
            await issue_user_key(
                settings,
                username,
                display_name=display,
                organization=hospital if username != "yt.demo" else None,
            )
            issued.append(f"user:{username}")
    if hospital and not _has_key(settings, organization=hospital):
        await issue_organization_key(settings, hospital, name=hospital_name or f"Organization/{hospital}")
        issued.append(f"organization:{hospital}")
    return issued
