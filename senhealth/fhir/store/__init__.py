"""The FHIR resource store on PostgreSQL: versions, history, search-index rows, compartments, bulk load.

Spec: https://hl7.org/fhir/R4/http.html (create, read, vread, update, delete, history, transaction) and
https://hl7.org/fhir/R4/compartmentdefinition-patient.html. Design and measurements: docs/storage.md.

Public API::

    store = FhirStore()                                   # on the process's pool (senhealth.core.db)
    stored = await store.create(resource)                 # Stored: version 1, server-assigned id
    stored = await store.read("Patient", pid)             # NotFound / Gone
    stored = await store.vread("Patient", pid, 2)
    stored, created = await store.update(resource, if_match=2)   # VersionConflict, update-as-create
    stored = await store.delete("Patient", pid)           # None when there was nothing to delete
    page = await store.history("Patient", pid, since=..., at=..., count=50, cursor=...)
    async with store.transaction() as tx:                 # StoreTx: the same methods, one transaction
        await tx.create(...); await tx.update(...); tx.conn   # tx.conn for queries inside it
    report = await store.load(resources)                  # bulk: validated, indexed, COPY in batches
    ids = await store.param_ids()                         # (res_type, code) -> param_id
"""

from senhealth.fhir.store.errors import (
    Conflict,
    Gone,
    InvalidCursor,
    InvalidResource,
    NotFound,
    StoreError,
    VersionConflict,
)
from senhealth.fhir.store.load import EntryInvalid, Written
from senhealth.fhir.store.model import HistoryPage, LoadReport, Rejected, Stored
from senhealth.fhir.store.read import CONTENT_SQL, content_sql
from senhealth.fhir.store.references import rewrite_references
from senhealth.fhir.store.store import FhirStore, StoreTx
from senhealth.fhir.store.write import content_from_text

__all__ = [
    "CONTENT_SQL",
    "Conflict",
    "EntryInvalid",
    "FhirStore",
    "Gone",
    "HistoryPage",
    "InvalidCursor",
    "InvalidResource",
    "LoadReport",
    "NotFound",
    "Rejected",
    "StoreError",
    "StoreTx",
    "Stored",
    "VersionConflict",
    "Written",
    "content_from_text",
    "content_sql",
    "rewrite_references",
]
