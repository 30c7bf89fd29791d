"""Signed documents are immutable: the guard that refuses to change or delete them in place.

Spec: https://hl7.org/fhir/R4/http.html#update and #delete (409 Conflict for a delete refused for reasons
of the resource itself; 422 for an update that breaks the server's business rules), Circular 13/2025
(no overwriting of signed content; a correction is a new signed version that points at the one it
corrects: :mod:`senhealth.emr.signatures.amendment`).

The guard is a write hook (:mod:`senhealth.fhir.store.hooks`): the store calls it inside the writer's
transaction for every create, update, patch and delete of a Composition, Bundle or Provenance, through
every write path of :class:`~senhealth.fhir.store.StoreTx` (REST, batch and transaction Bundles,
``$meta-add``, operations); when it raises, the transaction rolls back and the REST layer answers with
the error's status. No write hook runs for other types, so the guard costs nothing elsewhere. The bulk
loader (``FhirStore.load``, ``$import``) calls no hook: it is an administrator's path and is not guarded.

What it refuses:

- an update (422) or delete (409) of a **Composition** that has a signed document, unless the update
  changes only ``meta`` (tags, security labels, profiles: outside the signed bytes, which are the stored
  Bundle's anyway; a legal hold or a retention label may still be set);
- an update or delete of a **signed document Bundle** or a **signature Provenance** (409), whatever it
  changes: they are the record of what was signed;
- the creation of a Bundle or Provenance carrying this package's record tags
  (:data:`~senhealth.emr.signatures.model.RECORD_TAG_SYSTEM`) by anyone but the signing code (403): a
  forged "signed document" could otherwise lock a Composition or fake a signature record.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

from senhealth.emr.signatures.canonical import canonical_json
from senhealth.emr.signatures.model import SIGNATURE_PROVENANCE_TAG, SIGNED_BUNDLE_TAG
from senhealth.emr.signatures.records import find_signed_bundles, has_tag
from senhealth.fhir.store import StoreError, StoreTx
from senhealth.fhir.store.hooks import Write, register_write_hook, unregister_write_hook

__all__ = [
    "GUARDED_TYPES",
    "SignedRecordLocked",
    "immutability_guard",
    "install_immutability_guard",
    "remove_immutability_guard",
    "signature_writes",
]

GUARDED_TYPES: Final = frozenset({"Composition", "Bundle", "Provenance"})
_trusted: ContextVar[bool] = ContextVar("senhealth_signature_writes", default=False)


class SignedRecordLocked(StoreError):
    """A change to signed content, refused; the message says what to do instead."""

    code = "business-rule"

    def __init__(self, message: str, status: int, expression: str | None = None) -> None:
        super().__init__(message, expression)
        self.status = status


@contextmanager
def signature_writes() -> Iterator[None]:
    """Inside this block the signing code may create tagged signature records."""
    token = _trusted.set(True)
    try:
        yield
    finally:
        _trusted.reset(token)


def _without_meta(resource: dict[str, Any] | None) -> bytes:
    return canonical_json({k: v for k, v in (resource or {}).items() if k != "meta"})


def _amend_hint(res_id: str) -> str:
    return (
        f"Hồ sơ Composition/{res_id} đã được ký số: không được sửa hay xóa; hãy lập bản sửa đổi bằng "
        f"Composition/{res_id}/$amend / Composition/{res_id} is signed: it cannot be changed or deleted in "
        f"place; create an amendment with Composition/{res_id}/$amend"
    )


async def _check_composition(tx: StoreTx, write: Write) -> None:
    if write.interaction == "create":
        return
    if write.interaction == "update" and _without_meta(write.previous) == _without_meta(write.content):
        return
    if await find_signed_bundles(tx.store, write.res_id, conn=tx.conn):
        status = 409 if write.interaction == "delete" else 422
        raise SignedRecordLocked(_amend_hint(write.res_id), status, "Composition")


def _check_record(write: Write, tag: dict[str, str], what_vi: str, what_en: str) -> None:
    where = f"{write.res_type}/{write.res_id}"
    if write.interaction != "create" and has_tag(write.previous, tag):
        raise SignedRecordLocked(
            f"{where} là {what_vi}: không được sửa hay xóa / {where} is {what_en}: it is never changed or deleted",
            409,
            write.res_type,
        )
    if write.interaction != "delete" and has_tag(write.content, tag) and not _trusted.get():
        raise SignedRecordLocked(
            f"Chỉ thao tác ký số mới tạo được {what_vi} / only the signing operations create {what_en} "
            "(Composition/[id]/$sign)",
            403,
            f"{write.res_type}.meta.tag",
        )


async def immutability_guard(tx: StoreTx, writes: Sequence[Write]) -> None:
    """The write hook (see the module docstring)."""
    for write in writes:
        if write.res_type == "Composition":
            await _check_composition(tx, write)
        elif write.res_type == "Bundle":
            _check_record(write, SIGNED_BUNDLE_TAG, "hồ sơ đã ký số", "a signed document")
        elif write.res_type == "Provenance":
            _check_record(write, SIGNATURE_PROVENANCE_TAG, "bản ghi chữ ký", "a signature record")


def install_immutability_guard() -> None:
    """Register the guard (idempotent)."""
    register_write_hook(immutability_guard, types=GUARDED_TYPES)


def remove_immutability_guard() -> None:
    """Unregister the guard (tests; a deployment without signatures)."""
    unregister_write_hook(immutability_guard)
