"""Lineage commands, queries and the views they answer with."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from .envelope import Command, Query

LineageSource = Literal["dbt", "manual", "openlineage"]
Direction = Literal["upstream", "downstream", "both"]


class BlobRef(BaseModel):
    """An uploaded file waiting on the bus in chunks (see rampart_runtime.blobs)."""

    blob_id: str
    size: int = Field(ge=0)
    chunks: int = Field(ge=0)
    sha256: str


class AssetContext(BaseModel):
    """The resolved asset a lineage request is about (the gateway resolves it first)."""

    asset_id: str
    qualified_name: str = Field(description="`<source_type>.<database>`")
    source_type: str
    database_name: str


class IngestManifest(Command):
    """Parse an uploaded dbt manifest and make it the asset's dbt lineage."""

    SERVICE: ClassVar[str] = "lineage"
    VERB: ClassVar[str] = "ingest_manifest"
    type: Literal["ingest_manifest"] = "ingest_manifest"
    job_id: str
    asset: AssetContext
    blob: BlobRef


class SyncDbtCloud(Command):
    """Fetch the newest successful run's manifest from dbt Cloud and ingest it.

    `sealed_token` is the dbt Cloud token encrypted with the deployment secret: it exists
    only in this work-queue message (deleted once acknowledged), never in a table or log."""

    SERVICE: ClassVar[str] = "lineage"
    VERB: ClassVar[str] = "sync_dbt_cloud"
    type: Literal["sync_dbt_cloud"] = "sync_dbt_cloud"
    job_id: str
    asset: AssetContext
    account_id: str
    dbt_job_id: str
    access_url: str
    sealed_token: str


class LineageNodeView(BaseModel):
    """A vertex of the lineage graph (the SDK's LineageNode, plus detail)."""

    id: str
    qualified_name: str
    name: str
    asset_type: str
    source_type: str | None = None
    unique_id: str | None = None
    sources: list[str] = Field(default_factory=list)
    description: str | None = None
    owner: str | None = None
    tags: list[str] = Field(default_factory=list)
    asset_id: str | None = None
    catalog_table_id: str | None = Field(
        None, description="Catalog table this node is (set once discovery has found it)")
    has_upstream: bool | None = None
    has_downstream: bool | None = None


class LineageEdgeView(BaseModel):
    source: str = Field(description="id of the upstream node")
    target: str = Field(description="id of the downstream node")
    edge_type: str = "data_flow"
    confidence: float = 1.0
    lineage_source: str | None = Field(None, description="dbt, manual or openlineage")


class LineageGraphView(BaseModel):
    root: LineageNodeView
    upstream: list[LineageNodeView]
    downstream: list[LineageNodeView]
    edges: list[LineageEdgeView]
    depth: int
    direction: str
    partial: bool = False


class GetLineage(Query):
    """Graph around a node: `ref` is a node id, a qualified name or a unique_id."""

    SERVICE: ClassVar[str] = "lineage"
    NAME: ClassVar[str] = "get"
    type: Literal["get_lineage"] = "get_lineage"
    ref: str = Field(min_length=1, max_length=500)
    depth: int = Field(1, ge=1, le=5)
    direction: Direction = "both"


class ListLineage(Query):
    SERVICE: ClassVar[str] = "lineage"
    NAME: ClassVar[str] = "list"
    type: Literal["list_lineage"] = "list_lineage"
    source: str | None = None
    has_upstream: bool | None = None
    has_downstream: bool | None = None
    search: str | None = None
    asset: AssetContext | None = None
    limit: int = Field(50, ge=1, le=100)
    offset: int = Field(0, ge=0)


class LineageImpact(Query):
    """Everything downstream of `node` with its distance; stops at a deadline (partial)."""

    SERVICE: ClassVar[str] = "lineage"
    NAME: ClassVar[str] = "impact"
    type: Literal["lineage_impact"] = "lineage_impact"
    asset: AssetContext
    node: str = Field(min_length=1, max_length=500)
    depth: int = Field(10, ge=1, le=50)
    deadline_ms: int = Field(2000, ge=10, le=30000)


class CreateLineageNode(Query):
    SERVICE: ClassVar[str] = "lineage"
    NAME: ClassVar[str] = "node_create"
    type: Literal["create_lineage_node"] = "create_lineage_node"
    asset: AssetContext
    unique_id: str = Field(min_length=1, max_length=500)
    name: str = Field(min_length=1, max_length=500)
    resource_type: str
    schema_name: str | None = Field(None, max_length=255)
    database: str | None = Field(None, max_length=255)
    description: str | None = Field(None, max_length=10000)
    owner: str | None = Field(None, max_length=255)
    tags: list[str] = Field(default_factory=list, max_length=100)


class CreateLineageEdge(Query):
    SERVICE: ClassVar[str] = "lineage"
    NAME: ClassVar[str] = "edge_create"
    type: Literal["create_lineage_edge"] = "create_lineage_edge"
    asset: AssetContext
    parent_unique_id: str = Field(min_length=1, max_length=500)
    child_unique_id: str = Field(min_length=1, max_length=500)
    relationship_type: str = "derives_from"


class ListLineageRecords(Query):
    """Nodes or edges of one asset as stored per source (not the merged graph)."""

    SERVICE: ClassVar[str] = "lineage"
    NAME: ClassVar[str] = "records"
    type: Literal["list_lineage_records"] = "list_lineage_records"
    asset: AssetContext
    kind: Literal["nodes", "edges"]
    source: LineageSource | None = None
    limit: int = Field(50, ge=1, le=100)
    offset: int = Field(0, ge=0)


class DeleteLineageRecord(Query):
    SERVICE: ClassVar[str] = "lineage"
    NAME: ClassVar[str] = "record_delete"
    type: Literal["delete_lineage_record"] = "delete_lineage_record"
    asset: AssetContext
    kind: Literal["nodes", "edges"]
    unique_id: str | None = None
    parent_unique_id: str | None = None
    child_unique_id: str | None = None


class DeleteLineageSource(Query):
    SERVICE: ClassVar[str] = "lineage"
    NAME: ClassVar[str] = "source_delete"
    type: Literal["delete_lineage_source"] = "delete_lineage_source"
    asset: AssetContext
    source: LineageSource


class IngestOpenLineage(Query):
    """One OpenLineage event (RunEvent, DatasetEvent or JobEvent), already decompressed."""

    SERVICE: ClassVar[str] = "lineage"
    NAME: ClassVar[str] = "openlineage"
    type: Literal["ingest_openlineage"] = "ingest_openlineage"
    event: dict[str, Any]


LINEAGE_COMMANDS: tuple[type[Command], ...] = (IngestManifest, SyncDbtCloud)
LINEAGE_QUERIES: tuple[type[Query], ...] = (
    GetLineage, ListLineage, LineageImpact, CreateLineageNode, CreateLineageEdge,
    ListLineageRecords, DeleteLineageRecord, DeleteLineageSource, IngestOpenLineage,
)
