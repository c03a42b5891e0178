"""Lineage storage on real PostgreSQL (and JetStream for the ingest command): snapshot diff,
per-source removal, vertex garbage collection, org isolation and graph walks.

Uses `LineageWriter`, `RecordWriter`, `GraphReader` and `walk` directly inside units of work of
a `ServiceRuntime("lineage")` on a fresh database; no HTTP. Expected counts are worked out from
the fixture JSON in the test, not from the parser.
"""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import pytest

from rampart_contracts.errors import ValidationFailed
from rampart_contracts.lineage import AssetContext, IngestManifest
from rampart_contracts.streams import stream_configs
from rampart_lineage import handlers
from rampart_lineage.app import MIGRATIONS
from rampart_lineage.domain.manifest import parse_manifest
from rampart_lineage.domain.model import ManifestError, ParsedManifest, ParsedNode
from rampart_lineage.graph import walk
from rampart_lineage.graph_repository import GraphReader
from rampart_lineage.handlers import LineageDeps
from rampart_lineage.ingest import apply_manifest
from rampart_lineage.records import RecordWriter
from rampart_lineage.repository import LineageWriter, SyncStats
from rampart_lineage.settings import LineageSettings
from rampart_runtime.blobs import get_blob, put_blob
from rampart_runtime.secrets import SecretBox
from rampart_runtime.service import ServiceRuntime

SECRET = "l" * 40
ORG, OTHER_ORG = "org-lineage-a", "org-lineage-b"
FIXTURES = Path("/work/shared/fixtures/dbt-manifests")
V7 = FIXTURES / "v7_dbt-1.3.1_openlineage-postgres.json"
THREE = FIXTURES / "v12_dbt-1.11_three-models.json"
ROOT = Path(__file__).resolve().parents[2]
JAFFLE = "model.jaffle_shop"
ZERO = {"nodes_created": 0, "nodes_updated": 0, "nodes_deleted": 0,
        "edges_created": 0, "edges_updated": 0, "edges_deleted": 0}


def _load_gen() -> ModuleType:
    path = ROOT / "bench" / "lineage" / "gen_manifest.py"
    spec = importlib.util.spec_from_file_location("gen_manifest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_manifest", module)
    spec.loader.exec_module(module)
    return module


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture
async def rt(database_url: str, nats_url: str, bus_prefix: str) -> AsyncIterator[ServiceRuntime]:
    settings = LineageSettings(database_url=database_url, nats_url=nats_url,
                               bus_prefix=bus_prefix, secret_key=SECRET)
    runtime = ServiceRuntime("lineage", settings, migrations=MIGRATIONS)
    await runtime.start_storage()
    yield runtime
    await runtime.stop()


def new_asset(database: str = "warehouse") -> AssetContext:
    return AssetContext(asset_id=str(uuid.uuid4()), qualified_name=f"postgresql.{database}",
                        source_type="postgresql", database_name=database)


def v7() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(V7.read_bytes())
    return doc


def parsed(doc: dict[str, Any]) -> ParsedManifest:
    return parse_manifest(json.dumps(doc).encode())


def expected_counts(doc: dict[str, Any]) -> tuple[int, int]:
    """(kept nodes, edges between kept non-test nodes) straight from the JSON."""
    def enabled(entry: dict[str, Any]) -> bool:
        return (entry.get("config") or {}).get("enabled", True) is not False

    kinds = {uid: n["resource_type"] for uid, n in doc["nodes"].items()
             if n["resource_type"] in {"model", "seed", "snapshot", "analysis", "test"}
             and enabled(n)}
    kinds.update({uid: "source" for uid, s in doc.get("sources", {}).items() if enabled(s)})
    kinds.update({uid: "exposure" for uid, e in doc.get("exposures", {}).items() if enabled(e)})
    edges = {(p, c) for c, ps in doc["parent_map"].items() for p in ps
             if kinds.get(c) not in (None, "test") and kinds.get(p) not in (None, "test")
             and p != c}
    return len(kinds), len(edges)


