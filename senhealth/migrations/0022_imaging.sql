-- The DICOM archive's index (issue 10; docs/imaging-dicom.md; writer: senhealth/imaging/storage/).
-- The images are files (one Part 10 file per SOP instance, ``storage_key`` under the imaging directory);
-- these rows are derived from them (every column and ``attrs`` is read from the files) and exist for
-- QIDO-RS and C-FIND, and to find a study's files. The clinical record of a study is its FHIR
-- ImagingStudy (``imaging_study_id``), kept in step in the same transaction.
-- ``attrs``: the level's attributes as DICOM JSON (PS3.18 Annex F), bulk data left out.
-- ``patient_ref``: the id of the FHIR Patient the study is linked to ('' when none): the patient
-- compartment key, for access control and, at national scale, the distribution key.

CREATE TABLE imaging_study (
    study_uid           text PRIMARY KEY,
    imaging_study_id    text        NOT NULL,
    patient_ref         text        NOT NULL DEFAULT '',
    patient_id          text        NOT NULL DEFAULT '',
    issuer              text        NOT NULL DEFAULT '',
    patient_name        text        NOT NULL DEFAULT '',
    patient_birth_date  text        NOT NULL DEFAULT '',
    patient_sex         text        NOT NULL DEFAULT '',
    study_date          text        NOT NULL DEFAULT '',  -- DA (YYYYMMDD): text order is date order
    study_time          text        NOT NULL DEFAULT '',  -- TM without colons (HHMMSS.FFFFFF)
    accession_number    text        NOT NULL DEFAULT '',
    study_id            text        NOT NULL DEFAULT '',
    study_description   text        NOT NULL DEFAULT '',
    referring_physician text        NOT NULL DEFAULT '',
    attrs               jsonb       NOT NULL DEFAULT '{}',
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX imaging_study_patient_id ON imaging_study (patient_id);
CREATE INDEX imaging_study_patient_ref ON imaging_study (patient_ref);
CREATE INDEX imaging_study_date ON imaging_study (study_date, study_time);
CREATE INDEX imaging_study_accession ON imaging_study (accession_number);

CREATE TABLE imaging_series (
    series_uid          text PRIMARY KEY,
    study_uid           text        NOT NULL REFERENCES imaging_study (study_uid) ON DELETE CASCADE,
    modality            text        NOT NULL DEFAULT '',
    series_number       integer,
    series_description  text        NOT NULL DEFAULT '',
    body_part           text        NOT NULL DEFAULT '',
    series_date         text        NOT NULL DEFAULT '',
    performed_date      text        NOT NULL DEFAULT '',
    attrs               jsonb       NOT NULL DEFAULT '{}',
    updated_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX imaging_series_study ON imaging_series (study_uid);
CREATE INDEX imaging_series_modality ON imaging_series (modality);

CREATE TABLE imaging_instance (
    sop_instance_uid    text PRIMARY KEY,
    series_uid          text        NOT NULL REFERENCES imaging_series (series_uid) ON DELETE CASCADE,
    study_uid           text        NOT NULL,
    sop_class_uid       text        NOT NULL,
    instance_number     integer,
    rows                integer,
    columns             integer,
    frames              integer,
    bits_allocated      integer,
    transfer_syntax     text        NOT NULL,
    storage_key         text        NOT NULL,
    size                bigint      NOT NULL,
    sha256              text        NOT NULL,
    attrs               jsonb       NOT NULL DEFAULT '{}',
    stored_at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX imaging_instance_series ON imaging_instance (series_uid, instance_number);
CREATE INDEX imaging_instance_study ON imaging_instance (study_uid);
