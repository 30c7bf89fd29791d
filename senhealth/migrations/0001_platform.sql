-- The platform's own facts about this database, as key and JSON value: installation id, creation time,
-- and whatever later bookkeeping needs (never clinical data: that lives in FHIR resources).
CREATE TABLE platform_info (
    key        text PRIMARY KEY,
    value      jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

INSERT INTO platform_info (key, value) VALUES
    ('installation_id', to_jsonb(gen_random_uuid()::text)),
    ('created_at', to_jsonb(now()));