def drop_node(doc: dict[str, Any], uid: str) -> list[str]:
    """Remove a node and the tests that depend on it; returns the removed test ids."""
    tests = [c for c, ps in doc["parent_map"].items() if uid in ps and c.startswith("test.")]
    for gone in (uid, *tests):
        for section in ("nodes", "sources", "exposures"):
            doc.get(section, {}).pop(gone, None)
        doc["parent_map"].pop(gone, None)
        doc.get("child_map", {}).pop(gone, None)
    for mapping in (doc["parent_map"], doc.get("child_map", {})):
        for key, ids in mapping.items():
            mapping[key] = [i for i in ids if i != uid and i not in tests]
    return tests


def mini_manifest(parents: dict[str, list[str]], database: str = "db",
                  schema: str = "core") -> dict[str, Any]:
    """A minimal v12 manifest of table models `model.p.<name>` with these parents."""
    nodes = {
        f"model.p.{name}": {
            "unique_id": f"model.p.{name}", "name": name, "resource_type": "model",
            "database": database, "schema": schema, "alias": name, "package_name": "p",
            "config": {"enabled": True, "materialized": "table"},
        }
        for name in parents
    }
    return {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
                     "project_name": "p"},
        "nodes": nodes,
        "parent_map": {f"model.p.{c}": [f"model.p.{p}" for p in ps] for c, ps in parents.items()},
    }


async def replace(rt: ServiceRuntime, asset: AssetContext, manifest: ParsedManifest,
                  org: str = ORG) -> SyncStats:
    async with rt.uow() as uow:
        stats = await LineageWriter(uow.conn).replace_snapshot(
            org, asset, "dbt", manifest.nodes, manifest.edges)
        await uow.commit()
    return stats


async def state(rt: ServiceRuntime, org: str | None = None) -> dict[str, list[tuple[Any, ...]]]:
    """Everything stored, by qualified names (comparable across runs)."""
    where, args = ("WHERE v.org_id = $1", [org]) if org else ("", [])
    vertices = await rt.pool.fetch(
        f"SELECT v.org_id, v.qualified_name FROM lineage.vertices v {where}"
        " ORDER BY 1, 2", *args)
    nwhere = "WHERE n.org_id = $1" if org else ""
    nodes = await rt.pool.fetch(
        "SELECT n.org_id, n.asset_id::text, n.source, n.unique_id, n.checksum,"
        " v.qualified_name FROM lineage.nodes n LEFT JOIN lineage.vertices v"
        f" ON v.id = n.vertex_id {nwhere} ORDER BY 1, 2, 3, 4", *args)
    ewhere = "WHERE e.org_id = $1" if org else ""
    edges = await rt.pool.fetch(
        "SELECT e.org_id, e.asset_id::text, e.source, p.qualified_name, c.qualified_name,"
        " e.relationship_type FROM lineage.edges e"
        " JOIN lineage.vertices p ON p.id = e.parent_id"
        f" JOIN lineage.vertices c ON c.id = e.child_id {ewhere} ORDER BY 1, 2, 3, 4, 5", *args)
    return {"vertices": [tuple(r) for r in vertices], "nodes": [tuple(r) for r in nodes],
            "edges": [tuple(r) for r in edges]}


async def qualified(rt: ServiceRuntime, ids: Any) -> dict[uuid.UUID, str]:
    rows = await rt.pool.fetch(
        "SELECT id, qualified_name FROM lineage.vertices WHERE id = ANY($1::uuid[])", list(ids))
    return {r["id"]: r["qualified_name"] for r in rows}


def qn(table: str, database: str = "postgres", schema: str = "public") -> str:
    return f"postgresql.{database}.{schema}.{table}"


# ----------------------------------------------------------------------------- snapshot diff


