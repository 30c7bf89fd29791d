-- Sen Health on Citus: the distribution DDL (docs/scale.md, deploy/citus/README.md).
--
-- Run once on the coordinator, as the database owner, after `senhealth db init` has applied the
-- migrations (with SENHEALTH_PARTITIONS=1: on Citus the shards are the partitions) and before the data
-- is loaded (distributing a filled table copies it: possible, but slow and locking):
--
--     psql "$SENHEALTH_DATABASE_URL" -v ON_ERROR_STOP=1 -f deploy/citus/10_distribute.sql
--
-- Every statement goes through pg_temp.citus_do(), which runs it only where the citus extension is
-- installed; on a plain PostgreSQL the file changes nothing and says so with a NOTICE per step (the test
-- suite applies it that way: tests/test_scale_ddl.py). Every table of the schema is named exactly once
-- below, as distributed, reference or local; the test fails when a migration adds a table that is not.
--
-- Spec: https://docs.citusdata.com/en/stable/develop/api_udf.html (create_distributed_table,
-- create_reference_table, citus_add_local_table_to_metadata); DESIGN.md §5; docs/storage.md "Keys".

SET client_min_messages = notice;

CREATE FUNCTION pg_temp.citus_do(statement text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') THEN
        EXECUTE statement;
    ELSE
        RAISE NOTICE 'senhealth-citus: no citus extension, skipped: %', statement;
    END IF;
END $$;

-- Distributed by the patient-compartment key, all co-located: a patient's resource rows, history and
-- index rows live on one shard, so reads by (pkey, rid), instance history and the index joins of a
-- search (i.pkey = r.pkey AND i.rid = r.rid) run on one node or push down to every node unchanged.
-- Resources in no patient compartment (Organization, Practitioner, Location, CodeSystem, ValueSet, ...)
-- have pkey '' and so share one shard: they are few (the demo province: 972 of 5.4 million).
CREATE FUNCTION pg_temp.distribute(tbl text, col text, colocate text) RETURNS void LANGUAGE sql AS $$
    SELECT pg_temp.citus_do(format('SELECT create_distributed_table(%L, %L, colocate_with => %L)',
                                   tbl, col, colocate));
$$;

SELECT pg_temp.distribute('fhir_resource', 'pkey', 'none');
SELECT pg_temp.distribute('fhir_history', 'pkey', 'fhir_resource');
SELECT pg_temp.distribute('idx_token', 'pkey', 'fhir_resource');
SELECT pg_temp.distribute('idx_string', 'pkey', 'fhir_resource');
SELECT pg_temp.distribute('idx_date', 'pkey', 'fhir_resource');
SELECT pg_temp.distribute('idx_reference', 'pkey', 'fhir_resource');
SELECT pg_temp.distribute('idx_quantity', 'pkey', 'fhir_resource');
SELECT pg_temp.distribute('idx_number', 'pkey', 'fhir_resource');
SELECT pg_temp.distribute('idx_uri', 'pkey', 'fhir_resource');
SELECT pg_temp.distribute('idx_composite', 'pkey', 'fhir_resource');
SELECT pg_temp.distribute('idx_special', 'pkey', 'fhir_resource');

-- The locator (one row per logical resource, found by type and id without knowing the patient) is
-- distributed by res_id: a read by id is a router query to one shard. A unique constraint must contain
-- the distribution column, so UNIQUE (rid) becomes a plain index (rid comes from a sequence: unique by
-- construction). Not co-located with the tables above: see docs/scale.md "What changes in the app".
SELECT pg_temp.citus_do('ALTER TABLE fhir_locator DROP CONSTRAINT fhir_locator_rid_key');
SELECT pg_temp.citus_do('CREATE INDEX fhir_locator_rid ON fhir_locator (rid)');
SELECT pg_temp.distribute('fhir_locator', 'res_id', 'none');

-- The audit log: 64 hash chains (docs/audit.md); the chain is its distribution column, the chain's head
-- row lives with its events. A chain's writes stay on one shard, "who viewed" (patients @> [id]) fans out.
SELECT pg_temp.distribute('audit_chain', 'chain', 'none');
SELECT pg_temp.distribute('audit_event', 'chain', 'audit_chain');

-- Reference tables: small, read everywhere, replicated to every node (joins with them stay local).
CREATE FUNCTION pg_temp.reference(tbl text) RETURNS void LANGUAGE sql AS $$
    SELECT pg_temp.citus_do(format('SELECT create_reference_table(%L)', tbl));
$$;

SELECT pg_temp.reference('fhir_search_param');
SELECT pg_temp.reference('platform_info');
SELECT pg_temp.reference('analytics_view');
SELECT pg_temp.reference('surveillance_population');

-- Local tables: the platform's bookkeeping stays on the coordinator, where the API and the workers
-- connect (jobs with LISTEN/NOTIFY and advisory locks, sessions, tokens, the hash-chained audit log with
-- the materialised views' state, the surveillance series, the patient index's
-- queue, DICOM indexes, ...). Added to Citus' metadata so that they may be joined with reference tables
-- in one query; they are never joined with the distributed tables on the hot path.
CREATE FUNCTION pg_temp.local(tbl text) RETURNS void LANGUAGE sql AS $$
    SELECT pg_temp.citus_do(format('SELECT citus_add_local_table_to_metadata(%L)', tbl));
$$;

SELECT pg_temp.local('schema_migrations');
SELECT pg_temp.local('account');
SELECT pg_temp.local('login_throttle');
SELECT pg_temp.local('oauth_client');
SELECT pg_temp.local('oauth_authorization_code');
SELECT pg_temp.local('oauth_refresh_token');
SELECT pg_temp.local('oauth_revoked_token');
SELECT pg_temp.local('oauth_client_assertion');
SELECT pg_temp.local('oauth_launch');
SELECT pg_temp.local('web_session');
SELECT pg_temp.local('web_login_attempt');
SELECT pg_temp.local('break_glass_grant');
SELECT pg_temp.local('break_glass_review');
SELECT pg_temp.local('procrastinate_workers');
SELECT pg_temp.local('procrastinate_jobs');
SELECT pg_temp.local('procrastinate_periodic_defers');
SELECT pg_temp.local('procrastinate_events');
SELECT pg_temp.local('senhealth_job_progress');
SELECT pg_temp.local('mpi_review');
SELECT pg_temp.local('mpi_dedup_state');
SELECT pg_temp.local('bulk_job');
SELECT pg_temp.local('subscription_registry');
SELECT pg_temp.local('subscription_state');
SELECT pg_temp.local('subscription_event');
SELECT pg_temp.local('subscription_ws_token');
SELECT pg_temp.local('analytics_materialisation');
SELECT pg_temp.local('pki_certificate');
SELECT pg_temp.local('signature_otp');
SELECT pg_temp.local('emr_print');
SELECT pg_temp.local('emr_legal_hold');
SELECT pg_temp.local('surveillance_case');
SELECT pg_temp.local('surveillance_count_day');
SELECT pg_temp.local('surveillance_count_week');
SELECT pg_temp.local('surveillance_signal');
SELECT pg_temp.local('imaging_study');
SELECT pg_temp.local('imaging_series');
SELECT pg_temp.local('imaging_instance');
