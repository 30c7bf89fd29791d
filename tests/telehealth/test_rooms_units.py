"""Room tokens, ICE servers and references, without a server (the live tests cover the routes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from pydantic import SecretStr

from senhealth.telehealth.rooms import RoomTokenError, RoomTokens, VideoConfig
from senhealth.telehealth.rooms.admission import normalise_reference, patients_of
from senhealth.telehealth.rooms.ice import ice_servers

KEY = ECKey.generate_key("P-256")
TOKENS = RoomTokens(KEY, "https://ehr.example.vn")


def _mint(**over: object) -> str:
    values: dict[str, object] = {
        "room": "appt-1", "participant": "Patient/p-1", "name": "An", "account": "acct-1", "kind": "patient",
        "facility": None, "ttl_s": 600,
    }  # fmt: skip
    values.update(over)
    token, _ = TOKENS.mint(**values)  # type: ignore[arg-type]
    return token


def test_a_token_verifies_for_its_room_only() -> None:
    claims = TOKENS.verify(_mint(), room="appt-1")
    assert (claims.room, claims.participant, claims.kind) == ("appt-1", "Patient/p-1", "patient")
    with pytest.raises(RoomTokenError):
        TOKENS.verify(_mint(), room="appt-2")


@pytest.mark.parametrize(
    "token",
    [
        "",
        "a.b.c",
        _mint(now=time.time() - 3600),  # expired
        RoomTokens(ECKey.generate_key("P-256"), "https://ehr.example.vn").mint(
            room="appt-1", participant="Patient/p-1", name="An", account="a", kind="patient", facility=None, ttl_s=600
        )[0],  # another key
        RoomTokens(KEY, "https://other.example.vn").mint(
            room="appt-1", participant="Patient/p-1", name="An", account="a", kind="patient", facility=None, ttl_s=600
        )[0],  # another issuer
        # same key, same claims, but an access token's type
        jwt.encode(
            {"alg": "ES256", "typ": "at+jwt"},
            {"iss": "https://ehr.example.vn", "aud": "urn:senhealth:telehealth-room:appt-1", "sub": "Patient/p-1",
             "room": "appt-1", "exp": int(time.time()) + 600, "jti": "x"},
            KEY,
        ),
    ],
)  # fmt: skip
def test_bad_tokens_are_refused(token: str) -> None:
    with pytest.raises(RoomTokenError):
        TOKENS.verify(token, room="appt-1")


def test_a_tampered_token_is_refused() -> None:
    head, payload, signature = _mint().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "Practitioner/someone-else"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    with pytest.raises(RoomTokenError):
        TOKENS.verify(f"{head}.{forged}.{signature}", room="appt-1")


def test_ice_servers_from_settings() -> None:
    assert ice_servers(VideoConfig(), room="r", participant="p") == []
    config = VideoConfig(
        stun_urls=["stun:turn.example.vn:3478"],
        turn_urls=["turn:turn.example.vn:3478", "turns:turn.example.vn:5349?transport=tcp"],
        turn_secret=SecretStr("s3cret"),
        turn_credential_ttl_s=600,
    )
    stun, turn = ice_servers(config, room="r", participant="Patient/p-1", now=1_800_000_000)
    assert stun == {"urls": ["stun:turn.example.vn:3478"]}
    assert turn["username"].startswith("1800000600:")
    digest = hmac.new(b"s3cret", turn["username"].encode(), hashlib.sha1).digest()
    assert turn["credential"] == base64.b64encode(digest).decode()
    fixed = VideoConfig(turn_urls=["turn:t.example.vn"], turn_username="u", turn_password=SecretStr("p"))
    assert ice_servers(fixed, room="r", participant="p") == [
        {"urls": ["turn:t.example.vn"], "username": "u", "credential": "p"}
    ]


def test_references() -> None:
    assert normalise_reference("Patient/p-1") == "Patient/p-1"
    assert normalise_reference("https://ehr.example.vn/fhir/Practitioner/x/_history/3") == "Practitioner/x"
    assert normalise_reference("#contained") is None and normalise_reference("urn:uuid:1") is None
    appointment = {
        "participant": [
            {"actor": {"reference": "Patient/a"}},
            {"actor": {"reference": "Practitioner/b"}},
            {"actor": {"display": "no reference"}},
            {"actor": {"reference": "Patient/a"}},
        ]
    }
    assert patients_of(appointment) == ("a",)
