"""Public-key infrastructure behind signed medical records (Decree 23/2025, docs/pki.md).

A development certificate authority (root + intermediate), the register of issued certificates and
revocations, CRLs, an OCSP responder, an RFC 3161 timestamp authority, key stores (local PEM and PKCS#11)
and certificate path validation with revocation checking.
"""
