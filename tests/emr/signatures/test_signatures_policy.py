"""``$sign`` and ``$confirm`` under the platform's role policy (``RolePolicy``): the care roles sign, a patient
signs or confirms their own document as patient without the right to update it (the operations authorise
their writes themselves: ``Operation.authorizes_writes``), officers and analysts do not sign at all.
"""

from __future__ import annotations

from typing import Any

import httpx
from emr_pki_support import TestPki
from signatures_support import COMPOSITION, FACILITY, PATIENT, clinical_resources, composition
from test_signatures_api import accounts, bearer, outcome, params, run

from senhealth.fhir import access
from senhealth.fhir.access import Principal
from senhealth.fhir.json import dumps
from senhealth.security.accounts import create_user
from senhealth.security.policy import RolePolicy


def test_who_may_sign_under_the_role_policy(settings: Any, pki: TestPki) -> None:
    for user in ("bs.lan", "bn.binh", "pt.an"):
        pki.issue_user(user)
    pki.issue_organization(FACILITY, "Bệnh viện Đa khoa Sen Hồng")

    async def scenario(c: httpx.AsyncClient, tokens: dict[str, Principal]) -> None:
        await accounts(tokens)
        analyst = await create_user(
            "pt.an", "mật-khẩu-thử-nghiệm-42", ["data_analyst"], display_name="Phân tích"
        )
        tokens["analyst"] = Principal(kind="user", subject=analyst.id, roles=frozenset({"data_analyst"}))
        for resource in [*clinical_resources(), composition()]:
            r = await c.put(
                f"/fhir/{resource['resourceType']}/{resource['id']}",
                content=dumps(resource),
                headers=bearer("doctor"),
            )
            assert r.status_code in (200, 201), r.text[:300]
        access.install(policy=RolePolicy(), sink=access.NO_AUDIT)
        sign = f"/fhir/Composition/{COMPOSITION}/$sign"
        # the patient may not change the document itself...
        r = await c.put(
            f"/fhir/Composition/{COMPOSITION}", content=dumps(composition()), headers=bearer("patient")
        )
        assert r.status_code == 403, r.text[:300]
        r = await c.post(sign, json=params(), headers=bearer("doctor"))
        assert r.status_code == 201, r.text[:800]
        # ...but signs it as patient
        r = await c.post(sign, json=params(role="patient"), headers=bearer("patient"))
        assert r.status_code == 200, r.text[:800]
        assert "a patient cannot sign as verifier" in outcome(
            await c.post(sign, json=params(role="verifier"), headers=bearer("patient")), 403
        )
        # an analyst signs nothing (and cannot see the identified document either)
        r = await c.post(sign, json=params(role="witness"), headers=bearer("analyst"))
        assert r.status_code in (403, 404), r.text[:300]
        r = await c.get(f"/fhir/Composition/{COMPOSITION}/$verify", headers=bearer("patient"))
        assert r.status_code == 200
        roles = [
            next(q.get("valueCode") or q.get("valueString") for q in p["part"] if q["name"] == "role")
            for p in r.json()["parameter"]
            if p["name"] == "signature"
        ]
        assert roles == ["author", "patient"]
        # the signed document is the patient's data: another patient does not find it
        other = await create_user(
            "bn.khac", "mật-khẩu-thử-nghiệm-42", ["patient"], patient="Patient/someone-else"
        )
        tokens["other"] = Principal(
            kind="patient", subject=other.id, roles=frozenset({"patient"}), patient="someone-else"
        )
        found = (await c.get("/fhir/Bundle?type=document", headers=bearer("other"))).json()
        assert found.get("total", len(found.get("entry", []))) == 0 and not found.get("entry")
        mine = (await c.get("/fhir/Bundle?type=document", headers=bearer("patient"))).json()
        assert [e["resource"]["entry"][0]["resource"]["subject"]["reference"] for e in mine["entry"]] == [
            f"Patient/{PATIENT}"
        ]

    try:
        run(settings, scenario)
    finally:
        access.install(policy=access.OPEN, sink=access.NO_AUDIT)
