"""Every write of the lineage service: replacing one source's snapshot as a diff, single
nodes and edges, OpenLineage records, and removal of a source."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from rampart_contracts.lineage import AssetContext

from .domain.model import ParsedNode
from .domain.naming import vertex_kind, vertex_name

NODE_COLUMNS = (
    "id", "org_id", "asset_id", "source", "unique_id", "vertex_id", "resource_type", "name",
    "database_name", "schema_name", "identifier", "relation_name", "materialization",
    "description", "tags", "owner", "columns", "package_name", "path", "meta", "test",
    "checksum",
)
EDGE_COLUMNS = ("org_id", "asset_id", "source", "parent_id", "child_id", "relationship_type",
                "confidence")


@dataclass
class SyncStats:
    nodes_created: int = 0
    nodes_updated: int = 0
    nodes_deleted: int = 0
    edges_created: int = 0
    edges_updated: int = 0
    edges_deleted: int = 0
    changed_vertices: set[uuid.UUID] = field(default_factory=set)

    def public(self) -> dict[str, int]:
        return {k: v for k, v in self.__dict__.items() if isinstance(v, int)}


def _node_record(node: ParsedNode, node_id: uuid.UUID, org_id: str, asset_id: uuid.UUID | None,
                 source: str, vertex_id: uuid.UUID | None, checksum: str) -> tuple[Any, ...]:
    return (
        node_id, org_id, asset_id, source, node.unique_id, vertex_id, node.resource_type,
        node.name, node.database, node.schema, node.identifier, node.relation_name,
        node.materialization, node.description or "", node.tags, node.owner,
        orjson.dumps(node.columns).decode(), node.package_name, node.path,
        orjson.dumps(node.meta).decode(), orjson.dumps(node.test).decode() if node.test else None,
        checksum,
    )


class LineageWriter:
    """Writes inside the caller's transaction (`conn` comes from a unit of work)."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def lock(self, org_id: str, asset_id: str | None, source: str) -> None:
        """Serialise writers of one (asset, source) so two uploads cannot interleave."""
        await self._conn.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
                                 f"lineage:{org_id}:{asset_id}:{source}")

    async def ensure_vertices(
        self, org_id: str, wanted: dict[str, tuple[str, str, str | None, uuid.UUID | None]]
    ) -> dict[str, uuid.UUID]:
        """Vertex id per qualified name, creating the missing ones.

        `wanted` maps qualified name -> (name, asset_type, source_type, asset_id)."""
        if not wanted:
            return {}
        names = list(wanted)
        await self._conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS tmp_vertices (id uuid, org_id text,"
            " qualified_name text, name text, asset_type text, source_type text, asset_id uuid)"
            " ON COMMIT DROP"
        )
        await self._conn.execute("TRUNCATE tmp_vertices")
        await self._conn.copy_records_to_table(
            "tmp_vertices",
            records=[(uuid.uuid4(), org_id, qn, *wanted[qn]) for qn in names],
        )
        await self._conn.execute(
            "INSERT INTO lineage.vertices (id, org_id, qualified_name, name, asset_type,"
            " source_type, asset_id) SELECT id, org_id, qualified_name, name, asset_type,"
            " source_type, asset_id FROM tmp_vertices ON CONFLICT (org_id, qualified_name)"
            # A vertex only OpenLineage knew (no asset) is claimed by the first asset source
            # (dbt, manual) that describes it, so asset filters and catalog links find it.
            " DO UPDATE SET asset_id = EXCLUDED.asset_id, asset_type = EXCLUDED.asset_type"
            " WHERE lineage.vertices.asset_id IS NULL AND EXCLUDED.asset_id IS NOT NULL"
        )
        rows = await self._conn.fetch(
            "SELECT id, qualified_name FROM lineage.vertices"
            " WHERE org_id = $1 AND qualified_name = ANY($2::text[])", org_id, names,
        )
        return {r["qualified_name"]: r["id"] for r in rows}

    async def replace_snapshot(
        self, org_id: str, asset: AssetContext, source: str, nodes: Sequence[ParsedNode],
        edges: Iterable[tuple[str, str]], relationship_type: str = "data_flow",
    ) -> SyncStats:
        """Make (asset, source) hold exactly these nodes and edges; returns what changed."""
        stats = SyncStats()
        asset_id = uuid.UUID(asset.asset_id)
        await self.lock(org_id, asset.asset_id, source)
        existing = {
            r["unique_id"]: r for r in await self._conn.fetch(
                "SELECT unique_id, id, checksum, vertex_id FROM lineage.nodes"
                " WHERE org_id = $1 AND asset_id = $2 AND source = $3", org_id, asset_id, source)
        }
        wanted: dict[str, tuple[str, str, str | None, uuid.UUID | None]] = {}
        qn_of: dict[str, str] = {}
        for node in nodes:
            if node.resource_type == "test":
                continue
            qn = qn_of[node.unique_id] = vertex_name(node, asset)
            wanted.setdefault(qn, (node.identifier or node.name, vertex_kind(node),
                                   asset.source_type, asset_id))
        vertex_ids = await self.ensure_vertices(org_id, wanted)
        vertex_of = {uid: vertex_ids[qn] for uid, qn in qn_of.items()}

        new_records, changed_records = [], []
        moved_from: set[uuid.UUID] = set()  # vertices a node left (renamed relation)
        for node in nodes:
            checksum = node.checksum()
            vid = vertex_of.get(node.unique_id)
            old = existing.pop(node.unique_id, None)
            if old is None:
                new_records.append(_node_record(node, uuid.uuid4(), org_id, asset_id, source,
                                                vid, checksum))
            elif old["checksum"] != checksum or old["vertex_id"] != vid:
                changed_records.append(_node_record(node, old["id"], org_id, asset_id, source,
                                                    vid, checksum))
                if old["vertex_id"] is not None and old["vertex_id"] != vid:
                    moved_from.add(old["vertex_id"])
                    stats.changed_vertices.add(old["vertex_id"])
            else:
                continue
            if vid is not None:
                stats.changed_vertices.add(vid)
        await self._insert_nodes(new_records)
        await self._update_nodes(changed_records)
        gone = list(existing.values())
        if gone:
            await self._conn.execute("DELETE FROM lineage.nodes WHERE id = ANY($1::uuid[])",
                                     [r["id"] for r in gone])
        stats.nodes_created, stats.nodes_updated = len(new_records), len(changed_records)
        stats.nodes_deleted = len(gone)

        want_edges = {(vertex_of[p], vertex_of[c]) for p, c in edges
                      if p in vertex_of and c in vertex_of and vertex_of[p] != vertex_of[c]}
        have = await self._conn.fetch(
            "SELECT parent_id, child_id, relationship_type FROM lineage.edges"
            " WHERE org_id = $1 AND asset_id = $2 AND source = $3", org_id, asset_id, source)
        have_pairs = {(r["parent_id"], r["child_id"]): r["relationship_type"] for r in have}
        added = [e for e in want_edges if e not in have_pairs]
        removed = [e for e in have_pairs if e not in want_edges]
        retyped = [e for e in want_edges if have_pairs.get(e, relationship_type)
                   != relationship_type]
        if added:
            await self._conn.copy_records_to_table(
                "edges", schema_name="lineage", columns=EDGE_COLUMNS,
                records=[(org_id, asset_id, source, p, c, relationship_type, 1.0)
                         for p, c in added])
        if removed:
            await self._delete_edges(org_id, asset_id, source, removed)
        if retyped:
            await self._conn.execute(
                "UPDATE lineage.edges e SET relationship_type = $4 FROM unnest($5::uuid[],"
                " $6::uuid[]) AS x(p, c) WHERE e.org_id = $1 AND e.asset_id = $2"
                " AND e.source = $3 AND e.parent_id = x.p AND e.child_id = x.c",
                org_id, asset_id, source, relationship_type,
                [p for p, _ in retyped], [c for _, c in retyped])
        stats.edges_created, stats.edges_deleted = len(added), len(removed)
        stats.edges_updated = len(retyped)
        for p, c in (*added, *removed):
            stats.changed_vertices.update((p, c))
        orphans = {r["vertex_id"] for r in gone if r["vertex_id"]} | {v for e in removed for v in e}
        orphans |= moved_from
        await self.drop_orphan_vertices(list(orphans))
        return stats

    async def _insert_nodes(self, records: list[tuple[Any, ...]]) -> None:
        if records:
            await self._conn.copy_records_to_table("nodes", schema_name="lineage",
                                                   columns=NODE_COLUMNS, records=records)

    async def _update_nodes(self, records: list[tuple[Any, ...]]) -> None:
        if not records:
            return
        await self._conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS tmp_nodes (LIKE lineage.nodes INCLUDING DEFAULTS)"
            " ON COMMIT DROP")
        await self._conn.execute("TRUNCATE tmp_nodes")
        await self._conn.copy_records_to_table("tmp_nodes", columns=NODE_COLUMNS, records=records)
        sets = ", ".join(f"{c} = t.{c}" for c in NODE_COLUMNS if c not in ("id", "org_id"))
        await self._conn.execute(
            f"UPDATE lineage.nodes n SET {sets}, updated_at = now() FROM tmp_nodes t"
            " WHERE n.id = t.id")

    async def _delete_edges(self, org_id: str, asset_id: uuid.UUID | None, source: str,
                            pairs: list[tuple[uuid.UUID, uuid.UUID]]) -> None:
        await self._conn.execute(
            "DELETE FROM lineage.edges e USING unnest($4::uuid[], $5::uuid[]) AS x(p, c)"
            " WHERE e.org_id = $1 AND e.asset_id IS NOT DISTINCT FROM $2 AND e.source = $3"
            " AND e.parent_id = x.p AND e.child_id = x.c",
            org_id, asset_id, source, [p for p, _ in pairs], [c for _, c in pairs])

    async def drop_orphan_vertices(self, ids: list[uuid.UUID]) -> None:
        """Delete vertices no node describes and no edge touches any more."""
        if not ids:
            return
        await self._conn.execute(
            "DELETE FROM lineage.vertices v WHERE v.id = ANY($1::uuid[])"
            " AND NOT EXISTS (SELECT 1 FROM lineage.nodes n WHERE n.vertex_id = v.id)"
            " AND NOT EXISTS (SELECT 1 FROM lineage.edges e WHERE e.parent_id = v.id)"
            " AND NOT EXISTS (SELECT 1 FROM lineage.edges e WHERE e.child_id = v.id)"
            " AND NOT EXISTS (SELECT 1 FROM lineage.column_edges c"
            "                 WHERE c.parent_id = v.id OR c.child_id = v.id)"
            " AND NOT EXISTS (SELECT 1 FROM lineage.runs r WHERE r.job_vertex_id = v.id)",
            ids)

    async def delete_source(self, org_id: str, asset_id: str, source: str) -> dict[str, int]:
        """Remove exactly one source's nodes and edges of an asset.

        OpenLineage records belong to no asset (events name datasets, not connections): for
        `openlineage` this removes what OpenLineage said about the asset's tables, and the
        jobs left without any edge go with them."""
        aid = uuid.UUID(asset_id)
        if source == "openlineage":
            return await self._delete_openlineage_of(org_id, aid)
        await self.lock(org_id, asset_id, source)
        edges = await self._conn.fetch(
            "DELETE FROM lineage.edges WHERE org_id = $1 AND asset_id = $2 AND source = $3"
            " RETURNING parent_id, child_id", org_id, aid, source)
        nodes = await self._conn.fetch(
            "DELETE FROM lineage.nodes WHERE org_id = $1 AND asset_id = $2 AND source = $3"
            " RETURNING vertex_id", org_id, aid, source)
        touched = {r["vertex_id"] for r in nodes if r["vertex_id"]}
        touched |= {r["parent_id"] for r in edges} | {r["child_id"] for r in edges}
        await self.drop_orphan_vertices(list(touched))
        return {"nodes_deleted": len(nodes), "edges_deleted": len(edges)}

    async def _delete_openlineage_of(self, org_id: str, asset_id: uuid.UUID) -> dict[str, int]:
        await self.lock(org_id, None, "openlineage")
        tables = [r["id"] for r in await self._conn.fetch(
            "SELECT id FROM lineage.vertices WHERE org_id = $1 AND asset_id = $2", org_id, asset_id)]
        edges = await self._conn.fetch(
            "DELETE FROM lineage.edges WHERE org_id = $1 AND source = 'openlineage'"
            " AND (parent_id = ANY($2::uuid[]) OR child_id = ANY($2::uuid[]))"
            " RETURNING parent_id, child_id", org_id, tables)
        await self._conn.execute(
            "DELETE FROM lineage.column_edges WHERE org_id = $1"
            " AND (parent_id = ANY($2::uuid[]) OR child_id = ANY($2::uuid[]))", org_id, tables)
        touched = {r["parent_id"] for r in edges} | {r["child_id"] for r in edges}
        lonely_jobs = [r["vertex_id"] for r in await self._conn.fetch(
            "SELECT n.vertex_id FROM lineage.nodes n WHERE n.org_id = $1"
            " AND n.source = 'openlineage' AND n.resource_type = 'job'"
            " AND n.vertex_id = ANY($2::uuid[]) AND NOT EXISTS (SELECT 1 FROM lineage.edges e"
            " WHERE e.parent_id = n.vertex_id OR e.child_id = n.vertex_id)",
            org_id, list(touched))]
        nodes = await self._conn.fetch(
            "DELETE FROM lineage.nodes WHERE org_id = $1 AND source = 'openlineage'"
            " AND asset_id IS NULL AND (vertex_id = ANY($2::uuid[]) OR vertex_id = ANY($3::uuid[]))"
            " RETURNING vertex_id", org_id, tables, lonely_jobs)
        if lonely_jobs:
            await self._conn.execute(
                "DELETE FROM lineage.runs WHERE org_id = $1 AND job_vertex_id = ANY($2::uuid[])",
                org_id, lonely_jobs)
        await self.drop_orphan_vertices(list(touched | set(tables)))
        return {"nodes_deleted": len(nodes), "edges_deleted": len(edges)}

    async def record_ingest(self, org_id: str, asset_id: str, source: str, job_id: str | None,
                            metadata: dict[str, Any], stats: dict[str, int]) -> None:
        await self._conn.execute(
            "INSERT INTO lineage.ingests (id, org_id, asset_id, source, job_id, metadata, stats)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7)",
            uuid.uuid4(), org_id, uuid.UUID(asset_id), source,
            uuid.UUID(job_id) if job_id else None,
            orjson.dumps(metadata).decode(), orjson.dumps(stats).decode())
