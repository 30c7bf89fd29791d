-- What Citus made of deploy/citus/10_distribute.sql: run with psql on the coordinator afterwards
-- (psql -f deploy/citus/20_check.sql). On a plain PostgreSQL it only says that citus is missing.

SELECT count(*) > 0 AS has_citus FROM pg_extension WHERE extname = 'citus' \gset
\if :has_citus
-- Distributed and reference tables: distribution column, co-location group, shard count.
SELECT table_name, citus_table_type, distribution_column, colocation_id, shard_count
FROM citus_tables ORDER BY colocation_id, table_name;

-- Shards and their size per node.
SELECT nodename, count(*) AS shards, pg_size_pretty(sum(shard_size)) AS size
FROM citus_shards GROUP BY nodename ORDER BY nodename;
\else
\echo 'senhealth-citus: no citus extension in this database: nothing to show'
\endif
