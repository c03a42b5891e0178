"""One function per command and query of the lineage service."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from rampart_contracts.errors import NotFound, RampartError, ValidationFailed
from rampart_contracts.events import LineageUpdated
from rampart_contracts.lineage import (
    CreateLineageEdge,
    CreateLineageNode,
    GetLineage,
    IngestManifest,
    LineageGraphView,
    LineageImpact,
    ListLineage,
    SyncDbtCloud,
)
from rampart_runtime.blobs import delete_blob, get_blob
from rampart_runtime.bus import RawJSON
from rampart_runtime.secrets import SecretBox
from rampart_runtime.service import ServiceRuntime
from rampart_runtime.uow import already_handled

from . import graph_cache
from .domain.model import RELATIONSHIP_TYPES, RESOURCE_TYPES, ParsedNode
from .domain.naming import vertex_kind, vertex_name
from .graph import edge_views, node_view, walk
from .graph_repository import GraphReader
from .graph_sql import graph_json
from .ingest import announce_start, apply_manifest, fail_job
from .records import RecordWriter
from .repository import LineageWriter


@dataclass
class LineageDeps:
    runtime: ServiceRuntime
    box: SecretBox
    http: aiohttp.ClientSession | None = None
    graphs: graph_cache.GraphCache = field(default_factory=graph_cache.GraphCache)


# Replies travel as one NATS message (1 MiB by default): a larger neighbourhood is answered at
# the largest depth that fits, marked partial.
MAX_ANSWER_BYTES = 900_000


def node_not_found(ref: str) -> NotFound:
    return NotFound("Lineage node not found", {
        "asset_id": ref,
        "suggestion": "Use a node id, a qualified name (source.database.schema.table) or a dbt "
                      "unique_id such as model.project.orders",
    })


# -- commands ---------------------------------------------------------------------------
async def ingest_manifest(deps: LineageDeps, cmd: IngestManifest) -> None:
    runtime = deps.runtime
    if await already_handled(runtime.pool, runtime.schema, "ingest_manifest", cmd.message_id):
        return  # redelivered after it was applied; its upload is gone by now
    await announce_start(runtime, cmd, cmd.job_id, "lineage_manifest_upload")
    try:
        raw = [await get_blob(runtime.bus.js, runtime.bus.subjects, cmd.blob)]
    except RampartError as exc:
        await fail_job(runtime, cmd, cmd.job_id, "ingest_manifest", exc)
        return
    # Hand over the only reference: apply_manifest drops the file once it is parsed, instead
    # of this frame keeping it (the file's size) alive through the database transaction.
    await apply_manifest(runtime, cmd, job_id=cmd.job_id, asset=cmd.asset, raw=raw.pop(),
                         consumer="ingest_manifest")
    await delete_blob(runtime.bus.js, runtime.bus.subjects, cmd.blob)


async def sync_dbt_cloud(deps: LineageDeps, cmd: SyncDbtCloud) -> None:
    """The token is opened here, used for two requests and dropped; it is never stored."""
    from .dbt_cloud import fetch_latest_manifest

    runtime = deps.runtime
    if await already_handled(runtime.pool, runtime.schema, "sync_dbt_cloud", cmd.message_id):
        return
    await announce_start(runtime, cmd, cmd.job_id, "lineage_dbt_cloud_sync")
    try:
        token = deps.box.open(cmd.sealed_token.encode()).decode()
        assert deps.http is not None
        artifact = await fetch_latest_manifest(
            deps.http, access_url=cmd.access_url, account_id=cmd.account_id,
            job_id=cmd.dbt_job_id, token=token)
        del token
    except RampartError as exc:
        await fail_job(runtime, cmd, cmd.job_id, "sync_dbt_cloud", exc)
        return
    except ValueError:
        await fail_job(runtime, cmd, cmd.job_id, "sync_dbt_cloud",
                       ValidationFailed("the dbt Cloud token could not be read; sync again"))
        return
    await apply_manifest(runtime, cmd, job_id=cmd.job_id, asset=cmd.asset,
                         raw=artifact.manifest, consumer="sync_dbt_cloud",
                         extra={"dbt_cloud_run_id": str(artifact.run_id)})


# -- graph queries ----------------------------------------------------------------------
async def get_lineage(deps: LineageDeps, q: GetLineage) -> LineageGraphView | RawJSON:
    """One statement renders the graph; a walk that takes too long falls back to the
    level-by-level traversal, which stops at a deadline and says `partial`."""
    reader = GraphReader(deps.runtime.pool)
    root = await reader.resolve(q.org_id, q.ref)
    if root is None:
        raise node_not_found(q.ref)
    version = await graph_cache.current(deps.runtime.pool, q.org_id)
    key = (q.org_id, root, q.depth, q.direction)
    cached = deps.graphs.get(key, version)
    if cached is not None:
        return RawJSON(cached)
    try:
        for depth in range(q.depth, 0, -1):
            text = await graph_json(deps.runtime.pool, root, depth, q.direction,
                                    partial=depth < q.depth)
            if len(text) <= MAX_ANSWER_BYTES:
                body = text.encode()
                deps.graphs.put(key, version, body)
                return RawJSON(body)
    except TimeoutError:
        pass
    result = await walk(reader, root, depth=q.depth, up=q.direction in ("upstream", "both"),
                        down=q.direction in ("downstream", "both"), deadline_s=3.0)
    details = await reader.details([root, *result.upstream, *result.downstream])
    order = sorted
    return LineageGraphView(
        root=node_view(details.get(root), root),
        upstream=[node_view(details.get(v), v)
                  for v in order(result.upstream, key=lambda v: result.upstream[v])],
        downstream=[node_view(details.get(v), v)
                    for v in order(result.downstream, key=lambda v: result.downstream[v])],
        edges=edge_views(result.edges), depth=q.depth, direction=q.direction,
        partial=result.partial,
    )


async def list_lineage(deps: LineageDeps, q: ListLineage) -> dict[str, Any]:
    reader = GraphReader(deps.runtime.pool)
    rows, total = await reader.page(
        q.org_id, source=q.source, has_upstream=q.has_upstream, has_downstream=q.has_downstream,
        search=q.search, asset_id=uuid.UUID(q.asset.asset_id) if q.asset else None,
        limit=q.limit, offset=q.offset)
    details = await reader.details([r["id"] for r in rows])
    items = []
    for r in rows:
        view = node_view(details.get(r["id"]), r["id"])
        view.has_upstream, view.has_downstream = r["has_upstream"], r["has_downstream"]
        items.append(view.model_dump(mode="json"))
    return {"items": items, "total": total}


async def impact(deps: LineageDeps, q: LineageImpact) -> dict[str, Any]:
    """Every node downstream of `q.node` with its distance, kind, owner and monitoring."""
    started = time.monotonic()
    reader = GraphReader(deps.runtime.pool)
    root = await reader.resolve(q.org_id, q.node)
    if root is None:
        raise node_not_found(q.node)
    result = await walk(reader, root, depth=q.depth, up=False, down=True,
                        deadline_s=q.deadline_ms / 1000)
    details = await reader.details([root, *result.downstream])
    impacted = []
    for vid, distance in sorted(result.downstream.items(), key=lambda kv: kv[1]):
        view = node_view(details.get(vid), vid)
        impacted.append({**view.model_dump(mode="json"), "distance": distance,
                         "monitored": view.catalog_table_id is not None})
    return {
        "node": node_view(details.get(root), root).model_dump(mode="json"),
        "depth": q.depth, "impacted": impacted, "total": len(impacted),
        "exposures": sum(1 for i in impacted if i["asset_type"] == "exposure"),
        "partial": result.partial, "elapsed_ms": round((time.monotonic() - started) * 1000, 2),
    }


# -- manual lineage ---------------------------------------------------------------------
async def create_node(deps: LineageDeps, q: CreateLineageNode) -> dict[str, Any]:
    if q.resource_type not in RESOURCE_TYPES:
        raise ValidationFailed(f"resource_type must be one of {', '.join(sorted(RESOURCE_TYPES))}",
                               {"resource_type": q.resource_type})
    node = ParsedNode(unique_id=q.unique_id, name=q.name, resource_type=q.resource_type,
                      database=q.database, schema=q.schema_name, description=q.description or "",
                      owner=q.owner, tags=list(q.tags))
    qn = vertex_name(node, q.asset)
    async with deps.runtime.uow() as uow:
        writer = LineageWriter(uow.conn)
        await writer.lock(q.org_id, q.asset.asset_id, "manual")
        vertices = await writer.ensure_vertices(q.org_id, {qn: (
            node.identifier or node.name, vertex_kind(node), q.asset.source_type,
            uuid.UUID(q.asset.asset_id))})
        created, changed = await RecordWriter(uow.conn).upsert_node(
            q.org_id, uuid.UUID(q.asset.asset_id), "manual", node, vertices[qn])
        if changed:
            await _announce(deps, uow, q, nodes=1)
        await graph_cache.bump(uow.conn, q.org_id)
        await uow.commit()
    return {"id": str(vertices[qn]), "unique_id": q.unique_id,
            "qualified_name": qn, "name": q.name, "resource_type": q.resource_type,
            "source": "manual", "created": created}


async def create_edge(deps: LineageDeps, q: CreateLineageEdge) -> dict[str, Any]:
    if q.relationship_type not in RELATIONSHIP_TYPES:
        raise ValidationFailed(
            f"relationship_type must be one of {', '.join(sorted(RELATIONSHIP_TYPES))}",
            {"relationship_type": q.relationship_type})
    asset_id = uuid.UUID(q.asset.asset_id)
    async with deps.runtime.uow() as uow:
        records = RecordWriter(uow.conn)
        parent = await records.vertex_of_unique_id(q.org_id, asset_id, q.parent_unique_id)
        child = await records.vertex_of_unique_id(q.org_id, asset_id, q.child_unique_id)
        missing = [u for u, v in ((q.parent_unique_id, parent), (q.child_unique_id, child))
                   if v is None]
        if missing:
            raise ValidationFailed(
                f"unknown node {missing[0]!r} in this asset; create it first with POST "
                ".../lineage/nodes or upload a manifest that defines it", {"unknown": missing})
        assert parent is not None and child is not None
        if parent == child:
            raise ValidationFailed("an edge needs two different nodes")
        await LineageWriter(uow.conn).lock(q.org_id, q.asset.asset_id, "manual")
        created = await records.add_edge(q.org_id, asset_id, "manual", parent, child,
                                         q.relationship_type)
        await _announce(deps, uow, q, edges=1)
        await graph_cache.bump(uow.conn, q.org_id)
        await uow.commit()
    return {"parent_unique_id": q.parent_unique_id, "child_unique_id": q.child_unique_id,
            "source": str(parent), "target": str(child),
            "relationship_type": q.relationship_type, "created": created}


async def _announce(deps: LineageDeps, uow: Any, q: Any, nodes: int = 0, edges: int = 0) -> None:
    event: LineageUpdated = q.follow(LineageUpdated, asset_id=q.asset.asset_id, source="manual",
                                     nodes_changed=nodes, edges_changed=edges)
    await uow.publish(deps.runtime.bus.subjects.event(event.type), event)
