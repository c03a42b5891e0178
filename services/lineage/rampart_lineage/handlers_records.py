"""Per-source lineage records: list and delete manual nodes and edges, remove a whole source."""

from __future__ import annotations

import uuid
from typing import Any

from rampart_contracts.errors import NotFound, ValidationFailed
from rampart_contracts.events import LineageUpdated
from rampart_contracts.lineage import DeleteLineageRecord, DeleteLineageSource, ListLineageRecords

from . import graph_cache
from .handlers import LineageDeps
from .records import RecordWriter
from .repository import LineageWriter

_NODE_FIELDS = (
    "unique_id, name, resource_type, database_name, schema_name, identifier, materialization,"
    " description, tags, owner, source, vertex_id, updated_at"
)


async def list_records(deps: LineageDeps, q: ListLineageRecords) -> dict[str, Any]:
    """The nodes or edges one asset holds, as each source stored them."""
    pool = deps.runtime.pool
    args: list[Any] = [q.org_id, uuid.UUID(q.asset.asset_id)]
    if q.source:
        args.append(q.source)

    def where(alias: str) -> str:
        clause = f"{alias}org_id = $1 AND {alias}asset_id = $2"
        return clause + (f" AND {alias}source = $3" if q.source else "")

    if q.kind == "nodes":
        total = await pool.fetchval(f"SELECT count(*) FROM lineage.nodes WHERE {where('')}", *args)
        rows = await pool.fetch(
            f"SELECT {_NODE_FIELDS} FROM lineage.nodes WHERE {where('')}"
            f" ORDER BY unique_id LIMIT {q.limit} OFFSET {q.offset}", *args)
        items = [{**dict(r), "vertex_id": str(r["vertex_id"]) if r["vertex_id"] else None,
                  "schema": r["schema_name"], "database": r["database_name"],
                  "updated_at": r["updated_at"].isoformat()} for r in rows]
    else:
        total = await pool.fetchval(f"SELECT count(*) FROM lineage.edges WHERE {where('')}", *args)
        rows = await pool.fetch(
            "SELECT e.source, e.relationship_type, e.confidence, p.qualified_name AS parent,"
            " c.qualified_name AS child, e.parent_id, e.child_id,"
            " (SELECT n.unique_id FROM lineage.nodes n WHERE n.vertex_id = e.parent_id"
            "   AND n.asset_id = e.asset_id LIMIT 1) AS parent_unique_id,"
            " (SELECT n.unique_id FROM lineage.nodes n WHERE n.vertex_id = e.child_id"
            "   AND n.asset_id = e.asset_id LIMIT 1) AS child_unique_id"
            f" FROM lineage.edges e JOIN lineage.vertices p ON p.id = e.parent_id"
            f" JOIN lineage.vertices c ON c.id = e.child_id WHERE {where('e.')}"
            f" ORDER BY p.qualified_name, c.qualified_name LIMIT {q.limit} OFFSET {q.offset}",
            *args)
        items = [{"parent_unique_id": r["parent_unique_id"], "child_unique_id": r["child_unique_id"],
                  "parent_qualified_name": r["parent"], "child_qualified_name": r["child"],
                  "source": str(r["parent_id"]), "target": str(r["child_id"]),
                  "relationship_type": r["relationship_type"], "confidence": r["confidence"],
                  "lineage_source": r["source"]} for r in rows]
    return {"items": items, "total": int(total)}


async def delete_record(deps: LineageDeps, q: DeleteLineageRecord) -> dict[str, Any]:
    """Delete one manual node (with its manual edges) or one manual edge."""
    asset_id = uuid.UUID(q.asset.asset_id)
    async with deps.runtime.uow() as uow:
        records = RecordWriter(uow.conn)
        writer = LineageWriter(uow.conn)
        await writer.lock(q.org_id, q.asset.asset_id, "manual")
        if q.kind == "nodes":
            if not q.unique_id:
                raise ValidationFailed("unique_id is required")
            vertex = await records.delete_node(q.org_id, asset_id, "manual", q.unique_id)
            if vertex is None:
                raise NotFound("Manual lineage node not found", {"unique_id": q.unique_id})
            await writer.drop_orphan_vertices([vertex])
            changed = {"nodes_deleted": 1}
        else:
            if not q.parent_unique_id or not q.child_unique_id:
                raise ValidationFailed("parent_unique_id and child_unique_id are required")
            parent = await records.vertex_of_unique_id(q.org_id, asset_id, q.parent_unique_id)
            child = await records.vertex_of_unique_id(q.org_id, asset_id, q.child_unique_id)
            if parent is None or child is None or not await records.delete_edge(
                    q.org_id, asset_id, "manual", parent, child):
                raise NotFound("Manual lineage edge not found", {
                    "parent_unique_id": q.parent_unique_id,
                    "child_unique_id": q.child_unique_id})
            await writer.drop_orphan_vertices([parent, child])
            changed = {"edges_deleted": 1}
        event: LineageUpdated = q.follow(LineageUpdated, asset_id=q.asset.asset_id,
                                         source="manual", nodes_changed=changed.get(
                                             "nodes_deleted", 0),
                                         edges_changed=changed.get("edges_deleted", 0))
        await uow.publish(deps.runtime.bus.subjects.event(event.type), event)
        await graph_cache.bump(uow.conn, q.org_id)
        await uow.commit()
    return {"deleted": True, **changed}


async def delete_source(deps: LineageDeps, q: DeleteLineageSource) -> dict[str, Any]:
    """Remove exactly one source's lineage of an asset; other sources stay as they were."""
    async with deps.runtime.uow() as uow:
        counts = await LineageWriter(uow.conn).delete_source(q.org_id, q.asset.asset_id,
                                                             q.source)
        if counts["nodes_deleted"] or counts["edges_deleted"]:
            event: LineageUpdated = q.follow(
                LineageUpdated, asset_id=q.asset.asset_id, source=q.source,
                nodes_changed=counts["nodes_deleted"], edges_changed=counts["edges_deleted"])
            await uow.publish(deps.runtime.bus.subjects.event(event.type), event)
        await graph_cache.bump(uow.conn, q.org_id)
        await uow.commit()
    return {"asset_id": q.asset.asset_id, "source": q.source, **counts}
