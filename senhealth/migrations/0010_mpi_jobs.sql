-- Master patient index (senhealth.mpi, docs/mpi.md "The de-duplication job"): what the batch job last
-- saw of each Patient, so that a nightly run only acts on records whose identifying data changed since.
-- `row_hash` is a digest of the record's comparison keys (names, birth date, sex, commune, phone,
-- personal ID, insurance number), not the data itself. Bookkeeping only: the records stay in the FHIR store.

CREATE TABLE mpi_dedup_state (
    patient_id  text COLLATE "C" PRIMARY KEY,
    row_hash    text NOT NULL,
    checked_at  timestamptz NOT NULL DEFAULT now()
);
