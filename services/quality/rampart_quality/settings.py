"""Settings of the quality service."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from rampart_contracts.settings import CommonSettings


class QualitySettings(CommonSettings):
    port: int = Field(
        8092, validation_alias=AliasChoices("RAMPART_QUALITY_PORT"),
        description="Port of /healthz, /readyz and /metrics",
    )
    secret_key: str = Field(
        min_length=32, description="Master secret; derives the key sealing connection secrets"
    )
