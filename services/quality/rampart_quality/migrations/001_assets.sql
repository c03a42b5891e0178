-- Monitored data-source connections. Secrets are sealed with the service key.
CREATE TABLE assets (
    id uuid PRIMARY KEY,
    org_id text NOT NULL,
    name text NOT NULL,
    source_type text NOT NULL CHECK (source_type IN ('postgresql', 'mysql')),
    database_name text NOT NULL,
    qualified_name text NOT NULL,
    description text,
    connection_sealed bytea NOT NULL,
    is_active boolean NOT NULL DEFAULT true,
    table_count integer,
    view_count integer,
    total_size_bytes bigint,
    last_discovered_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (org_id, qualified_name)
);
CREATE INDEX assets_org_created_idx ON assets (org_id, created_at, id);
CREATE INDEX assets_org_idtext_idx ON assets (org_id, (id::text) text_pattern_ops);
