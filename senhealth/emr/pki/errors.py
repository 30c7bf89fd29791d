"""Errors of the PKI: each message Vietnamese first, then English."""

from __future__ import annotations

from senhealth.core.errors import SenHealthError

__all__ = [
    "NoSigningKey",
    "NotInitialised",
    "PkiError",
    "TimestampError",
    "UnknownCertificate",
]


class PkiError(SenHealthError):
    """Base of the PKI's errors."""

    code = "processing"


class NoSigningKey(PkiError):
    """No signing key (certificate + private key) exists for the user or organisation asked for."""

    code = "not-found"


class NotInitialised(PkiError):
    """The certificate authority has not been created (``senhealth pki init``)."""

    code = "not-found"


class UnknownCertificate(PkiError):
    """No certificate with this serial number was issued here."""

    code = "not-found"


class TimestampError(PkiError):
    """A timestamp could not be obtained, or a timestamp token does not verify."""

    code = "invalid"
