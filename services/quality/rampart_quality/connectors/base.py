"""The connector interface every warehouse implements, and connection settings validation."""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rampart_contracts.errors import UpstreamUnreachable, ValidationFailed

DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


class ConnectionConfig(BaseModel):
    """What it takes to reach a warehouse. `password` never leaves the service unencrypted."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=255)
    port: int | None = Field(None, ge=1, le=65535)
    database: str = Field(min_length=1, max_length=128)
    user: str = Field(min_length=1, max_length=128)
    password: str | None = Field(None, max_length=1024)
    ssl: bool = False
    connect_timeout_s: float = Field(5.0, gt=0, le=60)
    statement_timeout_s: float = Field(30.0, gt=0, le=3600)
    max_concurrency: int = Field(4, ge=1, le=64)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            if "username" in data and "user" not in data:
                data["user"] = data.pop("username")
            if "dbname" in data and "database" not in data:
                data["database"] = data.pop("dbname")
        return data

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> ConnectionConfig:
        """Validate user input, answering with a message that names every bad key."""
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            problems = []
            for err in exc.errors():
                loc = ".".join(str(p) for p in err["loc"]) or "connection_config"
                problems.append(f"{loc}: {err['msg']}")
            raise ValidationFailed(
                "invalid connection_config: " + "; ".join(problems),
                {"accepted_keys": sorted(cls.model_fields)},
            ) from None

    def port_for(self, source_type: str) -> int:
        return self.port or DEFAULT_PORTS[source_type]


@dataclass(frozen=True)
class TableInfo:
    """One relation of the source as discovery sees it."""

    schema: str
    name: str
    kind: str  # "table" or "view"
    row_estimate: int | None
    size_bytes: int | None


@dataclass(frozen=True)
class SourceSummary:
    table_count: int
    view_count: int
    total_size_bytes: int | None


class Connector(ABC):
    """One monitored source. All SQL sent to a warehouse goes through `fetch`."""

    source_type: str
    quote_char: str  # the dialect's identifier quote: " for PostgreSQL, ` for MySQL

    def __init__(self, config: ConnectionConfig) -> None:
        self.config = config

    @classmethod
    def quote(cls, identifier: str) -> str:
        """Quote one identifier for this dialect; the only place identifiers are quoted."""
        if "\x00" in identifier:
            raise ValueError("identifier contains a NUL byte")
        q = cls.quote_char
        return q + identifier.replace(q, q + q) + q

    def timed_out(self) -> UpstreamUnreachable:
        """The error a statement past the configured statement timeout ends with."""
        return UpstreamUnreachable(
            f"statement exceeded the {self.config.statement_timeout_s:g}s timeout",
            {"error_code": "STATEMENT_TIMEOUT"},
        )

    def qualified(self, *parts: str) -> str:
        return ".".join(self.quote(p) for p in parts)

    @abstractmethod
    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        """Run a read-only statement under the statement timeout."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def tables(self) -> list[TableInfo]:
        """Every user table and view with its estimated rows and size (catalog statistics)."""

    async def summary(self) -> SourceSummary:
        """Count user tables and views and their total size."""
        found = await self.tables()
        return SourceSummary(
            table_count=sum(1 for t in found if t.kind == "table"),
            view_count=sum(1 for t in found if t.kind == "view"),
            total_size_bytes=sum(t.size_bytes or 0 for t in found),
        )

    async def ping(self) -> None:
        rows = await self.fetch("SELECT 1 AS ok")
        if not rows or int(next(iter(rows[0].values()))) != 1:
            raise UpstreamUnreachable("the data source answered SELECT 1 unexpectedly")


_LIMITS: dict[str, asyncio.Semaphore] = {}


def concurrency_limit(asset_id: str, size: int) -> asyncio.Semaphore:
    """Per-source limit on concurrent statements, shared by all checks in this process."""
    sem = _LIMITS.get(asset_id)
    if sem is None:
        sem = _LIMITS[asset_id] = asyncio.Semaphore(size)
    return sem


async def open_connector(source_type: str, config: ConnectionConfig) -> Connector:
    """Connect read-only with a timeout; raises UpstreamUnreachable with a clear reason."""
    if source_type == "postgresql":
        from .postgres import PostgresConnector

        return await PostgresConnector.connect(config)
    if source_type == "mysql":
        from .mysql import MySQLConnector

        return await MySQLConnector.connect(config)
    raise ValidationFailed(f"unsupported source_type {source_type!r}; use postgresql or mysql")
