"""The demo's signing set-up (``senhealth.demo.signing``): the development CA, a signing certificate for each
demo clinician and one for the demo hospital, issued once; the demo doctor is one of the hospital's
practitioners, so that the documents they write name them as author."""

from __future__ import annotations

import asyncio
from pathlib import Path

from cryptography.x509.oid import NameOID

from senhealth.cli_server import load_items
from senhealth.core import db
from senhealth.core.config import Settings
from senhealth.core.migrate import migrate
from senhealth.demo.accounts import ensure_demo_accounts
from senhealth.demo.generator import generate_province
from senhealth.demo.signing import SIGNERS, ensure_demo_signing
from senhealth.emr.pki.keystore import signing_key
from senhealth.security import accounts


def test_demo_signers_get_certificates_once(schema_url: str, tmp_path: Path) -> None:
    migrate(schema_url)
    settings = Settings(database_url=schema_url, data_dir=tmp_path)

    async def main() -> tuple[list[str], list[str], str, str | None]:
        await load_items(schema_url, generate_province(40, 3))
        await db.open_pool(schema_url, max_size=2)
        try:
            await ensure_demo_accounts(schema_url)
            doctor = await accounts.get_user("bs.demo")
            assert doctor is not None and doctor.facility
            hospital = doctor.facility.removeprefix("Organization/")
            first = await ensure_demo_signing(settings, hospital=hospital, hospital_name="Bệnh viện Demo")
            again = await ensure_demo_signing(settings, hospital=hospital, hospital_name="Bệnh viện Demo")
            async with db.get_pool().connection() as conn:
                cur = await conn.execute(
                    "SELECT count(*) FROM fhir_resource WHERE res_type = 'PractitionerRole'"
                    " AND content -> 'practitioner' ->> 'reference' = %s"
                    " AND content -> 'organization' ->> 'reference' = %s",
                    (doctor.practitioner, doctor.facility),
                )
                row = await cur.fetchone()
            assert row is not None and row[0] >= 1, "the demo doctor works at the demo hospital"
            return first, again, hospital, doctor.practitioner
        finally:
            await db.close_pool()

    first, again, hospital, practitioner = asyncio.run(main())
    assert practitioner is not None and practitioner.startswith("Practitioner/")
    assert sorted(first) == sorted([f"user:{u}" for u, _ in SIGNERS] + [f"organization:{hospital}"])
    assert again == []
    doctor_key = signing_key(settings, user="bs.demo")
    names = doctor_key.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    assert names[0].value == "BS. Demo"
    assert len(doctor_key.chain) == 2  # the development intermediate and root
    org_key = signing_key(settings, organization=hospital)
    assert org_key.certificate.serial_number != doctor_key.certificate.serial_number
    assert doctor_key.sign(b"x")  # the key is usable
