-- Bulk Data jobs: $export and $import requests, their status and their output (docs/bulk.md).
-- Spec: https://hl7.org/fhir/uv/bulkdata/STU2/export.html (kick-off, status polling, manifest, delete).
--
-- A job row is written when the request is accepted, in the same transaction as its procrastinate job
-- (`queue_job`, whose progress is senhealth_job_progress); the worker moves it through in-progress to
-- completed or failed. DELETE marks it cancelled and removes its files; the hourly clean-up marks
-- completed jobs expired once `expires_at` has passed and removes their files. Status requests for a
-- cancelled or expired job answer 404.

CREATE TABLE bulk_job (
    id               uuid        PRIMARY KEY,   -- random: the polling URL names it
    kind             text        NOT NULL CHECK (kind IN ('export', 'import')),
    status           text        NOT NULL DEFAULT 'accepted'
                     CHECK (status IN ('accepted', 'in-progress', 'completed', 'failed', 'cancelled', 'expired')),
    -- who may poll, cancel and download: '<kind>:<subject>' of the caller ('' when sign-in is off)
    requester        text        NOT NULL DEFAULT '',
    principal        jsonb,                     -- the caller at kick-off, for the audit record
    request          text        NOT NULL,      -- the kick-off URL (manifest "request")
    base_url         text        NOT NULL,      -- the FHIR base the file URLs are built on
    params           jsonb       NOT NULL DEFAULT '{}',  -- the parsed request, what the worker runs
    restriction      jsonb,                     -- the access policy's restriction at kick-off; NULL: none
    directory        text        NOT NULL,      -- where its files are
    queue_job        bigint      REFERENCES procrastinate_jobs (id) ON DELETE SET NULL,
    transaction_time timestamptz,
    output           jsonb       NOT NULL DEFAULT '[]',  -- [{type, name, count}] (export) / outcome files (import)
    errors           jsonb       NOT NULL DEFAULT '[]',  -- [{type: OperationOutcome, name, count}]
    summary          jsonb       NOT NULL DEFAULT '{}',  -- counts, timings
    outcome          jsonb,                     -- the OperationOutcome of a failed job
    error_status     integer,                   -- and the HTTP status its status request answers with
    created_at       timestamptz NOT NULL DEFAULT now(),
    started_at       timestamptz,
    finished_at      timestamptz,
    expires_at       timestamptz
);

CREATE INDEX bulk_job_requester ON bulk_job (requester, created_at DESC);
CREATE INDEX bulk_job_expiry ON bulk_job (expires_at) WHERE status IN ('completed', 'failed');
