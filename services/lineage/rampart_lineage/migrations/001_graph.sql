-- The lineage graph. A vertex is one thing in the organization (a table, a dbt exposure, an
-- OpenLineage job), keyed by its qualified name, so a dbt model and an OpenLineage dataset
-- naming the same table meet in one vertex. `nodes` holds what each source says about a
-- vertex; `edges` carry the source that declared them, so sources can be replaced apart.
CREATE TABLE vertices (
    id uuid PRIMARY KEY,
    org_id text NOT NULL,
    qualified_name text NOT NULL,
    name text NOT NULL,
    asset_type text NOT NULL,
    source_type text,
    asset_id uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, qualified_name)
);
CREATE INDEX vertices_org_name_idx ON vertices (org_id, name);

CREATE TABLE nodes (
    id uuid PRIMARY KEY,
    org_id text NOT NULL,
    asset_id uuid,
    source text NOT NULL CHECK (source IN ('dbt', 'manual', 'openlineage')),
    unique_id text NOT NULL,
    vertex_id uuid REFERENCES vertices (id),
    resource_type text NOT NULL,
    name text NOT NULL,
    database_name text,
    schema_name text,
    identifier text,
    relation_name text,
    materialization text,
    description text NOT NULL DEFAULT '',
    tags text[] NOT NULL DEFAULT '{}',
    owner text,
    columns jsonb NOT NULL DEFAULT '{}',
    package_name text,
    path text,
    meta jsonb NOT NULL DEFAULT '{}',
    test jsonb,
    checksum text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX nodes_source_key ON nodes (org_id, asset_id, source, unique_id) NULLS NOT DISTINCT;
CREATE INDEX nodes_vertex_idx ON nodes (vertex_id);
CREATE INDEX nodes_org_unique_idx ON nodes (org_id, unique_id);

CREATE TABLE edges (
    org_id text NOT NULL,
    asset_id uuid,
    source text NOT NULL CHECK (source IN ('dbt', 'manual', 'openlineage')),
    parent_id uuid NOT NULL REFERENCES vertices (id),
    child_id uuid NOT NULL REFERENCES vertices (id),
    relationship_type text NOT NULL DEFAULT 'data_flow',
    confidence real NOT NULL DEFAULT 1.0,
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id <> child_id)
);
CREATE UNIQUE INDEX edges_key ON edges (parent_id, child_id, source, asset_id) NULLS NOT DISTINCT;
CREATE INDEX edges_child_idx ON edges (child_id);
CREATE INDEX edges_owner_idx ON edges (org_id, asset_id, source);

-- Column-level lineage (OpenLineage columnLineage facets).
CREATE TABLE column_edges (
    org_id text NOT NULL,
    parent_id uuid NOT NULL REFERENCES vertices (id),
    parent_column text NOT NULL,
    child_id uuid NOT NULL REFERENCES vertices (id),
    child_column text NOT NULL,
    transformation text,
    source text NOT NULL DEFAULT 'openlineage',
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (parent_id, parent_column, child_id, child_column)
);
CREATE INDEX column_edges_child_idx ON column_edges (child_id, child_column);

-- OpenLineage run states: evidence for investigations (failed and late runs).
CREATE TABLE runs (
    run_id uuid NOT NULL,
    org_id text NOT NULL,
    job_vertex_id uuid NOT NULL REFERENCES vertices (id),
    event_type text NOT NULL,
    event_time timestamptz NOT NULL,
    nominal_start timestamptz,
    nominal_end timestamptz,
    error_message text,
    parent_run_id uuid,
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, run_id, event_type)
);
CREATE INDEX runs_job_idx ON runs (job_vertex_id, event_time DESC);

-- Every manifest ingest, for history and for the dbt test import of a later release.
CREATE TABLE ingests (
    id uuid PRIMARY KEY,
    org_id text NOT NULL,
    asset_id uuid NOT NULL,
    source text NOT NULL,
    job_id uuid,
    metadata jsonb NOT NULL,
    stats jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ingests_asset_idx ON ingests (org_id, asset_id, created_at DESC);