class TestReplaceSnapshot:
    async def test_first_snapshot_counts_then_identical_snapshot_changes_nothing(
        self, rt: ServiceRuntime
    ) -> None:
        doc = v7()
        n_nodes, n_edges = expected_counts(doc)
        assert (n_nodes, n_edges) == (28, 8)
        asset = new_asset()
        stats = await replace(rt, asset, parsed(doc))
        assert stats.public() == {**ZERO, "nodes_created": n_nodes, "edges_created": n_edges}
        stored = await state(rt, ORG)
        assert len(stored["nodes"]) == n_nodes
        assert len(stored["edges"]) == n_edges
        # Tests are nodes without a vertex; the 8 models and seeds are one vertex each.
        assert len(stored["vertices"]) == 8
        assert (ORG, qn("customers")) in stored["vertices"]
        assert sum(1 for n in stored["nodes"] if n[5] is None) == 20

        again = await replace(rt, asset, parsed(v7()))
        assert again.public() == ZERO
        assert again.changed_vertices == set()
        assert await state(rt, ORG) == stored

    async def test_one_changed_node_is_one_update(self, rt: ServiceRuntime) -> None:
        asset = new_asset()
        await replace(rt, asset, parsed(v7()))
        before = await state(rt, ORG)
        doc = v7()
        doc["nodes"][f"{JAFFLE}.orders"]["description"] = "Orders, now documented differently"
        stats = await replace(rt, asset, parsed(doc))
        assert stats.public() == {**ZERO, "nodes_updated": 1}
        after = await state(rt, ORG)
        changed = [a for a, b in zip(after["nodes"], before["nodes"], strict=True) if a != b]
        assert [c[3] for c in changed] == [f"{JAFFLE}.orders"]
        assert after["edges"] == before["edges"] and after["vertices"] == before["vertices"]

    async def test_removed_model_deletes_its_node_tests_edges_and_vertex(
        self, rt: ServiceRuntime
    ) -> None:
        asset = new_asset()
        await replace(rt, asset, parsed(v7()))
        doc = v7()
        removed_tests = drop_node(doc, f"{JAFFLE}.customers")
        assert len(removed_tests) == 3
        stats = await replace(rt, asset, parsed(doc))
        # customers had three parents (stg_customers, stg_orders, stg_payments) and no child.
        assert stats.public() == {**ZERO, "nodes_deleted": 1 + len(removed_tests),
                                  "edges_deleted": 3}
        after = await state(rt, ORG)
        assert (ORG, qn("customers")) not in after["vertices"]
        assert len(after["vertices"]) == 7
        assert all(qn("customers") not in e[3:5] for e in after["edges"])
        assert len(after["edges"]) == 5

    async def test_renamed_relation_moves_the_node_and_drops_the_old_vertex(
        self, rt: ServiceRuntime
    ) -> None:
        """A changed alias names another table: the node moves to a new vertex and the old
        vertex, described by nothing any more, is garbage-collected (no edges involved)."""
        asset = new_asset()
        await replace(rt, asset, parsed(mini_manifest({"lonely": [], "a": [], "b": ["a"]})))
        doc = mini_manifest({"lonely": [], "a": [], "b": ["a"]})
        doc["nodes"]["model.p.lonely"]["alias"] = "lonely_v2"
        stats = await replace(rt, asset, parsed(doc))
        assert stats.public() == {**ZERO, "nodes_updated": 1}
        names = {v[1] for v in (await state(rt, ORG))["vertices"]}
        assert names == {qn("lonely_v2", "db", "core"), qn("a", "db", "core"),
                         qn("b", "db", "core")}

    async def test_failed_transaction_keeps_the_previous_snapshot(
        self, rt: ServiceRuntime
    ) -> None:
        asset = new_asset()
        await replace(rt, asset, parsed(v7()))
        before = await state(rt)
        doc = v7()
        drop_node(doc, f"{JAFFLE}.customers")
        doc["nodes"][f"{JAFFLE}.orders"]["description"] = "changed"
        with pytest.raises(RuntimeError, match="boom"):
            async with rt.uow() as uow:
                stats = await LineageWriter(uow.conn).replace_snapshot(
                    ORG, asset, "dbt", parsed(doc).nodes, parsed(doc).edges)
                assert stats.nodes_deleted == 4 and stats.nodes_updated == 1
                raise RuntimeError("boom")
        assert await state(rt) == before
        # And the writer still works after the rollback (no leftover temp tables, locks).
        stats = await replace(rt, asset, parsed(doc))
        assert (stats.nodes_deleted, stats.nodes_updated, stats.edges_deleted) == (4, 1, 3)


