-- Printed copies of clinical documents and the retention of medical records (issue 6; docs/printing.md,
-- docs/retention.md; writers: senhealth/emr/printing/print_log.py, senhealth/emr/retention/hold.py).
-- The documents themselves live in the FHIR store; these tables are the platform's bookkeeping.

-- One row per printed copy (e-Transactions Law Art. 12, Decree 137/2024: a paper copy of an electronic
-- record carries a look-up code, the time and the person who printed it; every print is logged). The
-- code is the key the public verification page (/verify/{code}) is looked up by: 12 characters of
-- Crockford base32 (60 random bits), so that codes cannot be enumerated. The row holds only what that
-- public page may show (no clinical content; the patient as initials and year of birth) and the print's
-- accountability (who, when, the SHA-256 of the PDF handed out). Kept when the document is purged at the
-- end of its retention (purged_at set): a printed copy can still be looked up and is then reported as
-- destroyed, not as unknown.
CREATE TABLE emr_print (
    code             text COLLATE "C" PRIMARY KEY CHECK (code ~ '^[0-9A-HJKMNP-TV-Z]{12}$'),
    composition      text        NOT NULL,   -- Composition id
    version          integer     NOT NULL,   -- the Composition version printed
    doc_type         text        NOT NULL DEFAULT '',  -- document type code (outpatient-record ...)
    title            text        NOT NULL DEFAULT '',  -- the document's title as printed
    document_date    timestamptz,                      -- Composition.date
    facility         text,                              -- Organization/<id>: the custodian
    facility_name    text        NOT NULL DEFAULT '',
    patient          text,                              -- Patient id (who printed my record), never shown
    patient_initials text        NOT NULL DEFAULT '',
    birth_year       smallint,
    printed_at       timestamptz NOT NULL,
    printed_by       text        NOT NULL,   -- the caller's account id (principal subject)
    printed_by_name  text        NOT NULL DEFAULT '',
    printed_role     text        NOT NULL DEFAULT '',
    pdf_sha256       bytea       NOT NULL CHECK (length(pdf_sha256) = 32),
    pdf_pages        integer     NOT NULL DEFAULT 0,
    signer_cert_sha256 bytea,                -- the certificate of the PDF's PAdES signature
    purged_at        timestamptz              -- set when retention purged the document
);
CREATE INDEX emr_print_composition ON emr_print (composition, printed_at);
CREATE INDEX emr_print_patient ON emr_print (patient, printed_at);

-- Legal holds (retention): while a hold on a document, its encounter or its patient is active (not
-- released), nothing of it is purged, whatever its retention. Placing and releasing each need a reason
-- and a person; a released hold stays as a record.
CREATE TABLE emr_legal_hold (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    target         text        NOT NULL CHECK (target ~ '^(Composition|Encounter|Patient)/[A-Za-z0-9.-]{1,64}$'),
    reason         text        NOT NULL CHECK (length(btrim(reason)) > 0),
    placed_by      text        NOT NULL CHECK (length(btrim(placed_by)) > 0),
    placed_at      timestamptz NOT NULL DEFAULT now(),
    released_by    text,
    released_at    timestamptz,
    release_reason text,
    CHECK ((released_at IS NULL) = (released_by IS NULL)),
    CHECK (released_at IS NULL OR length(btrim(coalesce(release_reason, ''))) > 0)
);
CREATE INDEX emr_legal_hold_active ON emr_legal_hold (target) WHERE released_at IS NULL;
