-- Tenants, their API keys, shared rate-limit state and the jobs read model.
CREATE TABLE organizations (
    id text PRIMARY KEY,
    name text NOT NULL,
    tier text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE api_keys (
    id uuid PRIMARY KEY,
    org_id text NOT NULL REFERENCES organizations (id),
    name text NOT NULL,
    key_hash text NOT NULL UNIQUE,
    key_prefix text NOT NULL,
    key_suffix text NOT NULL,
    scope text NOT NULL CHECK (scope IN ('read-only', 'read-write', 'admin')),
    rate_limit_per_min integer NOT NULL CHECK (rate_limit_per_min > 0),
    burst_limit integer NOT NULL CHECK (burst_limit > 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);
CREATE INDEX api_keys_org_idx ON api_keys (org_id, created_at, id);

-- Lost on a crash by design (UNLOGGED): buckets refill to full, which errs towards the client.
CREATE UNLOGGED TABLE rate_buckets (
    key_id uuid PRIMARY KEY,
    minute_tokens double precision NOT NULL,
    second_tokens double precision NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE jobs (
    id uuid PRIMARY KEY,
    org_id text NOT NULL,
    workflow_name text NOT NULL,
    asset_id text,
    status text NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed')),
    progress integer NOT NULL DEFAULT 0,
    message text,
    error text,
    result jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    started_at timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    completed_at timestamptz
);
CREATE INDEX jobs_org_idx ON jobs (org_id, created_at);
