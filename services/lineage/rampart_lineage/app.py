"""Composition root of the lineage service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp

from rampart_contracts import lineage as msg
from rampart_contracts.events import AssetDiscovered
from rampart_runtime.secrets import SecretBox
from rampart_runtime.service import ServiceRuntime

from . import handlers, handlers_openlineage, handlers_records
from .catalog_link import on_asset_discovered
from .settings import LineageSettings

MIGRATIONS = Path(__file__).parent / "migrations"


def register(runtime: ServiceRuntime, settings: LineageSettings) -> handlers.LineageDeps:
    """Bind every handler of the service to the bus."""
    deps = handlers.LineageDeps(runtime=runtime, box=SecretBox(settings.secret_key))
    deps.http = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=120, connect=10), trust_env=False)
    session = deps.http
    runtime.on_stop.append(session.close)
    bus = runtime.bus

    def bind(fn: Callable[..., Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
        return partial(fn, deps)

    bus.command_consumer(msg.IngestManifest, bind(handlers.ingest_manifest))
    bus.command_consumer(msg.SyncDbtCloud, bind(handlers.sync_dbt_cloud))
    bus.query_handler(msg.GetLineage, bind(handlers.get_lineage))
    bus.query_handler(msg.ListLineage, bind(handlers.list_lineage))
    bus.query_handler(msg.LineageImpact, bind(handlers.impact))
    bus.query_handler(msg.CreateLineageNode, bind(handlers.create_node))
    bus.query_handler(msg.CreateLineageEdge, bind(handlers.create_edge))
    bus.query_handler(msg.ListLineageRecords, bind(handlers_records.list_records))
    bus.query_handler(msg.DeleteLineageRecord, bind(handlers_records.delete_record))
    bus.query_handler(msg.DeleteLineageSource, bind(handlers_records.delete_source))
    bus.query_handler(msg.IngestOpenLineage, bind(handlers_openlineage.ingest_openlineage))
    bus.event_consumer("catalog", [AssetDiscovered], partial(on_asset_discovered, runtime))
    return deps
