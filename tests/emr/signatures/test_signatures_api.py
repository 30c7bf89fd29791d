"""The signature operations through the REST API (``create_app``): ``$sign``, ``$verify``, ``$amend``,
``$confirm``, and the immutability of signed Compositions over HTTP.

Spec: https://hl7.org/fhir/R4/operations.html, https://hl7.org/fhir/R4/http.html#update / #delete.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx
from emr_pki_support import TestPki
from signatures_support import AUTHOR, COMPOSITION, FACILITY, HEAD, PATIENT, clinical_resources, composition

from senhealth.api import create_app
from senhealth.emr.signatures import OtpMessage, install_otp_sender, register_signature_operations
from senhealth.fhir.access import Principal
from senhealth.fhir.json import dumps
from senhealth.security.accounts import create_user

FHIR = "application/fhir+json"
HEADERS = {"Content-Type": FHIR, "Accept": FHIR}
PASSWORD = "mật-khẩu-thử-nghiệm-42"


class Outbox:
    def __init__(self) -> None:
        self.sent: list[OtpMessage] = []

    async def send(self, message: OtpMessage) -> None:
        self.sent.append(message)


def params(**values: Any) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for name, value in values.items():
        if isinstance(value, dict):
            out.append({"name": name, "resource": value})
        else:
            out.append({"name": name, "valueString" if name != "role" else "valueCode": value})
    return {"resourceType": "Parameters", "parameter": out}


def param(body: dict[str, Any], name: str) -> list[Any]:
    found = []
    for p in body.get("parameter", []):
        if p["name"] == name:
            found.append(
                p.get("resource") or p.get("part") or next(v for k, v in p.items() if k.startswith("value"))
            )
    return found


def parts(part_list: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in part_list:
        value = next((v for k, v in p.items() if k.startswith("value")), p.get("part"))
        out.setdefault(p["name"], value)
    return out


def outcome(r: httpx.Response, status: int) -> str:
    assert r.status_code == status, (r.status_code, r.text[:800])
    body = r.json()
    assert body["resourceType"] == "OperationOutcome"
    return " | ".join(i.get("diagnostics", "") for i in body["issue"])


def run(
    settings: Any, scenario: Callable[[httpx.AsyncClient, dict[str, Principal]], Awaitable[None]]
) -> None:
    tokens: dict[str, Principal] = {}

    async def authenticate(headers: Mapping[str, str]) -> Principal | None:
        value = headers.get("authorization", "")
        return tokens.get(value.removeprefix("Bearer ")) if value else None

    async def main() -> None:
        register_signature_operations(settings)
        app = create_app(settings, authenticate=authenticate)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                await scenario(client, tokens)

    asyncio.run(main())


async def accounts(tokens: dict[str, Principal]) -> None:
    """Real accounts (the signer's username is looked up from the token's subject) and their tokens."""
    org = f"Organization/{FACILITY}"
    doctor = await create_user(
        "bs.lan",
        PASSWORD,
        ["doctor"],
        display_name="BS. Lê Văn Lân",
        facility=org,
        practitioner=f"Practitioner/{AUTHOR}",
    )
    head = await create_user(
        "bs.hoa",
        PASSWORD,
        ["doctor"],
        display_name="BS CKII. Phạm Thị Hoa",
        facility=org,
        practitioner=f"Practitioner/{HEAD}",
    )
    admin = await create_user(
        "qt.sen", PASSWORD, ["facility_admin"], display_name="Quản trị Sen Hồng", facility=org
    )
    patient = await create_user(
        "bn.binh", PASSWORD, ["patient"], display_name="Nguyễn Thị Bình", patient=f"Patient/{PATIENT}"
    )
    for name, user in (("doctor", doctor), ("head", head), ("admin", admin)):
        tokens[name] = Principal(
            kind="user",
            subject=user.id,
            roles=frozenset(user.roles),
            facility=org,
            practitioner=(user.practitioner or "").removeprefix("Practitioner/") or None,
        )
    tokens["patient"] = Principal(
        kind="patient", subject=patient.id, roles=frozenset({"patient"}), patient=PATIENT
    )


def bearer(name: str) -> dict[str, str]:
    return {**HEADERS, "Authorization": f"Bearer {name}"}


def test_sign_verify_amend_confirm_over_http(settings: Any, pki: TestPki) -> None:
    for user in ("bs.lan", "bs.hoa", "bn.binh"):
        pki.issue_user(user)
    pki.issue_organization(FACILITY, "Bệnh viện Đa khoa Sen Hồng")
    outbox = Outbox()
    install_otp_sender(outbox)

    async def scenario(c: httpx.AsyncClient, tokens: dict[str, Principal]) -> None:
        await accounts(tokens)
        for resource in [*clinical_resources(), composition(), composition("comp-sig-2")]:
            r = await c.put(
                f"/fhir/{resource['resourceType']}/{resource['id']}", content=dumps(resource), headers=HEADERS
            )
            assert r.status_code in (200, 201), r.text[:300]
        sign = f"/fhir/Composition/{COMPOSITION}/$sign"

        assert "signed-in" in outcome(await c.post(sign, json=params(), headers=HEADERS), 401)
        assert "not an author" in outcome(await c.post(sign, json=params(), headers=bearer("head")), 403)
        assert "role" in outcome(await c.post(sign, json=params(role="chief"), headers=bearer("doctor")), 400)
        assert (await c.get(sign, headers=bearer("doctor"))).status_code == 405

        r = await c.post(sign, json=params(), headers=bearer("doctor"))
        assert r.status_code == 201, r.text[:800]
        document = param(r.json(), "document")[0]
        provenance = param(r.json(), "provenance")[0]
        assert (
            document["resourceType"] == "Bundle"
            and document["signature"]["who"]["reference"] == f"Practitioner/{AUTHOR}"
        )
        assert document["entry"][0]["fullUrl"] == f"http://test/fhir/Composition/{COMPOSITION}"
        assert provenance["target"][0]["reference"] == f"Bundle/{document['id']}/_history/1"
        assert (await c.get(f"/fhir/Bundle/{document['id']}", headers=HEADERS)).json()[
            "signature"
        ] == document["signature"]

        assert "only the patient" in outcome(
            await c.post(sign, json=params(role="patient"), headers=bearer("doctor")), 403
        )
        assert "only a user of" in outcome(
            await c.post(sign, json=params(role="organization"), headers=bearer("patient")), 403
        )
        for who, role in (("head", "verifier"), ("patient", "patient"), ("admin", "organization")):
            r = await c.post(sign, json=params(role=role), headers=bearer(who))
            assert r.status_code == 200, (role, r.text[:800])
        assert "already signed" in outcome(
            await c.post(sign, json=params(role="verifier"), headers=bearer("head")), 409
        )

        r = await c.get(f"/fhir/Composition/{COMPOSITION}/$verify", headers=bearer("doctor"))
        assert r.status_code == 200, r.text[:800]
        body = r.json()
        assert param(body, "valid") == [True] and param(body, "signed") == [True]
        assert param(body, "document") == [{"reference": f"Bundle/{document['id']}"}]
        signatures = [parts(p) for p in param(body, "signature")]
        assert [s["role"] for s in signatures] == ["author", "verifier", "patient", "organization"]
        for s in signatures:
            assert s["valid"] is True and s["kind"] == "digital-signature"
            assert {"signer", "time", "reason", "timestamp", "certificate"} <= set(s)
            assert " / " in s["reason"] and s["reason"].startswith("Hợp lệ")
        assert signatures[3]["signer"] == "Bệnh viện Đa khoa Sen Hồng"
        chain = param(body, "chain")[0]
        assert len(chain) == 1 and parts(chain[0]["part"])["composition"] == {
            "reference": f"Composition/{COMPOSITION}"
        }

        # a signed Composition is not changed or deleted in place
        changed = composition(title="Giấy ra viện (sửa thẳng)")
        assert "$amend" in outcome(
            await c.put(f"/fhir/Composition/{COMPOSITION}", content=dumps(changed), headers=bearer("doctor")),
            422,
        )
        assert "$amend" in outcome(
            await c.delete(f"/fhir/Composition/{COMPOSITION}", headers=bearer("doctor")), 409
        )
        assert outcome(await c.delete(f"/fhir/Bundle/{document['id']}", headers=bearer("doctor")), 409)
        patch = [{"op": "replace", "path": "/title", "value": "Giấy ra viện (vá)"}]
        r = await c.patch(
            f"/fhir/Composition/{COMPOSITION}",
            json=patch,
            headers={**bearer("doctor"), "Content-Type": "application/json-patch+json"},
        )
        assert "$amend" in outcome(r, 422)
        transaction = {
            "resourceType": "Bundle",
            "type": "transaction",
            "entry": [
                {"resource": changed, "request": {"method": "PUT", "url": f"Composition/{COMPOSITION}"}}
            ],
        }
        r = await c.post("/fhir", content=dumps(transaction), headers=bearer("doctor"))
        assert r.status_code == 422, r.text[:500]

        # the correction
        corrected = composition(title="Giấy ra viện (bản sửa đổi)")
        r = await c.post(
            f"/fhir/Composition/{COMPOSITION}/$amend",
            content=dumps(params(resource=corrected)),
            headers=bearer("doctor"),
        )
        assert r.status_code == 201, r.text[:800]
        new = param(r.json(), "composition")[0]
        assert new["relatesTo"][0]["targetReference"] == {"reference": f"Composition/{COMPOSITION}"}
        assert r.headers["location"].endswith(f"/Composition/{new['id']}")
        for start in (COMPOSITION, new["id"]):
            body = (await c.get(f"/fhir/Composition/{start}/$verify", headers=bearer("doctor"))).json()
            links = [parts(link["part"]) for link in param(body, "chain")[0]]
            assert [link["composition"]["reference"] for link in links] == [
                f"Composition/{COMPOSITION}",
                f"Composition/{new['id']}",
            ]
            assert all(link["signed"] and link["valid"] for link in links)
            assert links[1]["replaces"] == {"reference": f"Composition/{COMPOSITION}"}
        original = (await c.get(f"/fhir/Composition/{COMPOSITION}", headers=HEADERS)).json()
        assert original["meta"]["versionId"] == "1" and original["title"] == "Giấy ra viện"

        # the patient confirms the correction by a one-time code
        confirm = f"/fhir/Composition/{new['id']}/$confirm"
        r = await c.post(confirm, json=params(method="otp"), headers=bearer("doctor"))
        assert r.status_code == 202, r.text[:800]
        challenge = param(r.json(), "challenge")[0]
        assert param(r.json(), "destination") == ["09******11"]
        r = await c.post(
            confirm,
            json=params(method="otp", challenge=challenge, code=outbox.sent[-1].code),
            headers=bearer("patient"),
        )
        assert r.status_code == 201, r.text[:800]
        body = (await c.get(f"/fhir/Composition/{new['id']}/$verify", headers=bearer("doctor"))).json()
        kinds = [(s["role"], s["kind"], s["valid"]) for s in (parts(p) for p in param(body, "signature"))]
        assert kinds == [("author", "digital-signature", True), ("patient", "confirmation", True)]

        # revoked: no new signature; the earlier ones stay valid at their time, saying so
        await asyncio.sleep(1.1)
        pki.revoke(_cert(pki, "bs.lan"))
        reason = outcome(
            await c.post("/fhir/Composition/comp-sig-2/$sign", json=params(), headers=bearer("doctor")), 422
        )
        assert "thu hồi" in reason and "revoked" in reason
        body = (await c.get("/fhir/Composition/comp-sig-2/$verify", headers=bearer("head"))).json()
        assert param(body, "valid") == [False] and param(body, "signed") == [False]
        assert param(body, "signature") == [] and param(body, "document") == []
        body = (await c.get(f"/fhir/Composition/{COMPOSITION}/$verify", headers=bearer("head"))).json()
        author = parts(param(body, "signature")[0])
        assert author["valid"] is True and "revoked later" in author["reason"] and "revokedAt" in author

    run(settings, scenario)


def _cert(pki: TestPki, user: str) -> Any:
    from senhealth.emr.pki.keystore import certificate_path, load_certificates

    return load_certificates(certificate_path(pki.folder, f"user:{user}"))[0]
