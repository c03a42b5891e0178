"""Settings of the alerting service."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from rampart_contracts.settings import CommonSettings


class AlertingSettings(CommonSettings):
    port: int = Field(
        8093, validation_alias=AliasChoices("RAMPART_ALERTING_PORT"),
        description="Port of /healthz, /readyz and /metrics",
    )
