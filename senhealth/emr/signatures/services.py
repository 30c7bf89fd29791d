"""Which PKI a signature is checked against: the trust roots and the timestamp authority.

Spec: RFC 5280 §6 (a path is validated up to a trust anchor) and RFC 3161 §3.4 (a TSA over HTTP).

Both come from the PKI installation (:mod:`senhealth.emr.pki.installation`, docs/pki.md): the trust roots
are the installation's own root (``<pki folder>/ca/root.pem``) plus the PEM files of the
``pki_trust_roots`` setting (a national root CA); the TSA is the ``pki_tsa_url`` setting, else the
platform's own ``<base>/pki/tsa`` (``pki.json``). :func:`pki_services` reads the files on every call (they
are small, and a reissued root or a new TSA takes effect without a restart).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509

from senhealth.emr.pki.errors import NotInitialised
from senhealth.emr.pki.installation import trust_roots, tsa_url

__all__ = ["PkiServices", "configure", "configured_services", "configured_settings", "pki_services"]

_settings: Any = None


@dataclass(frozen=True, slots=True)
class PkiServices:
    """The trust anchors signatures are validated against and the TSA that timestamps them."""

    trust_roots: tuple[x509.Certificate, ...]
    tsa_url: str


def pki_services(settings: Any) -> PkiServices:
    """The services of ``settings`` (see the module docstring); raises :class:`NotInitialised`."""
    roots = trust_roots(settings)
    if not roots:
        raise NotInitialised(
            "Chưa có chứng thư gốc tin cậy / no trust anchors: run `senhealth pki init` or set pki_trust_roots"
        )
    try:
        tsa = tsa_url(settings)
    except (KeyError, TypeError):
        raise NotInitialised("pki.json names no base URL: the timestamp authority is unknown") from None
    return PkiServices(roots, tsa)


def configure(settings: Any) -> None:
    """Remember the settings the signature operations were registered with (None: forget them)."""
    global _settings
    _settings = settings


def configured_settings() -> Any:
    """The settings given to :func:`configure`, else the process's (:func:`senhealth.core.config.get_settings`)."""
    if _settings is not None:
        return _settings
    from senhealth.core.config import get_settings

    return get_settings()


def configured_services() -> PkiServices:
    """:func:`pki_services` of :func:`configured_settings`."""
    return pki_services(configured_settings())
