-- Bumped by every write to an organization's lineage; cached graph answers carry the version
-- they were built from and are used only while it is current.
CREATE TABLE graph_versions (
    org_id text PRIMARY KEY,
    version bigint NOT NULL DEFAULT 0
);
