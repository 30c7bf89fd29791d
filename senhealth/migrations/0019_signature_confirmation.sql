-- Patient confirmation of a signed document by a one-time code (OTP), when the patient has no certificate
-- (Circular 13/2025 Art. 3: "another electronic confirmation"). See docs/signatures.md and
-- senhealth/emr/signatures/confirmation.py. Only the pending challenges live here (bookkeeping): the
-- confirmation itself is a FHIR Provenance. The code is never stored, only a salted SHA-256 of it.
CREATE TABLE signature_otp (
    id              uuid        PRIMARY KEY,
    composition_id  text        NOT NULL,
    bundle_id       text        NOT NULL,   -- the signed document Bundle the code confirms
    document_digest text        NOT NULL,   -- SHA-256 (hex) of its canonical bytes when the code was sent
    patient_id      text        NOT NULL,
    destination     text        NOT NULL,   -- where the code went, masked (09******11)
    salt            bytea       NOT NULL,
    code_hash       bytea       NOT NULL,   -- SHA-256(salt || code)
    requested_by    text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    attempts        integer     NOT NULL DEFAULT 0,
    used_at         timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX signature_otp_composition ON signature_otp (composition_id, created_at);