# ----------------------------------------------------------------------------- sources


async def manual_node(rt: ServiceRuntime, asset: AssetContext, node: ParsedNode,
                      org: str = ORG) -> uuid.UUID:
    """What the manual-node handler does: ensure the vertex, upsert the manual node."""
    from rampart_lineage.domain.naming import vertex_kind, vertex_name

    name = vertex_name(node, asset)
    async with rt.uow() as uow:
        writer = LineageWriter(uow.conn)
        vertices = await writer.ensure_vertices(org, {name: (
            node.identifier or node.name, vertex_kind(node), asset.source_type,
            uuid.UUID(asset.asset_id))})
        await RecordWriter(uow.conn).upsert_node(org, uuid.UUID(asset.asset_id), "manual",
                                                 node, vertices[name])
        await uow.commit()
    return vertices[name]


async def manual_edge(rt: ServiceRuntime, asset: AssetContext, parent: str, child: str,
                      org: str = ORG) -> bool:
    aid = uuid.UUID(asset.asset_id)
    async with rt.uow() as uow:
        records = RecordWriter(uow.conn)
        p = await records.vertex_of_unique_id(org, aid, parent)
        c = await records.vertex_of_unique_id(org, aid, child)
        assert p is not None and c is not None, (parent, child)
        created = await records.add_edge(org, aid, "manual", p, c, "derives_from")
        await uow.commit()
    return created


async def delete_source(rt: ServiceRuntime, asset: AssetContext, source: str,
                        org: str = ORG) -> dict[str, int]:
    async with rt.uow() as uow:
        counts = await LineageWriter(uow.conn).delete_source(org, asset.asset_id, source)
        await uow.commit()
    return counts


CRM = ParsedNode(unique_id="source.crm.customers", name="customers", resource_type="source",
                 database="production", schema="crm")


class TestDeleteSource:
    async def test_manual_edge_survives_dbt_reupload_and_goes_with_manual(
        self, rt: ServiceRuntime
    ) -> None:
        asset = new_asset()
        await replace(rt, asset, parsed(v7()))
        crm_vertex = await manual_node(rt, asset, CRM)
        assert await manual_edge(rt, asset, "source.crm.customers", f"{JAFFLE}.stg_customers")
        manual_pair = ("manual", qn("customers", "production", "crm"), qn("stg_customers"))

        # Same manifest, then a changed one: the dbt snapshot never touches manual records.
        assert (await replace(rt, asset, parsed(v7()))).public() == ZERO
        doc = v7()
        drop_node(doc, f"{JAFFLE}.customers")
        await replace(rt, asset, parsed(doc))
        stored = await state(rt, ORG)
        assert manual_pair in [e[2:5] for e in stored["edges"]]
        assert ("manual", "source.crm.customers") in [n[2:4] for n in stored["nodes"]]

        counts = await delete_source(rt, asset, "manual")
        assert counts == {"nodes_deleted": 1, "edges_deleted": 1}
        after = await state(rt, ORG)
        assert [e for e in after["edges"] if e[2] == "manual"] == []
        assert [n for n in after["nodes"] if n[2] == "manual"] == []
        # The crm vertex is described by nothing any more; stg_customers is still dbt's.
        assert await qualified(rt, [crm_vertex]) == {}
        assert (ORG, qn("stg_customers")) in after["vertices"]
        assert [e for e in after["edges"] if e[2] == "dbt"] == \
            [e for e in stored["edges"] if e[2] == "dbt"]
        assert [n for n in after["nodes"] if n[2] == "dbt"] == \
            [n for n in stored["nodes"] if n[2] == "dbt"]

    async def test_shared_vertex_stays_while_another_source_describes_it(
        self, rt: ServiceRuntime
    ) -> None:
        asset = new_asset()
        await replace(rt, asset, parsed(v7()))
        # A manual node naming the same table as the dbt model: one vertex, two nodes.
        same = ParsedNode(unique_id="table.customers", name="customers", resource_type="table",
                          database="postgres", schema="public")
        shared = await manual_node(rt, asset, same)
        reader = GraphReader(rt.pool)
        assert await reader.resolve(ORG, f"{JAFFLE}.customers") == shared
        details = (await reader.details([shared]))[shared]
        assert sorted(details["sources"]) == ["dbt", "manual"]

        counts = await delete_source(rt, asset, "dbt")
        assert counts == {"nodes_deleted": 28, "edges_deleted": 8}
        left = await state(rt, ORG)
        assert left["vertices"] == [(ORG, qn("customers"))]
        assert left["edges"] == []
        assert [n[2:4] for n in left["nodes"]] == [("manual", "table.customers")]

        assert await delete_source(rt, asset, "manual") == {"nodes_deleted": 1,
                                                            "edges_deleted": 0}
        assert await state(rt, ORG) == {"vertices": [], "nodes": [], "edges": []}

    async def test_delete_source_touches_only_that_asset(self, rt: ServiceRuntime) -> None:
        one, two = new_asset("one"), new_asset("two")
        await replace(rt, one, parsed(v7()))
        await replace(rt, two, parsed(v7()))
        stored = await state(rt, ORG)
        assert len(stored["vertices"]) == 8  # both assets describe the same 8 tables
        assert len(stored["nodes"]) == 56 and len(stored["edges"]) == 16
        assert await delete_source(rt, one, "dbt") == {"nodes_deleted": 28, "edges_deleted": 8}
        after = await state(rt, ORG)
        assert after["vertices"] == stored["vertices"]
        assert {n[1] for n in after["nodes"]} == {two.asset_id}
        assert {e[1] for e in after["edges"]} == {two.asset_id}
        assert await delete_source(rt, one, "dbt") == {"nodes_deleted": 0, "edges_deleted": 0}


