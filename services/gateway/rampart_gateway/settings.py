"""Settings of the gateway."""

from __future__ import annotations

from pydantic import AliasChoices, Field

from rampart_contracts.settings import CommonSettings


class GatewaySettings(CommonSettings):
    port: int = Field(8080, validation_alias=AliasChoices("RAMPART_GATEWAY_PORT"),
                      description="HTTP port of the API")
    secret_key: str = Field(min_length=32, description="Master secret; derives the key hash")
    max_json_bytes: int = Field(1024 * 1024, ge=1024, description="Largest JSON request body")
    key_cache_ttl_s: float = Field(30.0, ge=0, description="How long a verified key is cached")
    rate_lease_max: int = Field(100, ge=1, description="Most tokens one replica leases at once")
    rate_lease_ttl_s: float = Field(1.0, gt=0, description="Unused leased tokens expire after")
    max_manifest_bytes: int = Field(50 * 1024 * 1024, ge=1024, description="Largest manifest upload")
    max_openlineage_bytes: int = Field(5 * 1024 * 1024, ge=1024,
                                       description="Largest OpenLineage event (after gzip)")
    sync_wait_s: float = Field(120.0, ge=0, description="How long an upload waits for its result"
                               " before answering 202 with the job")
