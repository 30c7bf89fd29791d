-- Master patient index (senhealth.mpi, docs/mpi.md): the review queue of candidate duplicate pairs that the
-- matcher could not settle alone (a shared personal ID that one record contradicts, or a match
-- probability between the review and link thresholds). A human decides each pair: 'linked' (the same
-- person: the records are merged through Patient.link, https://hl7.org/fhir/R4/patient-definitions.html#Patient.link)
-- or 'distinct' (two people). The clinical facts stay in the FHIR store; this is bookkeeping only.
--
-- patient_a < patient_b (Patient logical ids) in code-point order: the columns use the "C" collation so
-- that PostgreSQL and Python order ids alike. One row per pair, decided or not: re-running the matcher
-- never re-opens a decision.

CREATE TABLE mpi_review (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    patient_a   text COLLATE "C" NOT NULL,
    patient_b   text COLLATE "C" NOT NULL,
    score       double precision NOT NULL CHECK (score >= 0 AND score <= 1),
    reasons     jsonb NOT NULL DEFAULT '[]'::jsonb CHECK (jsonb_typeof(reasons) = 'array'),
    status      text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'linked', 'distinct')),
    created     timestamptz NOT NULL DEFAULT now(),
    decided_by  text,
    decided_at  timestamptz,
    note        text,
    CONSTRAINT mpi_review_ordered CHECK (patient_a < patient_b),
    CONSTRAINT mpi_review_pair UNIQUE (patient_a, patient_b),
    CONSTRAINT mpi_review_decided CHECK ((status = 'open') = (decided_at IS NULL AND decided_by IS NULL))
);

-- The reviewers' work list (open pairs in queue order) and "which pairs concern this patient".
CREATE INDEX mpi_review_open ON mpi_review (id) WHERE status = 'open';
CREATE INDEX mpi_review_patient_b ON mpi_review (patient_b);
