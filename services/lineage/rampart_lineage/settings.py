"""Settings of the lineage service."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from rampart_contracts.settings import CommonSettings


class LineageSettings(CommonSettings):
    port: int = Field(
        8091, validation_alias=AliasChoices("RAMPART_LINEAGE_PORT"),
        description="Port of /healthz, /readyz and /metrics",
    )
    secret_key: str = Field(min_length=32, description="Master secret; opens sealed dbt Cloud tokens")
