"""Single-record writes of the lineage service: manual nodes and edges, OpenLineage events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from .domain.model import ParsedNode
from .repository import NODE_COLUMNS, _node_record


class RecordWriter:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def upsert_node(self, org_id: str, asset_id: uuid.UUID | None, source: str,
                          node: ParsedNode, vertex_id: uuid.UUID | None) -> tuple[bool, bool]:
        """Create or update one node; returns (created, changed). An identical node is left
        untouched, so repeated OpenLineage events do not rewrite rows."""
        record = _node_record(node, uuid.uuid4(), org_id, asset_id, source, vertex_id,
                              node.checksum())
        cols = ", ".join(NODE_COLUMNS)
        params = ", ".join(f"${i}" for i in range(1, len(NODE_COLUMNS) + 1))
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in NODE_COLUMNS
                            if c not in ("id", "org_id", "asset_id", "source", "unique_id"))
        row = await self._conn.fetchrow(
            f"INSERT INTO lineage.nodes ({cols}) VALUES ({params})"
            " ON CONFLICT (org_id, asset_id, source, unique_id) DO UPDATE SET"
            f" {updates}, updated_at = now()"
            " WHERE lineage.nodes.checksum <> EXCLUDED.checksum"
            " OR lineage.nodes.vertex_id IS DISTINCT FROM EXCLUDED.vertex_id"
            " RETURNING (xmax = 0) AS created",
            *record)
        if row is None:
            return False, False
        return bool(row["created"]), True

    async def existing_nodes(self, org_id: str, asset_id: uuid.UUID | None, source: str,
                             unique_ids: list[str]) -> dict[str, asyncpg.Record]:
        rows = await self._conn.fetch(
            "SELECT unique_id, description, owner, tags, columns, meta FROM lineage.nodes"
            " WHERE org_id = $1 AND asset_id IS NOT DISTINCT FROM $2 AND source = $3"
            " AND unique_id = ANY($4::text[])", org_id, asset_id, source, unique_ids)
        return {r["unique_id"]: r for r in rows}

    async def vertex_of_unique_id(self, org_id: str, asset_id: uuid.UUID,
                                  unique_id: str) -> uuid.UUID | None:
        """The vertex a unique_id names inside an asset (manual first, then dbt)."""
        value = await self._conn.fetchval(
            "SELECT vertex_id FROM lineage.nodes WHERE org_id = $1 AND asset_id = $2"
            " AND unique_id = $3 AND vertex_id IS NOT NULL"
            " ORDER BY (source = 'manual') DESC, (source = 'dbt') DESC LIMIT 1",
            org_id, asset_id, unique_id)
        return value if isinstance(value, uuid.UUID) else None

    async def add_edge(self, org_id: str, asset_id: uuid.UUID | None, source: str,
                       parent: uuid.UUID, child: uuid.UUID, relationship_type: str,
                       confidence: float = 1.0) -> bool:
        """Insert an edge or retype an existing one; True when it did not exist."""
        row = await self._conn.fetchrow(
            "INSERT INTO lineage.edges (org_id, asset_id, source, parent_id, child_id,"
            " relationship_type, confidence) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT (parent_id, child_id, source, asset_id) DO UPDATE"
            " SET relationship_type = EXCLUDED.relationship_type,"
            " confidence = EXCLUDED.confidence RETURNING (xmax = 0) AS created",
            org_id, asset_id, source, parent, child, relationship_type, confidence)
        return bool(row and row["created"])

    async def delete_node(self, org_id: str, asset_id: uuid.UUID, source: str,
                          unique_id: str) -> uuid.UUID | None:
        """Delete one node and the edges its source declared on its vertex."""
        vertex = await self._conn.fetchval(
            "DELETE FROM lineage.nodes WHERE org_id = $1 AND asset_id = $2 AND source = $3"
            " AND unique_id = $4 RETURNING coalesce(vertex_id, id)",
            org_id, asset_id, source, unique_id)
        if vertex is not None:
            await self._conn.execute(
                "DELETE FROM lineage.edges WHERE org_id = $1 AND asset_id = $2 AND source = $3"
                " AND (parent_id = $4 OR child_id = $4)", org_id, asset_id, source, vertex)
        return vertex if isinstance(vertex, uuid.UUID) else None

    async def delete_edge(self, org_id: str, asset_id: uuid.UUID, source: str,
                          parent: uuid.UUID, child: uuid.UUID) -> bool:
        status = await self._conn.execute(
            "DELETE FROM lineage.edges WHERE org_id = $1 AND asset_id = $2 AND source = $3"
            " AND parent_id = $4 AND child_id = $5", org_id, asset_id, source, parent, child)
        return str(status).endswith(" 1")

    async def upsert_column_edge(self, org_id: str, parent: uuid.UUID, parent_column: str,
                                 child: uuid.UUID, child_column: str,
                                 transformation: str | None) -> None:
        await self._conn.execute(
            "INSERT INTO lineage.column_edges (org_id, parent_id, parent_column, child_id,"
            " child_column, transformation) VALUES ($1, $2, $3, $4, $5, $6)"
            " ON CONFLICT (parent_id, parent_column, child_id, child_column) DO UPDATE"
            " SET transformation = EXCLUDED.transformation, updated_at = now()",
            org_id, parent, parent_column, child, child_column, transformation)

    async def insert_run(self, org_id: str, run: Any, job_vertex: uuid.UUID) -> bool:
        """Keep one row per (run, state); a repeated event is recognised and ignored."""
        row = await self._conn.fetchval(
            "INSERT INTO lineage.runs (run_id, org_id, job_vertex_id, event_type, event_time,"
            " nominal_start, nominal_end, error_message, parent_run_id)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING 1",
            uuid.UUID(str(run.run_id)), org_id, job_vertex, run.event_type,
            _as_dt(run.event_time), _as_dt(run.nominal_start), _as_dt(run.nominal_end),
            run.error_message,
            uuid.UUID(str(run.parent_run_id)) if run.parent_run_id else None)
        return row is not None


def _as_dt(value: Any) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
