"""Every read of the lineage graph. Traversals are level by level over indexed edges."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

VERTEX_DETAIL = """
SELECT v.id, v.qualified_name, v.name, v.asset_type, v.source_type, v.asset_id,
       v.catalog_table_id,
       d.unique_id, d.sources, d.description, d.owner, d.tags
FROM lineage.vertices v
LEFT JOIN LATERAL (
    SELECT (array_agg(n.unique_id ORDER BY n.source = 'dbt' DESC, n.source))[1] AS unique_id,
           array_agg(DISTINCT n.source) AS sources,
           (array_agg(nullif(n.description, '') ORDER BY n.source = 'dbt' DESC)
                FILTER (WHERE n.description <> ''))[1] AS description,
           (array_agg(n.owner) FILTER (WHERE n.owner IS NOT NULL))[1] AS owner,
           (SELECT coalesce(array_agg(DISTINCT t), '{}') FROM lineage.nodes n2,
                   unnest(n2.tags) t WHERE n2.vertex_id = v.id) AS tags
    FROM lineage.nodes n WHERE n.vertex_id = v.id
) d ON true
"""


class GraphReader:
    def __init__(self, db: asyncpg.Pool | asyncpg.Connection) -> None:
        self._db = db

    async def resolve(self, org_id: str, ref: str) -> uuid.UUID | None:
        """A vertex by id, qualified name, or a node's unique_id."""
        try:
            vid = uuid.UUID(ref)
        except ValueError:
            vid = None
        if vid is not None:
            found = await self._db.fetchval(
                "SELECT id FROM lineage.vertices WHERE org_id = $1 AND id = $2", org_id, vid)
            if found is not None:
                return found  # type: ignore[no-any-return]
        found = await self._db.fetchval(
            "SELECT id FROM lineage.vertices WHERE org_id = $1 AND qualified_name = $2",
            org_id, ref)
        if found is None:
            found = await self._db.fetchval(
                "SELECT vertex_id FROM lineage.nodes WHERE org_id = $1 AND unique_id = $2"
                " AND vertex_id IS NOT NULL ORDER BY updated_at DESC LIMIT 1", org_id, ref)
        return found if isinstance(found, uuid.UUID) else None

    async def edges_around(self, down: list[uuid.UUID], up: list[uuid.UUID]) -> list[asyncpg.Record]:
        """Edges leaving `down` and edges entering `up`, in one round trip."""
        return list(await self._db.fetch(
            "SELECT parent_id, child_id, relationship_type, confidence, source"
            " FROM lineage.edges WHERE parent_id = ANY($1::uuid[])"
            " UNION ALL SELECT parent_id, child_id, relationship_type, confidence, source"
            " FROM lineage.edges WHERE child_id = ANY($2::uuid[])", down, up))

    async def details(self, ids: list[uuid.UUID]) -> dict[uuid.UUID, asyncpg.Record]:
        if not ids:
            return {}
        rows = await self._db.fetch(VERTEX_DETAIL + " WHERE v.id = ANY($1::uuid[])", ids)
        return {r["id"]: r for r in rows}

    async def page(self, org_id: str, *, source: str | None, has_upstream: bool | None,
                   has_downstream: bool | None, search: str | None, asset_id: uuid.UUID | None,
                   limit: int, offset: int) -> tuple[list[asyncpg.Record], int]:
        where, args = ["v.org_id = $1"], [org_id]

        def arg(value: Any) -> str:
            args.append(value)
            return f"${len(args)}"

        if source in ("dbt", "manual", "openlineage"):
            where.append("EXISTS (SELECT 1 FROM lineage.nodes n WHERE n.vertex_id = v.id"
                         f" AND n.source = {arg(source)})")
        elif source:
            where.append(f"v.source_type = {arg(source.lower())}")
        if asset_id is not None:
            where.append(f"v.asset_id = {arg(asset_id)}")
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append(f"v.qualified_name ILIKE {arg('%' + escaped + '%')}")
        up = "EXISTS (SELECT 1 FROM lineage.edges e WHERE e.child_id = v.id)"
        down = "EXISTS (SELECT 1 FROM lineage.edges e WHERE e.parent_id = v.id)"
        if has_upstream is not None:
            where.append(up if has_upstream else f"NOT {up}")
        if has_downstream is not None:
            where.append(down if has_downstream else f"NOT {down}")
        clause = " AND ".join(where)
        total = await self._db.fetchval(f"SELECT count(*) FROM lineage.vertices v WHERE {clause}",
                                        *args)
        rows = await self._db.fetch(
            f"SELECT v.id, {up} AS has_upstream, {down} AS has_downstream"
            f" FROM lineage.vertices v WHERE {clause}"
            f" ORDER BY v.qualified_name LIMIT {arg(limit)} OFFSET {arg(offset)}", *args)
        return list(rows), int(total)