# ----------------------------------------------------------------------------- isolation


class TestIsolation:
    async def test_orgs_do_not_see_each_others_vertices(self, rt: ServiceRuntime) -> None:
        mine, theirs = new_asset(), new_asset()
        await replace(rt, mine, parsed(v7()), org=ORG)
        await replace(rt, theirs, parse_manifest(THREE.read_bytes()), org=OTHER_ORG)
        reader = GraphReader(rt.pool)
        root = await reader.resolve(ORG, f"{JAFFLE}.customers")
        assert root is not None
        assert await reader.resolve(ORG, qn("customers")) == root
        assert await reader.resolve(ORG, str(root)) == root
        for ref in (f"{JAFFLE}.customers", qn("customers"), str(root)):
            assert await reader.resolve(OTHER_ORG, ref) is None, ref
        assert await reader.resolve(ORG, "model.small.stg_orders") is None

        def page(org: str, **kw: Any) -> Any:
            base = {"source": None, "has_upstream": None, "has_downstream": None,
                    "search": None, "asset_id": None, "limit": 100, "offset": 0}
            return reader.page(org, **{**base, **kw})

        rows, total = await page(ORG)
        assert total == 8 and set((await qualified(rt, [r["id"] for r in rows])).values()) == {
            qn(t) for t in ("customers", "orders", "stg_customers", "stg_orders",
                            "stg_payments", "raw_customers", "raw_orders", "raw_payments")}
        rows, total = await page(OTHER_ORG)
        assert total == 3
        assert all(name.startswith("postgresql.postgres.analytics.")
                   for name in (await qualified(rt, [r["id"] for r in rows])).values())
        # Filters stay inside the org too.
        assert (await page(OTHER_ORG, search="customers"))[1] == 1
        assert (await page(OTHER_ORG, asset_id=uuid.UUID(mine.asset_id)))[1] == 0
        # A walk from an org's root never leaves its org's edges.
        result = await walk(reader, root, depth=5, up=True, down=True)
        names = set((await qualified(rt, [*result.upstream, *result.downstream])).values())
        assert all(n.startswith("postgresql.postgres.public.") for n in names)

    async def test_two_assets_of_one_org_are_filtered_apart(self, rt: ServiceRuntime) -> None:
        one, two = new_asset("one"), new_asset("two")
        await replace(rt, one, parsed(v7()))
        await replace(rt, two, parse_manifest(THREE.read_bytes()))
        reader = GraphReader(rt.pool)
        base = {"source": "dbt", "has_upstream": None, "has_downstream": None, "search": None,
                "limit": 100, "offset": 0}
        assert (await reader.page(ORG, asset_id=uuid.UUID(one.asset_id), **base))[1] == 8
        assert (await reader.page(ORG, asset_id=uuid.UUID(two.asset_id), **base))[1] == 3
        assert (await reader.page(ORG, asset_id=None, **base))[1] == 11
        roots, _ = await reader.page(ORG, asset_id=uuid.UUID(two.asset_id),
                                     **{**base, "has_upstream": False})
        assert set((await qualified(rt, [r["id"] for r in roots])).values()) == {
            qn("stg_customers", schema="analytics"), qn("stg_orders", schema="analytics")}


    async def test_asset_sources_claim_vertices_only_openlineage_knew(
        self, rt: ServiceRuntime
    ) -> None:
        """OpenLineage vertices carry no asset; the first dbt (or manual) description of the
        same table gives the vertex its asset and kind. An asset's vertex stays its own."""
        seen_first = qn("customers")
        async with rt.uow() as uow:
            await LineageWriter(uow.conn).ensure_vertices(ORG, {
                seen_first: ("customers", "dataset", "postgresql", None)})
            await uow.commit()
        one, two = new_asset("one"), new_asset("two")
        await replace(rt, one, parsed(v7()))
        await replace(rt, two, parsed(v7()))
        row = await rt.pool.fetchrow(
            "SELECT asset_id::text, asset_type FROM lineage.vertices WHERE qualified_name = $1",
            seen_first)
        assert tuple(row) == (one.asset_id, "model")
        assert await rt.pool.fetchval(
            "SELECT count(DISTINCT asset_id) FROM lineage.vertices WHERE org_id = $1", ORG) == 1
        reader = GraphReader(rt.pool)
        rows, _ = await reader.page(ORG, source=None, has_upstream=None, has_downstream=None,
                                        search="customers", asset_id=uuid.UUID(one.asset_id),
                                        limit=100, offset=0)
        assert seen_first in (await qualified(rt, [r["id"] for r in rows])).values()
        # OpenLineage describing it again changes nothing about the owner.
        async with rt.uow() as uow:
            await LineageWriter(uow.conn).ensure_vertices(ORG, {
                seen_first: ("customers", "dataset", "postgresql", None)})
            await uow.commit()
        assert await rt.pool.fetchval(
            "SELECT asset_id::text FROM lineage.vertices WHERE qualified_name = $1",
            seen_first) == one.asset_id

    async def test_concurrent_snapshots_of_one_asset_serialise(self, rt: ServiceRuntime) -> None:
        asset = new_asset()
        jaffle, small = parsed(v7()), parse_manifest(THREE.read_bytes())
        first, second = await asyncio.gather(replace(rt, asset, jaffle), replace(rt, asset, small))
        stored = await state(rt, ORG)
        names = {n[3] for n in stored["nodes"]}
        winner = {n.unique_id for n in (small if names == {n.unique_id for n in small.nodes}
                                        else jaffle).nodes}
        assert names == winner  # exactly one snapshot, never a mix
        created = first.nodes_created + second.nodes_created
        deleted = first.nodes_deleted + second.nodes_deleted
        assert created - deleted == len(names) == len(stored["nodes"])
        assert {first.nodes_created, second.nodes_created} == {28, 7}
        assert sorted((first.nodes_deleted, second.nodes_deleted)) == [0, 28 if winner == {
            n.unique_id for n in small.nodes} else 7]


