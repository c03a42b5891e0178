"""`lineage.get` in one statement: PostgreSQL walks the graph and writes the answer's JSON.

A depth-5 neighbourhood in a large graph is about a thousand nodes; building them as Python
objects and re-encoding them cost ten times the walk itself, so the database renders the
LineageGraph and the bytes travel to the client untouched."""

from __future__ import annotations

import uuid

import asyncpg

_NODE = """json_build_object(
    'id', v.id, 'qualified_name', v.qualified_name, 'name', v.name,
    'asset_type', v.asset_type, 'source_type', v.source_type, 'asset_id', v.asset_id,
    'catalog_table_id', v.catalog_table_id, 'unique_id', i.unique_id,
    'sources', coalesce(i.sources, ARRAY[]::text[]){extra})"""

GRAPH_SQL = f"""
WITH RECURSIVE
down(id, d) AS (
    SELECT $1::uuid, 0 WHERE $3
    UNION
    SELECT e.child_id, down.d + 1 FROM down JOIN lineage.edges e ON e.parent_id = down.id
    WHERE down.d < $2
),
up(id, d) AS (
    SELECT $1::uuid, 0 WHERE $4
    UNION
    SELECT e.parent_id, up.d + 1 FROM up JOIN lineage.edges e ON e.child_id = up.id
    WHERE up.d < $2
),
dn AS (SELECT id, min(d) AS d FROM down GROUP BY id),
un AS (SELECT id, min(d) AS d FROM up GROUP BY id),
walked AS (
    SELECT e.parent_id, e.child_id, e.relationship_type, e.confidence, e.source
    FROM dn JOIN lineage.edges e ON e.parent_id = dn.id WHERE dn.d < $2
    UNION ALL
    SELECT e.parent_id, e.child_id, e.relationship_type, e.confidence, e.source
    FROM un JOIN lineage.edges e ON e.child_id = un.id WHERE un.d < $2
),
info AS (
    SELECT n.vertex_id,
           (array_agg(n.unique_id ORDER BY n.source = 'dbt' DESC, n.source))[1] AS unique_id,
           array_agg(DISTINCT n.source ORDER BY n.source) AS sources
    FROM lineage.nodes n
    WHERE n.vertex_id IN (SELECT id FROM dn UNION SELECT id FROM un)
    GROUP BY n.vertex_id
),
merged AS (
    SELECT parent_id, child_id, min(relationship_type) AS edge_type,
           max(confidence) AS confidence, string_agg(DISTINCT source, ',') AS sources
    FROM walked GROUP BY parent_id, child_id
)
SELECT json_build_object(
    'root', (SELECT {_NODE.format(extra="")} FROM lineage.vertices v
             LEFT JOIN info i ON i.vertex_id = v.id WHERE v.id = $1),
    'upstream', coalesce((SELECT json_agg({_NODE.format(extra=", 'distance', un.d")}
                                          ORDER BY un.d, v.qualified_name)
                          FROM un JOIN lineage.vertices v ON v.id = un.id
                          LEFT JOIN info i ON i.vertex_id = v.id
                          WHERE un.id <> $1), '[]'::json),
    'downstream', coalesce((SELECT json_agg({_NODE.format(extra=", 'distance', dn.d")}
                                            ORDER BY dn.d, v.qualified_name)
                            FROM dn JOIN lineage.vertices v ON v.id = dn.id
                            LEFT JOIN info i ON i.vertex_id = v.id
                            WHERE dn.id <> $1), '[]'::json),
    'edges', coalesce((SELECT json_agg(json_build_object(
                          'source', parent_id, 'target', child_id, 'edge_type', edge_type,
                          'confidence', confidence, 'lineage_source', sources))
                       FROM merged), '[]'::json),
    'depth', $2, 'direction', $5::text, 'partial', $6::boolean
)::text
"""


async def graph_json(db: asyncpg.Pool, root: uuid.UUID, depth: int, direction: str,
                     partial: bool = False, timeout_s: float = 5.0) -> str:
    """The LineageGraph around `root` as JSON text (raises TimeoutError past `timeout_s`)."""
    text = await db.fetchval(GRAPH_SQL, root, depth, direction in ("downstream", "both"),
                             direction in ("upstream", "both"), direction, partial,
                             timeout=timeout_s)
    return str(text)
