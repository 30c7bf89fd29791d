"""Canonical JSON of a document Bundle, and the compact detached JWS over it (real certificates).

Spec: https://hl7.org/fhir/R4/json.html#canonical (``#document``), RFC 7515 §5 and Appendix F.
"""

from __future__ import annotations

import base64
import datetime as dt
from decimal import Decimal
from typing import Any

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from emr_pki_support import TestPki

from senhealth.emr.pki.keys import LocalSigningKey
from senhealth.emr.signatures.canonical import DOCUMENT_TARGET_FORMAT, canonical_document, canonical_json
from senhealth.emr.signatures.jws import JwsError, b64url, parse_detached, sign_detached, verify_detached
from senhealth.fhir.json import dumps, parse


def document(**root: Any) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": "b-1",
        "meta": {"versionId": "1", "lastUpdated": "2026-03-09T03:30:00.000Z"},
        "type": "document",
        "identifier": {
            "system": "urn:ietf:rfc:3986",
            "value": "urn:uuid:5d1a8c0e-0000-4000-8000-000000000001",
        },
        "timestamp": "2026-03-09T03:30:00.000Z",
        "entry": [
            {
                "fullUrl": "http://example.vn/fhir/Composition/c-1",
                "resource": {
                    "resourceType": "Composition",
                    "id": "c-1",
                    "meta": {"versionId": "3"},
                    "text": {
                        "status": "generated",
                        "div": '<div xmlns="http://www.w3.org/1999/xhtml">Giấy ra viện</div>',
                    },
                    "title": "Giấy ra viện",
                },
            },
            {
                "fullUrl": "http://example.vn/fhir/Observation/o-1",
                "resource": {
                    "resourceType": "Observation",
                    "id": "o-1",
                    "valueQuantity": {"value": Decimal("12.50")},
                },
            },
        ],
        **root,
    }


def test_document_form_excludes_root_id_meta_signature_only() -> None:
    plain = canonical_document(document())
    moved = canonical_document(
        document(id="other", meta={"versionId": "9", "tag": [{"code": "x"}]}, signature={"data": "AAAA"})
    )
    assert plain == moved  # Bundle.id, Bundle.meta and Bundle.signature are outside the signed bytes
    data = orjson.loads(plain)
    assert set(data) == {"resourceType", "type", "identifier", "timestamp", "entry"}
    # the entries are whole: their ids, meta and narrative are signed
    comp = data["entry"][0]["resource"]
    assert comp["meta"] == {"versionId": "3"} and "Giấy ra viện" in comp["text"]["div"]


def test_bytes_are_sorted_compact_utf8_with_exact_decimals() -> None:
    raw = canonical_document(document())
    assert raw == dumps(parse(raw), sort_keys=True)  # already in its own canonical form
    assert b"\n" not in raw and b'": ' not in raw and b", " not in raw  # no whitespace between tokens
    assert raw.startswith(b'{"entry":[{"fullUrl":')  # members sorted by name
    assert "Giấy ra viện".encode() in raw  # non-ASCII as UTF-8, not \u escapes
    assert b'"value":12.50' in raw  # a decimal keeps its precision
    assert canonical_json({"b": 1, "a": [True, None, "\n\u0001"]}) == b'{"a":[true,null,"\\n\\u0001"],"b":1}'


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["entry"][1]["resource"]["valueQuantity"].update(value=Decimal("12.5")),
        lambda d: d["entry"][0]["resource"]["text"].update(
            div='<div xmlns="http://www.w3.org/1999/xhtml">x</div>'
        ),
        lambda d: d["entry"][0]["resource"]["meta"].update(versionId="4"),
        lambda d: d["entry"][0].update(fullUrl="http://elsewhere/Composition/c-1"),
        lambda d: d.update(timestamp="2026-03-09T03:30:01.000Z"),
        lambda d: d["entry"].reverse(),
    ],
)
def test_any_signed_change_changes_the_bytes(change: Any) -> None:
    changed = document()
    change(changed)
    assert canonical_document(changed) != canonical_document(document())


def test_the_form_survives_the_fhir_json_round_trip() -> None:
    original = document()
    again = parse(dumps(original))
    assert canonical_document(again) == canonical_document(original)


def test_only_document_bundles() -> None:
    with pytest.raises(ValueError, match="document"):
        canonical_document({**document(), "type": "collection"})
    with pytest.raises(ValueError, match="Bundle"):
        canonical_document({"resourceType": "Composition"})
    assert DOCUMENT_TARGET_FORMAT.endswith(
        "canonicalization=http://hl7.org/fhir/canonicalization/json#document"
    )


def test_rs256_detached_round_trip(pki: TestPki) -> None:
    key = pki.issue_user("bs.jws")
    payload = canonical_document(document())
    token = sign_detached(payload, {"sigT": "2026-03-09T03:30:00Z"}, key)
    head, body, sig = token.split(".")
    assert body == ""  # detached
    header = orjson.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    assert header["alg"] == "RS256" and header["sigT"] == "2026-03-09T03:30:00Z"
    chain = [x509.load_der_x509_certificate(base64.b64decode(c)) for c in header["x5c"]]
    assert chain[0] == key.certificate and chain[1:] == list(pki.chain)
    assert verify_detached(token, payload).header == header
    with pytest.raises(JwsError, match="changed after signing"):
        verify_detached(token, payload.replace(b"12.50", b"12.51"))
    with pytest.raises(JwsError):
        parse_detached(f"{head}.{b64url(payload)}.{sig}")  # an attached payload is not what was asked for
    forged = b64url(orjson.dumps({**header, "alg": "none"}))
    with pytest.raises(JwsError, match="not accepted"):
        parse_detached(f"{forged}..{sig}")
    crit = b64url(orjson.dumps({**header, "crit": ["exp"], "exp": 1}))
    with pytest.raises(JwsError, match="critical"):
        parse_detached(f"{crit}..{sig}")
    other = pki.issue_user("bs.other")
    swapped = b64url(
        orjson.dumps({**header, "x5c": [base64.b64encode(other.certificate.public_bytes(_der())).decode()]})
    )
    with pytest.raises(JwsError):  # the header is signed: replacing the certificate breaks the signature
        verify_detached(f"{swapped}..{sig}", payload)


def _der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def test_es256_signature_is_r_concat_s() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "EC test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(private, hashes.SHA256())
    )
    key = LocalSigningKey(cert, (), private)
    token = sign_detached(b'{"a":1}', {}, key)
    jws = verify_detached(token, b'{"a":1}')
    assert jws.algorithm == "ES256" and len(jws.signature) == 64
    with pytest.raises(JwsError):
        verify_detached(token, b'{"a":2}')
