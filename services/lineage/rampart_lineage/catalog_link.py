"""Linking vertices to the catalog tables discovery found (owned by the quality service).

Names follow the catalog's `source_type.database.schema.table`, so a link is a name match the
quality service confirms. Linking runs after every ingest and again when an asset's discovery
completes; when the quality service is down the link simply waits for the next discovery."""

from __future__ import annotations

import uuid

import structlog

from rampart_contracts.envelope import Event
from rampart_contracts.errors import RampartError
from rampart_contracts.queries import LookupCatalog
from rampart_runtime.service import ServiceRuntime

from . import graph_cache

log = structlog.get_logger(__name__)
BATCH = 2000  # keeps each request well under NATS's 1 MiB message limit


async def link_names(runtime: ServiceRuntime, org_id: str, names: list[str]) -> int:
    """Set or clear `catalog_table_id` of the vertices named; returns how many are linked."""
    linked = 0
    for start in range(0, len(names), BATCH):
        chunk = names[start:start + BATCH]
        try:
            found: dict[str, str] = await runtime.bus.request(
                LookupCatalog(org_id=org_id, qualified_names=chunk), timeout=10)
        except RampartError as exc:
            log.warning("lineage.catalog_link.skipped", reason=exc.message)
            return linked
        async with runtime.pool.acquire() as conn, conn.transaction():
            status = await conn.execute(
                "UPDATE lineage.vertices v SET catalog_table_id = x.table_id"
                " FROM unnest($2::text[], $3::uuid[]) AS x(qn, table_id)"
                " WHERE v.org_id = $1 AND v.qualified_name = x.qn"
                " AND v.catalog_table_id IS DISTINCT FROM x.table_id",
                org_id, chunk, [uuid.UUID(found[n]) if n in found else None for n in chunk])
            if not str(status).endswith(" 0"):
                await graph_cache.bump(conn, org_id)
        linked += len(found)
    return linked


async def link_asset(runtime: ServiceRuntime, org_id: str, asset_id: str) -> int:
    rows = await runtime.pool.fetch(
        "SELECT qualified_name FROM lineage.vertices WHERE org_id = $1 AND asset_id = $2",
        org_id, uuid.UUID(asset_id))
    return await link_names(runtime, org_id, [r["qualified_name"] for r in rows])


async def on_asset_discovered(runtime: ServiceRuntime, event: Event) -> None:
    if event.asset_id:
        linked = await link_asset(runtime, event.org_id, event.asset_id)
        log.info("lineage.catalog_link.refreshed", asset_id=event.asset_id, linked=linked)
