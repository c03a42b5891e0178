"""Request and response bodies of the gateway's HTTP API (also the OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rampart_contracts.queries import AssetView, ConnectionTestView


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ApiKeyCreateBody(Strict):
    name: str = Field(min_length=1, max_length=100, description="Label shown in listings")
    scope: Literal["read-only", "read-write", "admin"] = Field(
        "read-only", description="read-only: GETs; read-write: also changes; admin: also keys"
    )


class ApiKeyOut(BaseModel):
    id: str
    name: str
    key_prefix: str = Field(description="First characters of the key, e.g. `aa_live_abc1`")
    key_suffix: str = Field(description="Last four characters of the key")
    display_key: str
    scope: str
    rate_limit_per_min: int
    burst_limit: int
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None
    is_active: bool = True


class CreatedApiKeyOut(ApiKeyOut):
    key: str = Field(description="The full key. Shown once; store it now.")


class UsageOut(BaseModel):
    current_count: int = Field(description="Active keys of the organization")
    max_keys: int
    rate_limit_per_min: int = Field(description="Limit of the calling key")
    burst_limit: int
    can_create: bool
    tier: str
    scope: str = Field(description="Scope of the calling key")


class AssetCreateBody(Strict):
    name: str = Field(min_length=1, max_length=200)
    source_type: Literal["postgresql", "mysql"]
    connection_config: dict[str, Any] = Field(
        description="host, port, database, user, password, ssl, connect_timeout_s, "
        "statement_timeout_s, max_concurrency"
    )
    description: str | None = Field(None, max_length=2000)


class AssetOut(AssetView):
    """An asset in both API families (SDK fields plus the seed's public names)."""

    source: str | None = Field(None, description="Same as source_type (seed name)")
    database: str | None = Field(None, description="Same as database_name (seed name)")
    schema_name: str | None = None
    row_count: int | None = None
    column_count: int | None = None
    tags: list[str] = Field(default_factory=list)


class ConnectionTestOut(ConnectionTestView):
    pass


class DiscoveryJobOut(BaseModel):
    job_id: str
    asset_id: str
    status: str = "pending"
    message: str = "Discovery queued"
    started_at: datetime


class JobOut(BaseModel):
    job_id: str
    status: Literal["pending", "running", "completed", "failed"]
    workflow_name: str
    asset_id: str | None = None
    progress: int
    message: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None
    created_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None


class Pagination(BaseModel):
    total: int
    limit: int
    offset: int
    has_more: bool


class ErrorBody(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorEnvelope(BaseModel):
    error: ErrorBody
