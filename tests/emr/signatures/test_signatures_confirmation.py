"""A patient's confirmation without a certificate: one-time code or biometrics, reported as a
confirmation and never as a digital signature (Circular 13/2025 Art. 3)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import orjson
import pytest
from emr_pki_support import TestPki
from signatures_support import AUTHOR, COMPOSITION, PATIENT, ref, run_store, seed

from senhealth.emr.signatures import (
    OtpMessage,
    Signer,
    document_signatures,
    install_otp_sender,
    pki_services,
    sign_document,
)
from senhealth.emr.signatures.confirmation import confirm_biometric, confirm_otp, request_otp
from senhealth.emr.signatures.model import CONFIRMATION_FORMAT
from senhealth.fhir.operations.registry import OperationError
from senhealth.fhir.store import FhirStore


class Outbox:
    """Captures the codes the platform sends (in place of an SMS gateway)."""

    def __init__(self) -> None:
        self.sent: list[OtpMessage] = []

    async def send(self, message: OtpMessage) -> None:
        self.sent.append(message)


def author(key: Any) -> Signer:
    return Signer("author", key, ref("Practitioner", AUTHOR))


def test_otp_confirmation(settings: Any, pki: TestPki) -> None:
    key = pki.issue_user("bs.lan")
    services = pki_services(settings)
    outbox = Outbox()

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        with pytest.raises(OperationError) as refused:  # nothing signed yet: nothing to confirm
            await request_otp(store, COMPOSITION)
        assert refused.value.status == 409
        signed = await sign_document(store, COMPOSITION, author(key), services)
        challenge = await request_otp(store, COMPOSITION, requested_by="nurse-1")
        assert len(outbox.sent) == 1
        message = outbox.sent[0]
        assert message.destination == "0909000111" and challenge.destination == "09******11"
        assert message.patient == f"Patient/{PATIENT}" and message.code in message.text
        wrong = "000000" if message.code != "000000" else "111111"
        with pytest.raises(OperationError) as refused:
            await confirm_otp(store, COMPOSITION, challenge.id, wrong)
        assert refused.value.status == 422 and "4" in refused.value.message  # tries left, counted
        provenance = await confirm_otp(store, COMPOSITION, challenge.id, message.code)
        sig = provenance["signature"][0]
        assert sig["sigFormat"] == CONFIRMATION_FORMAT and sig["who"]["reference"] == f"Patient/{PATIENT}"
        record = orjson.loads(base64.b64decode(sig["data"]))
        assert record["method"] == "otp" and record["bundle"] == f"Bundle/{signed.bundle_id}"
        assert message.code not in base64.b64decode(sig["data"]).decode()  # the code itself is not kept
        with pytest.raises(OperationError) as refused:  # one confirmation per document
            await confirm_otp(store, COMPOSITION, challenge.id, message.code)
        assert refused.value.status in (409,)
        infos = await document_signatures(store, COMPOSITION, services=services)
        assert [(i.role, i.kind) for i in infos] == [
            ("author", "digital-signature"),
            ("patient", "confirmation"),
        ]
        confirmation = infos[1]
        assert confirmation.valid and confirmation.method == "otp"
        assert (
            "not a digital signature" in confirmation.reason
            and "không phải chữ ký số" in confirmation.reason_vi
        )
        assert confirmation.certificate_subject is None and confirmation.timestamp is None

    install_otp_sender(outbox)
    run_store(settings.database_url, scenario)


def test_otp_limits(settings: Any, pki: TestPki) -> None:
    key = pki.issue_user("bs.lan")
    outbox = Outbox()

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        await sign_document(store, COMPOSITION, author(key), pki_services(settings))
        expired = await request_otp(store, COMPOSITION, ttl_s=1)
        async with store.pool.connection() as conn:
            await conn.execute(
                "UPDATE signature_otp SET expires_at = created_at + interval '1 millisecond' WHERE id = %s",
                (expired.id,),
            )
        with pytest.raises(OperationError) as refused:
            await confirm_otp(store, COMPOSITION, expired.id, outbox.sent[-1].code)
        assert refused.value.status == 410
        challenge = await request_otp(store, COMPOSITION)
        code = outbox.sent[-1].code
        wrong = "000000" if code != "000000" else "111111"
        for _ in range(5):
            with pytest.raises(OperationError) as refused:
                await confirm_otp(store, COMPOSITION, challenge.id, wrong)
            assert refused.value.status == 422
        with pytest.raises(OperationError) as refused:  # locked after five wrong codes, even the right one
            await confirm_otp(store, COMPOSITION, challenge.id, code)
        assert refused.value.status == 429
        with pytest.raises(OperationError) as refused:
            await confirm_otp(store, COMPOSITION, challenge.id, "12ab56")
        assert refused.value.status == 400

    install_otp_sender(outbox)
    run_store(settings.database_url, scenario)


def test_no_channel_no_code(settings: Any, pki: TestPki) -> None:
    key = pki.issue_user("bs.lan")

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        await sign_document(store, COMPOSITION, author(key), pki_services(settings))
        with pytest.raises(OperationError) as refused:
            await request_otp(store, COMPOSITION)
        assert refused.value.status == 503

    run_store(settings.database_url, scenario)


def test_biometric_confirmation_and_tampering(settings: Any, pki: TestPki) -> None:
    key = pki.issue_user("bs.lan")
    services = pki_services(settings)
    capture = b"synthetic fingerprint template bytes"

    async def scenario(store: FhirStore) -> None:
        await seed(store)
        signed = await sign_document(store, COMPOSITION, author(key), services)
        with pytest.raises(OperationError) as refused:
            await confirm_biometric(
                store, COMPOSITION, evidence_digest="abc", device="scanner-1", modality="fingerprint"
            )
        assert refused.value.status == 400 and refused.value.expression == "evidenceHash"
        digest = hashlib.sha256(capture).hexdigest()
        provenance = await confirm_biometric(
            store, COMPOSITION, evidence_digest=digest, device="FP-SCANNER-07", modality="fingerprint"
        )
        record = orjson.loads(base64.b64decode(provenance["signature"][0]["data"]))
        assert record == {
            "method": "biometric",
            "modality": "fingerprint",
            "evidenceDigest": digest,
            "device": "FP-SCANNER-07",
            "documentDigest": record["documentDigest"],
            "bundle": f"Bundle/{signed.bundle_id}",
            "confirmedAt": record["confirmedAt"],
        }
        info = (await document_signatures(store, COMPOSITION, services=services))[1]
        assert info.kind == "confirmation" and info.valid and info.method == "biometric"
        async with store.pool.connection() as conn:  # the document changes behind the store's back
            await conn.execute(
                "UPDATE fhir_resource SET content = jsonb_set(content, '{timestamp}', '\"2020-01-01T00:00:00Z\"') "
                "WHERE res_type = 'Bundle' AND res_id = %s",
                (signed.bundle_id,),
            )
        infos = await document_signatures(store, COMPOSITION, services=services)
        assert [i.valid for i in infos] == [False, False]
        assert "changed after the patient confirmed" in infos[1].reason

    run_store(settings.database_url, scenario)


def test_development_codes_go_to_the_log_never_in_production(tmp_path: Any, caplog: Any) -> None:
    import asyncio
    from datetime import UTC, datetime

    from senhealth.core.config import Settings
    from senhealth.emr.signatures import register_signature_operations
    from senhealth.emr.signatures.confirmation import LoggingOtpSender, otp_sender

    register_signature_operations(Settings(environment="production", data_dir=tmp_path, secret_key="x" * 40))
    assert otp_sender() is None
    register_signature_operations(Settings(environment="development", data_dir=tmp_path))
    sender = otp_sender()
    assert isinstance(sender, LoggingOtpSender)
    message = OtpMessage("Patient/p", "0909000111", "123456", "…", "Composition/c", datetime.now(UTC))
    asyncio.run(sender.send(message))
    assert "123456" in caplog.text and "0909000111" not in caplog.text
