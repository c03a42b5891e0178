"""Administrative operations that run against the database directly (bootstrap)."""

from __future__ import annotations

from typing import Any

from rampart_contracts.errors import ValidationFailed
from rampart_gateway.app import MIGRATIONS
from rampart_gateway.domain import SCOPES, TIERS, display_key
from rampart_gateway.repository import GatewayRepository
from rampart_gateway.routes.api_keys import create_key
from rampart_runtime.db import create_pool, ensure_database, migrate
from rampart_runtime.secrets import KeyHasher
from rampart_runtime.uow import ensure_bus_tables


async def bootstrap_key(
    *, database_url: str, secret_key: str, org: str, name: str, scope: str, tier: str,
    rate_limit_per_min: int | None = None, burst: int | None = None, environment: str = "live",
) -> dict[str, Any]:
    """Create the organization if needed and a key in it; returns the key with its secret."""
    if scope not in SCOPES:
        raise ValidationFailed(f"scope must be one of {', '.join(SCOPES)}")
    if tier not in TIERS:
        raise ValidationFailed(f"tier must be one of {', '.join(TIERS)}")
    await ensure_database(database_url)
    pool = await create_pool(database_url, 1, 2)
    try:
        await ensure_bus_tables(pool, "gateway")
        await migrate(pool, "gateway", MIGRATIONS)
        repo = GatewayRepository(pool)
        await repo.ensure_org(org, org, tier)
        secret, row = await create_key(
            repo, KeyHasher(secret_key), org_id=org, name=name, scope=scope,
            per_min=rate_limit_per_min, burst=burst, environment=environment,
        )
    finally:
        await pool.close()
    return {
        "id": str(row["id"]), "org_id": org, "name": row["name"], "scope": row["scope"],
        "tier": tier, "rate_limit_per_min": row["rate_limit_per_min"],
        "burst_limit": row["burst_limit"],
        "display_key": display_key(row["key_prefix"], row["key_suffix"]), "key": secret,
    }
