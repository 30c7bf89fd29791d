-- The audit log (issue 4, item 4): one row per access to patient data, append-only and hash-chained.
-- Design, reasons and measured cost: docs/audit.md; writer: senhealth/security/audit.py; checker:
-- senhealth/security/audit_verify.py. The rows are the content of BALP AuditEvents
-- (https://profiles.ihe.net/ITI/BALP/), rendered to FHIR on demand.
--
-- Chains: the log is split into 64 independent hash chains (`chain` 0..63, picked from a hash of the
-- first patient of the transaction, or of the caller when no patient is concerned). `audit_chain` holds
-- each chain's head: its length and the hash of its last row. A writer updates its chain's head row and
-- inserts the event in ONE statement, inside the request's transaction:
--     hash = sha256(prev_hash || int8send(seq) || sha256(fields) || sha256(details::text))
-- (fields: the canonical JSON of the other columns, computed by the writer and recomputed by the
-- checker). The head row's lock orders the writers of one chain and is held until their transaction
-- ends; writers of different chains never wait on each other. A rolled-back transaction takes its row
-- and its head update with it, so a chain never has a hole.
--
-- Append-only: triggers reject UPDATE, DELETE and TRUNCATE of audit_event (every partition) and DELETE
-- and TRUNCATE of audit_chain. Only a superuser who disables triggers can change rows, and then
-- `senhealth audit verify` names the first broken row of the chain.
--
-- Partitions: audit_event is hash-partitioned by `chain` into senhealth.partitions tables, as the FHIR
-- store is (0002_fhir_store.sql), so a chain's rows stay together and, at national scale, `chain` is
-- the distribution column.

CREATE SEQUENCE audit_seq AS bigint;

CREATE TABLE audit_chain (
    chain     smallint PRIMARY KEY,
    pos       bigint   NOT NULL DEFAULT 0,   -- rows in the chain; the last row's pos
    prev_hash bytea,                         -- hash of the row before the last one (written with it)
    hash      bytea    NOT NULL              -- hash of the last row; the genesis hash when empty
);

-- Genesis: sha256 of 'senhealth audit chain <n>' (senhealth.security.audit_verify.genesis).
INSERT INTO audit_chain (chain, hash)
SELECT c, sha256(convert_to('senhealth audit chain ' || c, 'UTF8')) FROM generate_series(0, 63) AS c;

CREATE TABLE audit_event (
    seq                 bigint      NOT NULL,
    chain               smallint    NOT NULL,
    pos                 bigint      NOT NULL,   -- 1, 2, ... within the chain
    recorded            timestamptz NOT NULL,
    action              text        NOT NULL,   -- create | read | update | delete | search | history | operation
    outcome             text        NOT NULL,   -- success | denied | failed
    status              smallint    NOT NULL,   -- HTTP status answered
    principal_kind      text,                   -- user | patient | system; NULL: anonymous
    principal_subject   text,
    principal_roles     text[]      NOT NULL DEFAULT '{}',
    principal_facility  text,                   -- Organization/<id>
    principal_client_id text,
    principal_practitioner text,                -- Practitioner/<id> or PractitionerRole/<id>
    break_glass         text,                   -- the reason given for emergency access
    res_type            text,
    res_id              text,
    query               text,                   -- a search's query string, an operation's name
    patients            text[]      NOT NULL DEFAULT '{}',  -- Patient ids read or changed
    source_ip           text,
    details             jsonb       NOT NULL DEFAULT '{}',
    prev_hash           bytea       NOT NULL,
    hash                bytea       NOT NULL,
    PRIMARY KEY (chain, pos)
) PARTITION BY HASH (chain);

CREATE FUNCTION audit_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: % on % is not allowed', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;

CREATE TRIGGER audit_event_append_only BEFORE UPDATE OR DELETE ON audit_event
    FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_chain_no_delete BEFORE DELETE ON audit_chain
    FOR EACH ROW EXECUTE FUNCTION audit_reject_change();
CREATE TRIGGER audit_chain_no_truncate BEFORE TRUNCATE ON audit_chain
    FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change();

-- Partitions (row triggers are cloned to them; TRUNCATE triggers are not, so each gets its own).
DO $$
DECLARE
    n integer := coalesce(nullif(current_setting('senhealth.partitions', true), ''), '1')::integer;
    i integer;
BEGIN
    IF n < 1 OR n > 256 THEN
        RAISE EXCEPTION 'senhealth.partitions must be between 1 and 256, got %', n;
    END IF;
    FOR i IN 0 .. n - 1 LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF audit_event FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
                       'audit_event_p' || i, n, i);
        EXECUTE format('CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON %I '
                       'FOR EACH STATEMENT EXECUTE FUNCTION audit_reject_change()', 'audit_event_p' || i);
    END LOOP;
    INSERT INTO platform_info (key, value) VALUES ('audit_chains', to_jsonb(64));
END $$;

-- "Who viewed my record": the events that concern one patient, newest first.
CREATE INDEX audit_event_patients ON audit_event USING gin (patients);
