-- Tables and views discovery found in each asset; `removed_at` marks ones that disappeared.
CREATE TABLE catalog_tables (
    id uuid PRIMARY KEY,
    org_id text NOT NULL,
    asset_id uuid NOT NULL REFERENCES assets (id) ON DELETE CASCADE,
    schema_name text NOT NULL,
    table_name text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('table', 'view')),
    qualified_name text NOT NULL,
    row_estimate bigint,
    size_bytes bigint,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at timestamptz NOT NULL DEFAULT now(),
    removed_at timestamptz,
    UNIQUE (asset_id, schema_name, table_name)
);
CREATE INDEX catalog_tables_qn_idx ON catalog_tables (org_id, qualified_name);
