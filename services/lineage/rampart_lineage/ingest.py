"""Manifest ingestion (upload and dbt Cloud): parse off the event loop, apply in one
transaction, report through job events. A failed ingest leaves the previous lineage as it was."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import asdict
from typing import Any

import structlog

from rampart_contracts.envelope import Command
from rampart_contracts.errors import RampartError
from rampart_contracts.events import JobCompleted, JobFailed, JobStarted, LineageUpdated
from rampart_contracts.lineage import AssetContext
from rampart_runtime.service import ServiceRuntime

from . import graph_cache
from .catalog_link import link_asset
from .domain.manifest import _gc_paused, parse_manifest
from .repository import LineageWriter

log = structlog.get_logger(__name__)


async def announce_start(runtime: ServiceRuntime, cmd: Command, job_id: str, workflow: str) -> None:
    started: JobStarted = cmd.follow(
        JobStarted, job_id=job_id, workflow_name=workflow,
        message_id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{job_id}/started")))
    async with runtime.uow() as uow:
        await uow.publish(runtime.bus.subjects.event(started.type), started)
        await uow.commit()


async def fail_job(runtime: ServiceRuntime, cmd: Command, job_id: str, consumer: str,
                   error: RampartError) -> None:
    async with runtime.uow() as uow:
        if not await uow.claim(consumer, cmd.message_id):
            return
        failed: JobFailed = cmd.follow(JobFailed, job_id=job_id, error=error.message,
                                       error_code=error.code, details=error.details)
        await uow.publish(runtime.bus.subjects.event(failed.type), failed)
        await uow.commit()
    log.info("lineage.ingest.failed", job_id=job_id, code=error.code, error=error.message)


async def apply_manifest(runtime: ServiceRuntime, cmd: Command, *, job_id: str,
                         asset: AssetContext, raw: bytes, consumer: str,
                         extra: dict[str, Any] | None = None) -> None:
    """Parse and apply; the job completes with the seed's response fields as its result."""
    try:
        manifest = await asyncio.to_thread(parse_manifest, raw)
    except RampartError as exc:
        await fail_job(runtime, cmd, job_id, consumer, exc)
        return
    del raw
    subjects = runtime.bus.subjects
    async with runtime.uow() as uow:
        if not await uow.claim(consumer, cmd.message_id):
            return  # a redelivery of a command already applied
        # The diff makes ~10^5 rows and ids while the parsed manifest (~10^6 objects) is alive:
        # with the collector on, its passes over all of it took ~0.3 s per 10k models and
        # stalled the COPY streams. Paused process-wide like the parser's pause (bounded by
        # the upload limit); cycles other requests make meanwhile are collected after it.
        with _gc_paused(True):
            stats = await LineageWriter(uow.conn).replace_snapshot(
                cmd.org_id, asset, "dbt", manifest.nodes, manifest.edges)
        meta = asdict(manifest.metadata)
        public = stats.public()
        await LineageWriter(uow.conn).record_ingest(cmd.org_id, asset.asset_id, "dbt", job_id,
                                                    meta, public)
        result = {
            "asset_id": asset.asset_id,
            "sync_stats": public,
            "manifest_metadata": {k: meta.get(k) for k in
                                  ("generated_at", "dbt_version", "project_name",
                                   "dbt_schema_version", "invocation_id")},
            **(extra or {}),
        }
        if any(public.values()):
            updated: LineageUpdated = cmd.follow(
                LineageUpdated, asset_id=asset.asset_id, source="dbt",
                nodes_changed=public["nodes_created"] + public["nodes_updated"]
                + public["nodes_deleted"],
                edges_changed=public["edges_created"] + public["edges_updated"]
                + public["edges_deleted"])
            await uow.publish(subjects.event(updated.type), updated)
        done: JobCompleted = cmd.follow(JobCompleted, job_id=job_id, result=result)
        await uow.publish(subjects.event(done.type), done)
        await graph_cache.bump(uow.conn, cmd.org_id)
        await uow.commit()
    log.info("lineage.manifest.ingested", job_id=job_id, nodes=len(manifest.nodes),
             edges=len(manifest.edges), **public)
    await link_asset(runtime, cmd.org_id, asset.asset_id)
    if sum(public.values()) >= ANALYZE_AFTER_ROWS:
        _background(_analyze(runtime))


ANALYZE_AFTER_ROWS = 5000  # fresh statistics after a large ingest keep graph plans good
_tasks: set[asyncio.Task[None]] = set()


def _background(coro: Any) -> None:
    task = asyncio.create_task(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


async def _analyze(runtime: ServiceRuntime) -> None:
    try:
        await runtime.pool.execute("ANALYZE lineage.vertices, lineage.nodes, lineage.edges")
    except Exception as exc:  # statistics are an optimisation; the next ingest retries
        log.warning("lineage.analyze.failed", error=str(exc))
