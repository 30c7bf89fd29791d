"""RFC 3161 timestamps: ask a TSA for a token over data, and verify a token against the data.

Spec: https://www.rfc-editor.org/rfc/rfc3161 (§2.4 request and response, §3.4 HTTP transport),
https://www.rfc-editor.org/rfc/rfc5816 (ESSCertIDv2).

:func:`request_timestamp` sends a TimeStampReq (SHA-256 imprint of the data, a random nonce, certReq)
and checks the answer (status granted, same imprint and nonce) before returning the DER
TimeStampToken (a CMS ContentInfo). :func:`verify_timestamp` checks the token's signature and the
signing-certificate binding with pyHanko (``validate_tst_signed_data``), that its imprint is the SHA-256
of the data, and that the TSA certificate chains to the trust roots at the token's time with
extendedKeyUsage timeStamping (:func:`senhealth.emr.pki.validation.check_certificate`, revocation
included); it returns the time of the token.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, Final

import httpx
from asn1crypto import cms, tsp
from cryptography import x509

from senhealth.emr.pki.errors import TimestampError
from senhealth.emr.pki.timestamp_authority import TimeStampResp

__all__ = ["TIMESTAMP_TIMEOUT_S", "request_timestamp", "timestamp_time", "verify_timestamp"]

#: Seconds to wait for the TSA.
TIMESTAMP_TIMEOUT_S: Final = 10.0


def _request(digest: bytes, nonce: int) -> bytes:
    return bytes(
        tsp.TimeStampReq(
            {
                "version": "v1",
                "message_imprint": {"hash_algorithm": {"algorithm": "sha256"}, "hashed_message": digest},
                "nonce": nonce,
                "cert_req": True,
            }
        ).dump()
    )


def request_timestamp(data: bytes, tsa_url: str, *, timeout: float = TIMESTAMP_TIMEOUT_S) -> bytes:
    """The DER TimeStampToken of ``tsa_url`` over SHA-256 of ``data`` (raises :class:`TimestampError`)."""
    digest = hashlib.sha256(data).digest()
    nonce = secrets.randbits(63)
    try:
        answer = httpx.post(
            tsa_url,
            content=_request(digest, nonce),
            headers={"Content-Type": "application/timestamp-query", "Accept": "application/timestamp-reply"},
            timeout=timeout,
        )
    except httpx.HTTPError as e:
        raise TimestampError(
            f"Không liên lạc được máy chủ cấp dấu thời gian / the TSA cannot be reached: {e}"
        ) from e
    if answer.status_code != 200:
        raise TimestampError(
            f"Máy chủ cấp dấu thời gian từ chối / the TSA answered HTTP {answer.status_code}"
        )
    try:
        response = TimeStampResp.load(answer.content)
        status = response["status"]["status"].native
        token = response["time_stamp_token"]
        if status not in ("granted", "granted_with_mods") or token.native is None:
            texts = response["status"]["status_string"].native or []
            raise TimestampError(
                f"Máy chủ cấp dấu thời gian từ chối / the TSA refused the request: {status} {' '.join(texts)}".strip()
            )
        info = token["content"]["encap_content_info"]["content"].parsed
        imprint = info["message_imprint"]
        if (
            imprint["hash_algorithm"]["algorithm"].native != "sha256"
            or imprint["hashed_message"].native != digest
        ):
            raise TimestampError("Dấu thời gian không khớp dữ liệu / the TSA's token is over other data")
        if info["nonce"].native != nonce:
            raise TimestampError("Dấu thời gian sai nonce / the TSA's token carries another nonce")
        return bytes(token.dump())
    except TimestampError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise TimestampError(
            f"Trả lời không hợp lệ của máy chủ dấu thời gian / malformed TSA answer: {e}"
        ) from e


def _tst_info(token: cms.ContentInfo) -> tsp.TSTInfo:
    signed = token["content"]
    if (
        token["content_type"].native != "signed_data"
        or signed["encap_content_info"]["content_type"].native != "tst_info"
    ):
        raise TimestampError("Không phải dấu thời gian RFC 3161 / not an RFC 3161 TimeStampToken")
    info: tsp.TSTInfo = signed["encap_content_info"]["content"].parsed
    return info


def timestamp_time(token: bytes) -> datetime:
    """The genTime of a token, unverified (for display; use :func:`verify_timestamp` to rely on it)."""
    try:
        gen_time: datetime = _tst_info(cms.ContentInfo.load(token))["gen_time"].native
    except (ValueError, TypeError, KeyError) as e:
        raise TimestampError(f"Dấu thời gian hỏng / malformed timestamp token: {e}") from e
    return gen_time.astimezone(UTC)


async def _validate(
    token: cms.ContentInfo, digest: bytes, trust_roots: Sequence[x509.Certificate]
) -> dict[str, Any]:
    from asn1crypto import x509 as asn1_x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko.sign.validation.generic_cms import validate_tst_signed_data
    from pyhanko_certvalidator import ValidationContext

    # Signature and signing-certificate binding here; the TSA certificate's status (revocation included)
    # is judged by check_certificate afterwards.
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(c.public_bytes(Encoding.DER)) for c in trust_roots],
        allow_fetching=False,
        revocation_mode="soft-fail",
    )
    result: dict[str, Any] = await validate_tst_signed_data(
        token["content"], context, lambda _algorithm: digest
    )
    return result


def verify_timestamp(
    token: bytes, data: bytes, trust_roots: Sequence[x509.Certificate], *, check_revocation: bool = True
) -> datetime:
    """The time a valid ``token`` proves ``data`` existed at; raises :class:`TimestampError` otherwise."""
    from cryptography.hazmat.primitives.serialization import Encoding

    from senhealth.emr.pki.validation import check_certificate

    try:
        content = cms.ContentInfo.load(token)
        info = _tst_info(content)
        gen_time: datetime = info["gen_time"].native.astimezone(UTC)
        imprint = info["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        hashed = imprint["hashed_message"].native
        certificates = [c.chosen for c in content["content"]["certificates"] or []]
    except TimestampError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise TimestampError(f"Dấu thời gian hỏng / malformed timestamp token: {e}") from e
    if algorithm not in ("sha256", "sha384", "sha512"):
        raise TimestampError(f"Thuật toán băm không hỗ trợ / unsupported imprint hash {algorithm}")
    if hashed != hashlib.new(algorithm, data).digest():
        raise TimestampError(
            "Dấu thời gian không khớp dữ liệu / the timestamp is over other data (data changed)"
        )
    try:
        status = _run(_validate(content, hashed, trust_roots))
    except Exception as e:  # pyHanko raises several kinds for a broken token
        raise TimestampError(
            f"Chữ ký dấu thời gian không hợp lệ / the timestamp's signature is invalid: {e}"
        ) from e
    if not status.get("intact") or not status.get("valid"):
        raise TimestampError("Chữ ký dấu thời gian không hợp lệ / the timestamp's signature is invalid")
    signer = status.get("signing_cert")
    if signer is None:
        raise TimestampError(
            "Thiếu chứng thư của máy chủ dấu thời gian / the token does not carry the TSA's certificate"
        )
    tsa_cert = x509.load_der_x509_certificate(signer.dump())
    tsa_der = tsa_cert.public_bytes(Encoding.DER)
    others = tuple(x509.load_der_x509_certificate(c.dump()) for c in certificates if c.dump() != tsa_der)
    check = check_certificate(
        tsa_cert,
        others,
        at=gen_time,
        trust_roots=trust_roots,
        purpose="timestamping",
        check_revocation=check_revocation,
    )
    if not check.valid:
        raise TimestampError(
            f"Chứng thư máy chủ dấu thời gian không hợp lệ: {check.reason_vi} / the TSA's certificate is not "
            f"valid: {check.reason}"
        )
    return gen_time


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def _run(work: Coroutine[Any, Any, dict[str, Any]]) -> dict[str, Any]:
    if not _loop_running():
        return asyncio.run(work)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:  # inside an event loop: run it on its own loop
        return pool.submit(asyncio.run, work).result()
