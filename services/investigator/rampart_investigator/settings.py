"""Settings of the investigator service."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from rampart_contracts.settings import CommonSettings


class InvestigatorSettings(CommonSettings):
    port: int = Field(
        8094, validation_alias=AliasChoices("RAMPART_INVESTIGATOR_PORT"),
        description="Port of /healthz, /readyz and /metrics",
    )
