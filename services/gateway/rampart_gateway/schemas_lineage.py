"""Request bodies and response shapes of the lineage API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from rampart_contracts.lineage import LineageEdgeView, LineageGraphView, LineageNodeView


class NodeCreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    unique_id: str = Field(min_length=1, max_length=500, description="e.g. source.crm.customers")
    name: str = Field(min_length=1, max_length=500)
    resource_type: str = Field(description="model, source, seed, snapshot, exposure, table, …")
    schema_name: str | None = Field(None, alias="schema", max_length=255)
    database: str | None = Field(None, max_length=255)
    description: str | None = Field(None, max_length=10000)
    owner: str | None = Field(None, max_length=255)
    tags: list[str] = Field(default_factory=list, max_length=100)


class EdgeCreateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    parent_unique_id: str = Field(min_length=1, max_length=500)
    child_unique_id: str = Field(min_length=1, max_length=500)
    relationship_type: str = Field("derives_from", description="derives_from, data_flow, …")


class DbtCloudSyncBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    account_id: str = Field(description="dbt Cloud account id (digits)")
    api_token: SecretStr = Field(description="Service token with 'Read artifacts'; used once")
    job_id: str = Field(description="dbt Cloud job id (digits)")
    access_url: str = Field("https://cloud.getdbt.com", description="Cell or regional host")

    @field_validator("account_id", "job_id", mode="before")
    @classmethod
    def _digits(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value


class SyncStatsOut(BaseModel):
    nodes_created: int
    nodes_updated: int
    nodes_deleted: int
    edges_created: int
    edges_updated: int
    edges_deleted: int


class ManifestMetadataOut(BaseModel):
    generated_at: str | None = None
    dbt_version: str | None = None
    project_name: str | None = None
    dbt_schema_version: int | None = None


class LineageSyncOut(BaseModel):
    """The seed's upload response: stats, manifest metadata and the catalog sync job."""

    asset_id: str
    sync_stats: SyncStatsOut
    manifest_metadata: ManifestMetadataOut
    catalog_sync_job_id: str | None = None
    job_id: str


class LineageJobOut(BaseModel):
    """Answered with 202 when the ingest is still running: follow it with GET /sdk/jobs/{id}."""

    job_id: str
    status: str
    asset_id: str
    catalog_sync_job_id: str | None = None


class ImpactOut(BaseModel):
    node: LineageNodeView
    depth: int
    impacted: list[dict[str, Any]]
    total: int
    exposures: int
    partial: bool
    elapsed_ms: float


__all__ = [
    "DbtCloudSyncBody", "EdgeCreateBody", "ImpactOut", "LineageEdgeView", "LineageGraphView",
    "LineageJobOut", "LineageNodeView", "LineageSyncOut", "NodeCreateBody",
]
