"""OpenLineage ingestion: datasets and jobs become vertices, inputs -> job -> outputs become
edges, column lineage becomes column edges, and run states are kept as evidence."""

from __future__ import annotations

from typing import Any

import orjson

from rampart_contracts.events import LineageUpdated
from rampart_contracts.lineage import IngestOpenLineage

from . import graph_cache
from .catalog_link import link_names
from .domain.naming import vertex_kind, vertex_name
from .domain.openlineage import parse_event, qualified_name, source_type_of
from .handlers import LineageDeps
from .records import RecordWriter
from .repository import LineageWriter


async def ingest_openlineage(deps: LineageDeps, q: IngestOpenLineage) -> dict[str, Any]:
    event = parse_event(q.event)
    wanted: dict[str, tuple[str, str, str | None, None]] = {}
    uid_to_qn: dict[str, str] = {}
    for node in event.nodes:
        qn = uid_to_qn[node.unique_id] = vertex_name(node, None)
        namespace = str(node.meta.get("namespace", ""))
        wanted.setdefault(qn, (node.name, vertex_kind(node), source_type_of(namespace), None))
    for uid, (namespace, name) in event.referenced_datasets.items():
        qn = uid_to_qn[uid] = qualified_name(namespace, name)
        wanted.setdefault(qn, (name.rsplit(".", 1)[-1], "dataset", source_type_of(namespace),
                               None))
    counts = {"nodes_changed": 0, "edges_created": 0, "column_edges": 0, "run_recorded": False}
    async with deps.runtime.uow() as uow:
        writer, records = LineageWriter(uow.conn), RecordWriter(uow.conn)
        await writer.lock(q.org_id, None, "openlineage")
        vertex = await writer.ensure_vertices(q.org_id, wanted)  # type: ignore[arg-type]
        vid = {uid: vertex[qn] for uid, qn in uid_to_qn.items()}
        known = await records.existing_nodes(q.org_id, None, "openlineage",
                                             [n.unique_id for n in event.nodes])
        for node in event.nodes:
            if node.unique_id in known:
                _keep_what_this_event_omits(node, known[node.unique_id])
            _, changed = await records.upsert_node(q.org_id, None, "openlineage", node,
                                                   vid[node.unique_id])
            counts["nodes_changed"] += int(changed)
        for parent, child in event.edges:
            if vid[parent] != vid[child] and await records.add_edge(
                    q.org_id, None, "openlineage", vid[parent], vid[child], "data_flow"):
                counts["edges_created"] += 1
        for ce in event.column_edges:
            await records.upsert_column_edge(q.org_id, vid[ce.source_node_uid], ce.source_column,
                                             vid[ce.target_node_uid], ce.target_column,
                                             ce.transformation)
            counts["column_edges"] += 1
        if event.run is not None and event.run.job_uid in vid:
            counts["run_recorded"] = await records.insert_run(q.org_id, event.run,
                                                              vid[event.run.job_uid])
        if counts["nodes_changed"] or counts["edges_created"]:
            updated: LineageUpdated = q.follow(
                LineageUpdated, source="openlineage", nodes_changed=counts["nodes_changed"],
                edges_changed=counts["edges_created"])
            await uow.publish(deps.runtime.bus.subjects.event(updated.type), updated)
        await graph_cache.bump(uow.conn, q.org_id)
        await uow.commit()
    await link_names(deps.runtime, q.org_id, sorted(wanted))
    return {"kind": event.kind, "event_time": event.event_time.isoformat(),
            "run_id": event.run.run_id if event.run else None, **counts}


def _keep_what_this_event_omits(node: Any, stored: Any) -> None:
    """Events are partial (a START rarely carries the schema facet): an empty field keeps
    what an earlier event of the same dataset or job said, instead of erasing it."""
    if not node.columns:
        node.columns = orjson.loads(stored["columns"]) if stored["columns"] else {}
    if not node.description and stored["description"]:
        node.description = stored["description"]
    if not node.owner and stored["owner"]:
        node.owner = stored["owner"]
    if not node.tags and stored["tags"]:
        node.tags = list(stored["tags"])
    if stored["meta"]:
        node.meta = {**orjson.loads(stored["meta"]), **node.meta}