# ----------------------------------------------------------------------------- walks


class TestWalk:
    async def test_depths_directions_and_distances(self, rt: ServiceRuntime) -> None:
        await replace(rt, new_asset(), parsed(v7()))
        reader = GraphReader(rt.pool)

        async def run(ref: str, depth: int, up: bool, down: bool) -> tuple[dict[str, int],
                                                                            dict[str, int],
                                                                            set[tuple[str, str]]]:
            root = await reader.resolve(ORG, ref)
            assert root is not None
            result = await walk(reader, root, depth=depth, up=up, down=down)
            names = await qualified(rt, {root, *result.upstream, *result.downstream})
            assert result.partial is False
            return ({names[v]: d for v, d in result.upstream.items()},
                    {names[v]: d for v, d in result.downstream.items()},
                    {(names[p], names[c]) for p, c in result.edges})

        up, down, edges = await run("seed.jaffle_shop.raw_orders", 1, False, True)
        assert up == {} and down == {qn("stg_orders"): 1}
        assert edges == {(qn("raw_orders"), qn("stg_orders"))}
        up, down, edges = await run(qn("raw_orders"), 2, False, True)
        assert down == {qn("stg_orders"): 1, qn("customers"): 2, qn("orders"): 2}
        assert len(edges) == 3

        up, down, edges = await run(f"{JAFFLE}.customers", 1, True, False)
        assert up == {qn("stg_customers"): 1, qn("stg_orders"): 1, qn("stg_payments"): 1}
        assert down == {}
        up, _, edges = await run(f"{JAFFLE}.customers", 5, True, False)
        assert up == {qn("stg_customers"): 1, qn("stg_orders"): 1, qn("stg_payments"): 1,
                      qn("raw_customers"): 2, qn("raw_orders"): 2, qn("raw_payments"): 2}
        assert len(edges) == 6

        up, down, edges = await run(f"{JAFFLE}.stg_payments", 1, True, True)
        assert up == {qn("raw_payments"): 1}
        assert down == {qn("customers"): 1, qn("orders"): 1}
        assert edges == {(qn("raw_payments"), qn("stg_payments")),
                         (qn("stg_payments"), qn("customers")),
                         (qn("stg_payments"), qn("orders"))}

    async def test_diamond_shapes_terminate_with_shortest_distances(
        self, rt: ServiceRuntime
    ) -> None:
        shape = {"a": [], "b": ["a"], "c": ["a"], "d": ["b", "c"], "e": ["d", "a"],
                 "f": ["e", "b"]}
        await replace(rt, new_asset(), parsed(mini_manifest(shape)))
        reader = GraphReader(rt.pool)
        root = await reader.resolve(ORG, "model.p.a")
        assert root is not None
        result = await walk(reader, root, depth=5, up=True, down=True)
        names = await qualified(rt, result.downstream)
        down = {names[v].rsplit(".", 1)[1]: d for v, d in result.downstream.items()}
        assert down == {"b": 1, "c": 1, "e": 1, "d": 2, "f": 2}
        assert result.upstream == {} and len(result.edges) == 8
        leaf = await reader.resolve(ORG, "model.p.f")
        assert leaf is not None
        result = await walk(reader, leaf, depth=5, up=True, down=False)
        names = await qualified(rt, result.upstream)
        assert {names[v].rsplit(".", 1)[1]: d for v, d in result.upstream.items()} == {
            "e": 1, "b": 1, "d": 2, "a": 2, "c": 3}

    async def test_cycles_are_rejected_by_the_parser_and_walks_still_terminate(
        self, rt: ServiceRuntime
    ) -> None:
        with pytest.raises(ManifestError, match=r"cycle: model\.p\.x -> model\.p\.y -> "
                                                r"model\.p\.z -> model\.p\.x"):
            parsed(mini_manifest({"x": ["z"], "y": ["x"], "z": ["y"]}))
        # A cycle stitched together by two sources (dbt says x -> y, manual says y -> x) can
        # still exist in the store; a walk over it must stop.
        asset = new_asset()
        await replace(rt, asset, parsed(mini_manifest({"x": [], "y": ["x"]})))
        assert await manual_edge(rt, asset, "model.p.y", "model.p.x")
        reader = GraphReader(rt.pool)
        root = await reader.resolve(ORG, "model.p.x")
        assert root is not None
        result = await asyncio.wait_for(walk(reader, root, depth=5, up=True, down=True), 5)
        names = await qualified(rt, {*result.upstream, *result.downstream})
        assert set(names.values()) == {qn("y", "db", "core")}
        assert len(result.edges) == 2 and result.partial is False

    async def test_tiny_deadline_on_a_large_graph_is_partial(self, rt: ServiceRuntime) -> None:
        gen = _load_gen()
        design = gen.design(2000)
        manifest = parse_manifest(gen.generate(2000, bytes_per_model=0))
        started = time.monotonic()
        stats = await replace(rt, new_asset(), manifest)
        assert stats.nodes_created == design.n_nodes and stats.edges_created == design.n_edges
        assert time.monotonic() - started < 30
        reader = GraphReader(rt.pool)
        source = next(n.unique_id for n in manifest.nodes if n.resource_type == "source"
                      and any(p == n.unique_id for p, _ in manifest.edges))
        root = await reader.resolve(ORG, source)
        assert root is not None

        full = await walk(reader, root, depth=10, up=False, down=True)
        assert full.partial is False and full.downstream
        assert max(full.downstream.values()) >= 2

        cut = await walk(reader, root, depth=10, up=False, down=True, deadline_s=1e-9)
        assert cut.partial is True
        assert set(cut.downstream) <= set(full.downstream)
        assert len(cut.downstream) < len(full.downstream)


