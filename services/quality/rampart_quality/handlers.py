"""One function per query and command of the quality service (assets and discovery)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
import structlog

from rampart_contracts.commands import DiscoverAsset
from rampart_contracts.envelope import utcnow
from rampart_contracts.errors import AssetNotFound, RampartError, UpstreamUnreachable
from rampart_contracts.events import AssetDiscovered, JobCompleted, JobFailed, JobStarted
from rampart_contracts.queries import (
    AssetPage,
    AssetView,
    ConnectionTestView,
    CreateAsset,
    GetAsset,
    ListAssets,
    LookupCatalog,
    TestConnection,
)
from rampart_runtime.secrets import SecretBox
from rampart_runtime.service import ServiceRuntime

from .connectors import ConnectionConfig, open_connector
from .domain.refs import SUGGESTION, parse_ref, qualified_name
from .repository import AssetRepository

log = structlog.get_logger(__name__)


@dataclass
class QualityDeps:
    runtime: ServiceRuntime
    box: SecretBox


def asset_view(row: Any) -> AssetView:
    return AssetView(
        id=str(row["id"]),
        qualified_name=row["qualified_name"],
        name=row["name"],
        source_type=row["source_type"],
        is_active=row["is_active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        database_name=row["database_name"],
        description=row["description"],
        total_size_bytes=row["total_size_bytes"],
        table_count=row["table_count"],
        last_discovered_at=row["last_discovered_at"],
    )


def not_found(ref: str) -> AssetNotFound:
    return AssetNotFound("Asset not found", {"asset_id": ref, "suggestion": SUGGESTION})


async def find_asset(deps: QualityDeps, org_id: str, ref_text: str) -> Any:
    ref = parse_ref(ref_text)
    if ref is None:
        raise not_found(ref_text)
    row = await AssetRepository(deps.runtime.pool).find(org_id, ref)
    if row is None:
        raise not_found(ref_text)
    return row


async def create_asset(deps: QualityDeps, q: CreateAsset) -> AssetView:
    config = ConnectionConfig.parse(q.connection_config)
    sealed = deps.box.seal(orjson.dumps(config.model_dump()))
    row = await AssetRepository(deps.runtime.pool).insert(
        org_id=q.org_id,
        name=q.name,
        source_type=q.source_type,
        database_name=config.database,
        qualified_name=qualified_name(q.source_type, config.database),
        description=q.description,
        sealed=sealed,
    )
    log.info("quality.asset.created", asset_id=str(row["id"]), source_type=q.source_type)
    return asset_view(row)


async def get_asset(deps: QualityDeps, q: GetAsset) -> AssetView:
    return asset_view(await find_asset(deps, q.org_id, q.ref))


async def list_assets(deps: QualityDeps, q: ListAssets) -> AssetPage:
    rows, total = await AssetRepository(deps.runtime.pool).page(
        q.org_id, limit=q.limit, offset=q.offset, source=q.source,
        asset_type=q.asset_type, search=q.search,
    )
    return AssetPage(items=[asset_view(r) for r in rows], total=total)


async def connection_of(deps: QualityDeps, org_id: str, asset_id: uuid.UUID) -> ConnectionConfig:
    sealed = await AssetRepository(deps.runtime.pool).sealed_connection(org_id, asset_id)
    if sealed is None:
        raise not_found(str(asset_id))
    return ConnectionConfig.model_validate(orjson.loads(deps.box.open(sealed)))


async def test_connection(deps: QualityDeps, q: TestConnection) -> ConnectionTestView:
    row = await find_asset(deps, q.org_id, q.ref)
    config = await connection_of(deps, q.org_id, row["id"])
    started = time.perf_counter()
    try:
        connector = await open_connector(row["source_type"], config)
        try:
            await connector.ping()
        finally:
            await connector.close()
    except UpstreamUnreachable as exc:
        return ConnectionTestView(
            success=False, tested_at=utcnow(), error_message=exc.message,
            error_code=str(exc.details.get("error_code", exc.code)),
        )
    return ConnectionTestView(
        success=True, tested_at=utcnow(),
        latency_ms=int((time.perf_counter() - started) * 1000),
    )


async def lookup_catalog(deps: QualityDeps, q: LookupCatalog) -> dict[str, str]:
    return await AssetRepository(deps.runtime.pool).catalog_lookup(q.org_id, q.qualified_names)


async def discover_asset(deps: QualityDeps, cmd: DiscoverAsset) -> None:
    """Introspect the source, then record the result and the job outcome in one transaction."""
    runtime = deps.runtime
    events = runtime.bus.subjects
    started: JobStarted = cmd.follow(JobStarted, job_id=cmd.job_id, workflow_name="asset_discovery",
                         message_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{cmd.job_id}/started")))
    async with runtime.uow() as uow:
        await uow.publish(events.event(started.type), started)
        await uow.commit()
    outcome: dict[str, Any] | None = None
    error: str | None = None
    try:
        row = await find_asset(deps, cmd.org_id, cmd.asset_id or "")
        config = await connection_of(deps, cmd.org_id, row["id"])
        connector = await open_connector(row["source_type"], config)
        try:
            tables = await connector.tables()
        finally:
            await connector.close()
        outcome = {"table_count": sum(1 for t in tables if t.kind == "table"),
                   "view_count": sum(1 for t in tables if t.kind == "view"),
                   "total_size_bytes": sum(t.size_bytes or 0 for t in tables)}
    except RampartError as exc:
        error = exc.message
    async with runtime.uow() as uow:
        if not await uow.claim("discover", cmd.message_id):
            return  # redelivered after the outcome was already committed
        if outcome is not None:
            await AssetRepository(uow.conn).sync_catalog(
                cmd.org_id, row["id"], row["source_type"], row["database_name"], tables)
            await AssetRepository(uow.conn).record_discovery(
                cmd.org_id, row["id"], outcome["table_count"], outcome["view_count"],
                outcome["total_size_bytes"], utcnow(),
            )
            discovered: AssetDiscovered = cmd.follow(AssetDiscovered, asset_id=str(row["id"]),
                                    table_count=outcome["table_count"],
                                    total_size_bytes=outcome["total_size_bytes"])
            done: JobCompleted | JobFailed = cmd.follow(
                JobCompleted, job_id=cmd.job_id, result={"asset_id": str(row["id"]), **outcome}
            )
            await uow.publish(events.event(discovered.type), discovered)
        else:
            done = cmd.follow(JobFailed, job_id=cmd.job_id, error=error or "discovery failed")
        await uow.publish(events.event(done.type), done)
        await uow.commit()
    log.info("quality.discovery.finished", job_id=cmd.job_id, ok=outcome is not None)
