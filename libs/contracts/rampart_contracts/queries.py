"""Request/reply messages the gateway sends to the owning service, and their reply data."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field

from .envelope import Query

SourceType = Literal["postgresql", "mysql"]


class AssetView(BaseModel):
    """An asset as clients see it: a monitored data-source connection, secrets excluded."""

    id: str
    qualified_name: str = Field(description="`<source_type>.<database>`")
    name: str
    asset_type: str = "database"
    source_type: str
    is_active: bool = True
    created_at: datetime
    updated_at: datetime
    database_name: str | None = None
    description: str | None = None
    total_size_bytes: int | None = None
    table_count: int | None = None
    last_discovered_at: datetime | None = None


class AssetPage(BaseModel):
    items: list[AssetView]
    total: int


class ConnectionTestView(BaseModel):
    success: bool
    tested_at: datetime
    latency_ms: int | None = None
    error_message: str | None = None
    error_code: str | None = None


class CreateAsset(Query):
    SERVICE: ClassVar[str] = "quality"
    NAME: ClassVar[str] = "asset_create"
    type: Literal["create_asset"] = "create_asset"
    name: str = Field(min_length=1, max_length=200)
    source_type: SourceType
    connection_config: dict[str, Any]
    description: str | None = Field(None, max_length=2000)


class GetAsset(Query):
    """Resolve a UUID, a unique UUID prefix, an asset or a table qualified name."""

    SERVICE: ClassVar[str] = "quality"
    NAME: ClassVar[str] = "asset_get"
    type: Literal["get_asset"] = "get_asset"
    ref: str = Field(min_length=1, max_length=500)


class ListAssets(Query):
    SERVICE: ClassVar[str] = "quality"
    NAME: ClassVar[str] = "asset_list"
    type: Literal["list_assets"] = "list_assets"
    limit: int = Field(50, ge=1, le=100)
    offset: int = Field(0, ge=0)
    source: str | None = None
    asset_type: str | None = None
    search: str | None = None


class TestConnection(Query):
    SERVICE: ClassVar[str] = "quality"
    NAME: ClassVar[str] = "asset_test_connection"
    type: Literal["test_connection"] = "test_connection"
    ref: str


class LookupCatalog(Query):
    """Which of these table qualified names discovery has found (and not seen removed)."""

    SERVICE: ClassVar[str] = "quality"
    NAME: ClassVar[str] = "catalog_lookup"
    type: Literal["lookup_catalog"] = "lookup_catalog"
    qualified_names: list[str] = Field(max_length=200_000)


ALL_QUERIES: tuple[type[Query], ...] = (CreateAsset, GetAsset, ListAssets, TestConnection,
                                        LookupCatalog)
