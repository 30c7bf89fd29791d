"""The SMART configuration document, ``/.well-known/smart-configuration``.

Spec: https://hl7.org/fhir/smart-app-launch/conformance.html (required and recommended fields,
capabilities), with OAuth metadata names from https://www.rfc-editor.org/rfc/rfc8414.
"""

from __future__ import annotations

from typing import Any

from senhealth.security.oauth.config import OAuthConfig

__all__ = ["CAPABILITIES", "SCOPES_SUPPORTED", "smart_configuration"]

CAPABILITIES = (
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-asymmetric",
    "sso-openid-connect",
    "context-ehr-patient",
    "context-standalone-patient",
    "permission-v2",
    "permission-v1",
    "permission-patient",
    "permission-user",
    "permission-offline",
    "permission-online",
    "authorize-post",
)

SCOPES_SUPPORTED = (
    "openid",
    "fhirUser",
    "profile",
    "launch",
    "launch/patient",
    "offline_access",
    "online_access",
    "patient/*.cruds",
    "patient/*.rs",
    "user/*.cruds",
    "user/*.rs",
    "system/*.cruds",
    "system/*.rs",
)


def smart_configuration(config: OAuthConfig) -> dict[str, Any]:
    base = config.issuer
    return {
        "issuer": base,
        "jwks_uri": f"{base}/.well-known/jwks.json",
        "authorization_endpoint": f"{base}/auth/authorize",
        "token_endpoint": config.token_endpoint,
        "introspection_endpoint": f"{base}/auth/introspect",
        "revocation_endpoint": f"{base}/auth/revoke",
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
        "response_types_supported": ["code"],
        "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384", "RS256", "ES256"],
        "scopes_supported": list(SCOPES_SUPPORTED),
        "code_challenge_methods_supported": ["S256"],
        "capabilities": list(CAPABILITIES),
        "id_token_signing_alg_values_supported": ["ES256"],
    }
