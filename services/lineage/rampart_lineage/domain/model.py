"""What every lineage source (dbt manifest, OpenLineage, manual API) is turned into."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import orjson

from rampart_contracts.errors import ValidationFailed

# Node kinds a graph can hold. dbt: model, source, seed, snapshot, exposure, analysis, test;
# OpenLineage: dataset, job; manual: any of these plus table and view.
RESOURCE_TYPES = frozenset({
    "model", "source", "seed", "snapshot", "exposure", "analysis", "test", "metric",
    "dataset", "job", "table", "view",
})
# Edge kinds. `derives_from` is the seed's manual example; dbt and OpenLineage edges are
# `data_flow`; `depends_on` and `feeds` are accepted for hand-made graphs.
RELATIONSHIP_TYPES = frozenset({"derives_from", "data_flow", "depends_on", "feeds"})
LINEAGE_SOURCES = ("dbt", "manual", "openlineage")


class ManifestError(ValidationFailed):
    """A manifest that cannot be ingested; the message names the problem."""


@dataclass(slots=True)
class ParsedNode:
    unique_id: str
    name: str
    resource_type: str
    database: str | None = None
    schema: str | None = None
    identifier: str | None = None  # alias (models) or identifier (sources): the relation's name
    relation_name: str | None = None
    materialization: str | None = None
    description: str = ""
    tags: list[str] = field(default_factory=list)
    owner: str | None = None
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    package_name: str | None = None
    path: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    # Tests only: {"name", "kwargs", "namespace", "column_name", "attached_node", "severity"}.
    test: dict[str, Any] | None = None

    def relation(self) -> tuple[str, str, str] | None:
        """(database, schema, table) when the node is a warehouse relation."""
        if self.resource_type in ("exposure", "test", "analysis", "metric", "job"):
            return None
        if self.database is None or self.schema is None:
            return None
        return self.database, self.schema, self.identifier or self.name

    def checksum(self) -> str:
        """Digest of everything stored about the node; equal digests mean nothing changed."""
        payload = orjson.dumps(
            [self.name, self.resource_type, self.database, self.schema, self.identifier,
             self.relation_name, self.materialization, self.description, self.tags, self.owner,
             self.columns, self.package_name, self.path, self.meta, self.test],
            option=orjson.OPT_SORT_KEYS,
        )
        return hashlib.blake2b(payload, digest_size=16).hexdigest()


@dataclass(slots=True)
class ManifestMetadata:
    dbt_schema_version: int
    dbt_version: str | None = None
    generated_at: str | None = None
    project_name: str | None = None
    invocation_id: str | None = None


@dataclass(slots=True)
class ParsedManifest:
    metadata: ManifestMetadata
    nodes: list[ParsedNode]
    # (parent unique_id, child unique_id); tests and disabled nodes already filtered out.
    edges: list[tuple[str, str]]
