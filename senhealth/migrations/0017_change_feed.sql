-- The change-feed horizon (docs/storage.md "Change feed and cursors"; senhealth/fhir/store/change_feed.py).
--
-- `seq` is taken from fhir_seq at statement time, not at commit, so "every version after seq N" read now can
-- miss a version whose transaction commits later with a smaller seq. Every writing transaction therefore
-- announces, before it takes its first seq, a lower bound of every seq it will take: a shared
-- transaction-level advisory lock keyed by the next value fhir_seq can return (in a key range of its own: the top 16
-- bits are 0x5E4E). A reader reads last_value, then the smallest such key held: nothing at or below
-- min(last_value, smallest key - 1) can still appear. One lock per transaction (a transaction-local setting
-- remembers it), released at COMMIT or ROLLBACK by PostgreSQL itself. Advisory locks are per database, not
-- per schema: two stores in one database (the tests' schemas) hold each other's horizon back for as long as
-- a write transaction runs. That only delays a reader; it never makes it skip a version.

CREATE FUNCTION fhir_next_seq() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF current_setting('senhealth.seq_announced', true) IS DISTINCT FROM '1' THEN
        -- the smallest seq nextval can still return: last_value + 1 once called, last_value before
        PERFORM pg_advisory_xact_lock_shared(6795368887748657152  -- 0x5E4E << 48
            + (SELECT last_value + CASE WHEN is_called THEN 1 ELSE 0 END FROM fhir_seq));
        PERFORM set_config('senhealth.seq_announced', '1', true);
    END IF;
    RETURN nextval('fhir_seq');
END
$$;

-- Everything at or below the returned seq is settled: no transaction still running can commit a version
-- with a seq at or below it. last_value is read strictly before pg_locks (two statements): a writer that
-- announces after the lock scan takes seqs above the last_value read first.
CREATE FUNCTION fhir_seq_horizon() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    last bigint;
    held bigint;
BEGIN
    SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO last FROM fhir_seq;
    SELECT min(((l.classid::bigint << 32) | l.objid::bigint) - 6795368887748657152) INTO held
    FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.objsubid = 1 AND l.granted
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid::bigint >= 1582170112 AND l.classid::bigint < 1582170112 + 65536;
    IF held IS NULL THEN
        RETURN last;
    END IF;
    RETURN least(last, held - 1);
END
$$;
