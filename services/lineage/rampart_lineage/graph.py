"""Walking the lineage graph: neighbourhoods for `lineage.get` and downstream impact."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from rampart_contracts.lineage import LineageEdgeView, LineageNodeView

from .graph_repository import GraphReader

MAX_VISITED = 20_000


@dataclass
class Walk:
    upstream: dict[uuid.UUID, int] = field(default_factory=dict)
    downstream: dict[uuid.UUID, int] = field(default_factory=dict)
    edges: dict[tuple[uuid.UUID, uuid.UUID], dict[str, Any]] = field(default_factory=dict)
    partial: bool = False


async def walk(reader: GraphReader, root: uuid.UUID, *, depth: int, up: bool, down: bool,
               deadline_s: float | None = None) -> Walk:
    """Breadth-first, one query per level for both directions; distance = first level seen.

    Stops early, marking the result partial, at the deadline or after MAX_VISITED vertices,
    so a huge graph answers with what it has instead of timing out silently."""
    result = Walk()
    started = time.monotonic()
    seen_up, seen_down = {root}, {root}
    front_up = [root] if up else []
    front_down = [root] if down else []
    for level in range(1, depth + 1):
        if not front_up and not front_down:
            break
        if deadline_s is not None and time.monotonic() - started > deadline_s:
            result.partial = True
            break
        rows = await reader.edges_around(front_down, front_up)
        down_set, up_set = set(front_down), set(front_up)
        next_up: list[uuid.UUID] = []
        next_down: list[uuid.UUID] = []
        for row in rows:
            parent, child = row["parent_id"], row["child_id"]
            if parent in down_set and child not in seen_down:
                seen_down.add(child)
                result.downstream[child] = level
                next_down.append(child)
            if child in up_set and parent not in seen_up:
                seen_up.add(parent)
                result.upstream[parent] = level
                next_up.append(parent)
            if (parent in down_set) or (child in up_set):
                _merge_edge(result.edges, row)
        front_up, front_down = next_up, next_down
        if len(seen_up) + len(seen_down) > MAX_VISITED:
            result.partial = True
            break
    return result


def _merge_edge(edges: dict[tuple[uuid.UUID, uuid.UUID], dict[str, Any]],
                row: asyncpg.Record) -> None:
    key = (row["parent_id"], row["child_id"])
    known = edges.get(key)
    if known is None:
        edges[key] = {"edge_type": row["relationship_type"], "confidence": row["confidence"],
                      "sources": {row["source"]}}
    else:
        known["confidence"] = max(known["confidence"], row["confidence"])
        known["sources"].add(row["source"])


def node_view(row: asyncpg.Record | None, vid: uuid.UUID) -> LineageNodeView:
    if row is None:  # deleted between the walk and the detail read
        return LineageNodeView(id=str(vid), qualified_name=str(vid), name=str(vid),
                               asset_type="table")
    return LineageNodeView(
        id=str(row["id"]), qualified_name=row["qualified_name"], name=row["name"],
        asset_type=row["asset_type"], source_type=row["source_type"],
        unique_id=row["unique_id"], sources=sorted(row["sources"] or []),
        description=row["description"], owner=row["owner"], tags=sorted(row["tags"] or []),
        asset_id=str(row["asset_id"]) if row["asset_id"] else None,
        catalog_table_id=str(row["catalog_table_id"]) if row["catalog_table_id"] else None,
    )


def edge_views(edges: dict[tuple[uuid.UUID, uuid.UUID], dict[str, Any]]) -> list[LineageEdgeView]:
    return [
        LineageEdgeView(source=str(p), target=str(c), edge_type=e["edge_type"],
                        confidence=float(e["confidence"]),
                        lineage_source=",".join(sorted(e["sources"])))
        for (p, c), e in edges.items()
    ]