# ----------------------------------------------------------------------------- command path


class TestIngestCommand:
    async def test_manifest_blob_on_jetstream_is_applied_once_and_reported(
        self, rt: ServiceRuntime
    ) -> None:
        await rt.start_bus()
        deps = LineageDeps(runtime=rt, box=SecretBox(SECRET))
        subjects = rt.bus.subjects
        events: list[dict[str, Any]] = []

        async def collect(msg: Any) -> None:
            events.append(orjson.loads(msg.data))

        sub = await rt.bus.nc.subscribe(subjects.all_events, cb=collect)
        asset = new_asset()

        async def run(data: bytes) -> tuple[IngestManifest, Any]:
            blob = await put_blob(rt.bus.js, subjects, data)
            job_id = str(uuid.uuid4())
            cmd = IngestManifest(org_id=ORG, asset_id=asset.asset_id, job_id=job_id,
                                 asset=asset, blob=blob, correlation_id=job_id)
            await handlers.ingest_manifest(deps, cmd)
            return cmd, blob

        async def finished(job_id: str) -> dict[str, Any]:
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                done = [e for e in events if e.get("job_id") == job_id
                        and e["type"] in ("job_completed", "job_failed")]
                if done:
                    return done[0]
                await asyncio.sleep(0.05)
            pytest.fail(f"no job_completed/job_failed for {job_id}")

        try:
            cmd, blob = await run(V7.read_bytes())
            done = await finished(cmd.job_id)
            assert done["type"] == "job_completed", done
            assert done["result"]["sync_stats"] == {**ZERO, "nodes_created": 28,
                                                    "edges_created": 8}
            assert done["result"]["manifest_metadata"]["project_name"] == "jaffle_shop"
            with pytest.raises(ValidationFailed, match="no longer available"):
                await get_blob(rt.bus.js, subjects, blob, timeout=1)
            before = await state(rt, ORG)

            # A redelivery of the same command (its blob already gone, so the manifest is
            # handed in again): the inbox claim keeps it from being applied or reported twice.
            await apply_manifest(rt, cmd, job_id=cmd.job_id, asset=asset, raw=V7.read_bytes(),
                                 consumer="ingest_manifest")
            await asyncio.sleep(0.5)
            assert len([e for e in events if e.get("job_id") == cmd.job_id
                        and e["type"] in ("job_completed", "job_failed")]) == 1
            assert await state(rt, ORG) == before

            bad = copy.deepcopy(v7())
            bad["parent_map"][f"{JAFFLE}.orders"].append("model.jaffle_shop.ghost")
            cmd, _ = await run(json.dumps(bad).encode())
            failed = await finished(cmd.job_id)
            assert failed["type"] == "job_failed"
            assert "model.jaffle_shop.ghost" in failed["error"]
            assert failed["error_code"] == "VALIDATION_ERROR"
            assert await state(rt, ORG) == before
        finally:
            await sub.unsubscribe()
            # Give back this prefix's streams: each reserves JetStream storage (the uploads
            # stream 2 GiB) on the session's shared nats-server.
            for cfg in stream_configs(subjects):
                await rt.bus.js.delete_stream(cfg.name)
