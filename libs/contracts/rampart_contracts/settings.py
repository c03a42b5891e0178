"""Settings groups shared by services; each service composes them into one Settings class."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/rampart"
DEFAULT_NATS_URL = "nats://127.0.0.1:4222"


class CommonSettings(BaseSettings):
    """What every service needs: where PostgreSQL and NATS are, and how to log."""

    model_config = SettingsConfigDict(env_prefix="RAMPART_", extra="ignore")

    database_url: str = Field(DEFAULT_DATABASE_URL, description="PostgreSQL DSN")
    db_pool_min: int = Field(1, ge=1, description="Minimum pooled connections")
    db_pool_max: int = Field(10, ge=1, description="Maximum pooled connections")
    nats_url: str = Field(DEFAULT_NATS_URL, description="NATS server URL(s), comma-separated")
    bus_prefix: str = Field(
        "rampart", pattern=r"^[a-z][a-z0-9_]*$", description="Subject and stream prefix"
    )
    stream_replicas: int = Field(1, ge=1, le=5, description="JetStream replicas per stream")
    log_level: str = Field("info", description="debug, info, warning or error")
    log_json: bool | None = Field(None, description="JSON logs; default: JSON unless a terminal")
    host: str = Field("127.0.0.1", description="Interface the HTTP server binds")
    request_timeout_s: float = Field(5.0, gt=0, description="Bus request/reply timeout")
    otel_exporter: str = Field("none", description="none or console")
