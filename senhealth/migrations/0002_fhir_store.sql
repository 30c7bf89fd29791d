-- The FHIR store: current resources, full history, search indexes, patient-compartment membership.
-- Design and reasons: docs/storage.md. Every table is hash-partitioned by `pkey`, the patient-compartment
-- key (the patient's id, '' for resources in no patient compartment), so a patient's rows stay together
-- and the national step (Citus, distribution column `pkey`) is a configuration change. The number of
-- partitions is fixed here, from the setting `senhealth.partitions` (the migration runner sets it from
-- SENHEALTH_PARTITIONS; default 1, a laptop).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Global order of changes (history, change feeds, cursors): see docs/storage.md "Change feed".
CREATE SEQUENCE fhir_seq AS bigint;
-- Surrogate key of a logical resource, stable across its versions.
CREATE SEQUENCE fhir_rid_seq AS bigint;

-- Search parameters known to this database: (resource type, code) -> a small stable id used by index rows.
CREATE TABLE fhir_search_param (
    param_id   smallint PRIMARY KEY,
    res_type   text NOT NULL,
    code       text NOT NULL,
    type       text NOT NULL,
    url        text NOT NULL,
    UNIQUE (res_type, code)
);

-- One row per logical resource (deleted ones too): id uniqueness, read by id without knowing pkey,
-- and the row that a write locks (SELECT ... FOR UPDATE) to serialise concurrent writers of one resource.
CREATE TABLE fhir_locator (
    res_type   text    NOT NULL,
    res_id     text    NOT NULL,
    rid        bigint  NOT NULL UNIQUE,
    pkey       text    NOT NULL,
    version    integer NOT NULL,
    deleted    boolean NOT NULL DEFAULT false,
    PRIMARY KEY (res_type, res_id)
);

-- The current version of every live resource (a deleted resource has no row here: its locator says so
-- and its history keeps the delete). `content_raw` is NULL unless the JSON holds a number that jsonb
-- would rewrite (exponent notation: 1e2 becomes 100); then it is the exact text, and readers take
-- coalesce(content_raw, content::text).
CREATE TABLE fhir_resource (
    pkey         text        NOT NULL,
    rid          bigint      NOT NULL,
    res_type     text        NOT NULL,
    res_id       text        NOT NULL,
    version      integer     NOT NULL,
    seq          bigint      NOT NULL,
    last_updated timestamptz NOT NULL,
    compartments text[]      NOT NULL DEFAULT '{}',
    content      jsonb       NOT NULL,
    content_raw  text,
    PRIMARY KEY (pkey, rid)
) PARTITION BY HASH (pkey);

CREATE TABLE fhir_history (
    pkey         text        NOT NULL,
    rid          bigint      NOT NULL,
    res_type     text        NOT NULL,
    res_id       text        NOT NULL,
    version      integer     NOT NULL,
    seq          bigint      NOT NULL,
    last_updated timestamptz NOT NULL,
    method       text        NOT NULL,  -- POST | PUT | PATCH | DELETE
    deleted      boolean     NOT NULL DEFAULT false,
    content      jsonb,                 -- NULL for a delete
    content_raw  text,                  -- as in fhir_resource
    PRIMARY KEY (pkey, rid, version)    -- a resource that changes patient moves its history too

) PARTITION BY HASH (pkey);

CREATE TABLE idx_token (
    pkey      text     NOT NULL,
    rid       bigint   NOT NULL,
    param_id  smallint NOT NULL,
    system    text,
    code      text,
    text      text,          -- normalised display / CodeableConcept.text, for :text
    type_system text,        -- Identifier.type, for :of-type
    type_code   text
) PARTITION BY HASH (pkey);

CREATE TABLE idx_string (
    pkey       text     NOT NULL,
    rid        bigint   NOT NULL,
    param_id   smallint NOT NULL,
    value      text     NOT NULL,   -- as given, for :exact
    value_norm text     NOT NULL    -- lower case, Vietnamese diacritics folded
) PARTITION BY HASH (pkey);

CREATE TABLE idx_date (
    pkey      text        NOT NULL,
    rid       bigint      NOT NULL,
    param_id  smallint    NOT NULL,
    low       timestamptz,          -- inclusive; NULL = open
    high      timestamptz
) PARTITION BY HASH (pkey);

CREATE TABLE idx_reference (
    pkey        text     NOT NULL,
    rid         bigint   NOT NULL,
    param_id    smallint NOT NULL,
    target_type text,
    target_id   text,
    version     text,
    url         text,               -- absolute or canonical URL (canonical version in `version`)
    identifier_system text,         -- Reference.identifier, for :identifier
    identifier_value  text
) PARTITION BY HASH (pkey);

CREATE TABLE idx_quantity (
    pkey        text     NOT NULL,
    rid         bigint   NOT NULL,
    param_id    smallint NOT NULL,
    system      text,
    code        text,
    unit        text,
    low         numeric,
    high        numeric,
    canon_code  text,
    canon_low   numeric,
    canon_high  numeric
) PARTITION BY HASH (pkey);

CREATE TABLE idx_number (
    pkey      text     NOT NULL,
    rid       bigint   NOT NULL,
    param_id  smallint NOT NULL,
    low       numeric,
    high      numeric
) PARTITION BY HASH (pkey);

CREATE TABLE idx_uri (
    pkey      text     NOT NULL,
    rid       bigint   NOT NULL,
    param_id  smallint NOT NULL,
    value     text     NOT NULL
) PARTITION BY HASH (pkey);

CREATE TABLE idx_composite (
    pkey      text     NOT NULL,
    rid       bigint   NOT NULL,
    param_id  smallint NOT NULL,
    parts     jsonb    NOT NULL
) PARTITION BY HASH (pkey);

CREATE TABLE idx_special (
    pkey      text     NOT NULL,
    rid       bigint   NOT NULL,
    param_id  smallint NOT NULL,
    latitude  double precision,
    longitude double precision
) PARTITION BY HASH (pkey);

-- Partitions: senhealth.partitions of each table.
DO $$
DECLARE
    n integer := coalesce(nullif(current_setting('senhealth.partitions', true), ''), '1')::integer;
    t text;
    i integer;
BEGIN
    IF n < 1 OR n > 256 THEN
        RAISE EXCEPTION 'senhealth.partitions must be between 1 and 256, got %', n;
    END IF;
    FOREACH t IN ARRAY ARRAY['fhir_resource', 'fhir_history', 'idx_token', 'idx_string', 'idx_date',
                             'idx_reference', 'idx_quantity', 'idx_number', 'idx_uri', 'idx_composite',
                             'idx_special'] LOOP
        FOR i IN 0 .. n - 1 LOOP
            EXECUTE format('CREATE TABLE %I PARTITION OF %I FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
                           t || '_p' || i, t, n, i);
        END LOOP;
    END LOOP;
    INSERT INTO platform_info (key, value) VALUES ('fhir_partitions', to_jsonb(n));
END $$;

-- Query indexes (docs/storage.md): lead with the parameter and the value, end with the resource.
CREATE INDEX fhir_resource_type_id ON fhir_resource (res_type, res_id);
CREATE INDEX fhir_resource_type_updated ON fhir_resource (res_type, last_updated, rid);
CREATE INDEX fhir_resource_compartments ON fhir_resource USING gin (compartments);
CREATE INDEX fhir_history_seq ON fhir_history (seq);
CREATE INDEX fhir_history_type_seq ON fhir_history (res_type, seq);

CREATE INDEX idx_token_value ON idx_token (param_id, code, system, rid);
CREATE INDEX idx_token_text ON idx_token (param_id, text text_pattern_ops) WHERE text IS NOT NULL;
CREATE INDEX idx_token_rid ON idx_token (rid);

CREATE INDEX idx_string_value ON idx_string (param_id, value_norm text_pattern_ops, rid);
-- gin_trgm_ops qualified by pg_trgm's schema, so the migration also runs with another search_path.
DO $$
BEGIN
    EXECUTE format('CREATE INDEX idx_string_trgm ON idx_string USING gin (value_norm %I.gin_trgm_ops)',
                   (SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
                    WHERE e.extname = 'pg_trgm'));
END $$;
CREATE INDEX idx_string_rid ON idx_string (rid);

CREATE INDEX idx_date_value ON idx_date (param_id, low, high, rid);
CREATE INDEX idx_date_high ON idx_date (param_id, high);
CREATE INDEX idx_date_rid ON idx_date (rid);

CREATE INDEX idx_reference_value ON idx_reference (param_id, target_id, target_type, rid);
CREATE INDEX idx_reference_url ON idx_reference (param_id, url) WHERE url IS NOT NULL;
CREATE INDEX idx_reference_rid ON idx_reference (rid);

CREATE INDEX idx_quantity_value ON idx_quantity (param_id, canon_code, canon_low, canon_high);
CREATE INDEX idx_quantity_raw ON idx_quantity (param_id, code, low, high);
CREATE INDEX idx_quantity_rid ON idx_quantity (rid);

CREATE INDEX idx_number_value ON idx_number (param_id, low, high);
CREATE INDEX idx_number_rid ON idx_number (rid);

CREATE INDEX idx_uri_value ON idx_uri (param_id, value text_pattern_ops, rid);
CREATE INDEX idx_uri_rid ON idx_uri (rid);

CREATE INDEX idx_composite_param ON idx_composite (param_id);
CREATE INDEX idx_composite_rid ON idx_composite (rid);

CREATE INDEX idx_special_value ON idx_special (param_id, latitude, longitude);
CREATE INDEX idx_special_rid ON idx_special (rid);
