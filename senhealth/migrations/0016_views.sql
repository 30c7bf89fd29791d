-- SQL-on-FHIR v2 views (senhealth.analytics, docs/analytics.md): stored ViewDefinitions and the state of
-- their materialisations. ViewDefinition is not an R4 resource type, so views live in a table of their
-- own, not in the FHIR store; they hold no patient data. The rows a view gives are derived data
-- (DESIGN.md §1): a materialised table or Parquet directory can always be rebuilt from the resources.

-- One row per stored ViewDefinition (https://sql-on-fhir.org/ig/latest/StructureDefinition-ViewDefinition.html),
-- its current version only. `content` is the resource as stored (id and meta set by the server).
CREATE TABLE analytics_view (
    id           text COLLATE "C" PRIMARY KEY,
    version      integer     NOT NULL,
    name         text,
    url          text,
    status       text,
    resource     text        NOT NULL,     -- the FHIR resource type the view runs on
    content      jsonb       NOT NULL,
    last_updated timestamptz NOT NULL
);
CREATE INDEX analytics_view_name ON analytics_view (name);
CREATE INDEX analytics_view_url ON analytics_view (url) WHERE url IS NOT NULL;

-- One row per materialisation of a view into a PostgreSQL table or a directory of Parquet files.
-- `position` is a seq of the store's change feed (senhealth/fhir/store/change_feed.py): every version
-- at or below it is reflected in the target; a refresh applies the versions above it, up to the feed's
-- horizon. `view_hash` tells whether the view changed since the target was built (then it is rebuilt).
CREATE TABLE analytics_materialisation (
    id           text COLLATE "C" PRIMARY KEY,   -- 'postgres:<schema>.<table>' or 'parquet:<directory>'
    kind         text        NOT NULL CHECK (kind IN ('postgres', 'parquet')),
    target       text        NOT NULL,           -- '<schema>.<table>', or the directory
    view_id      text,                           -- the stored view it follows; NULL: a view given inline
    view         jsonb       NOT NULL,           -- the definition the target was built with
    view_hash    text        NOT NULL,
    position     bigint      NOT NULL,
    row_count    bigint      NOT NULL DEFAULT 0,
    built_at     timestamptz NOT NULL,
    refreshed_at timestamptz NOT NULL
);
CREATE INDEX analytics_materialisation_view ON analytics_materialisation (view_id) WHERE view_id IS NOT NULL;
