"""Querying lineage over real HTTP: the published SDK's `lineage.get`/`lineage.list`, the
impact endpoint (distances, kinds, owners, monitoring through discovery, deadlines on a big
generated manifest) and tenant isolation between organizations."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import secrets
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import asyncpg
import pytest
from anomalyarmor.exceptions import NotFoundError, ValidationError
from e2e_support import (
    FIXTURE_MANIFESTS,
    Key,
    PgTarget,
    api_client,
    assert_error,
    bootstrap_key,
    create_asset,
    new_org,
    sdk_client,
    upload_manifest,
    wait_until,
)
from support.infra import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

V7 = FIXTURE_MANIFESTS / "v7_dbt-1.3.1_openlineage-postgres.json"
V9 = FIXTURE_MANIFESTS / "v9_dbt-1.5.0b5_dbt-core-state.json"
THREE = FIXTURE_MANIFESTS / "v12_dbt-1.11_three-models.json"
ROOT = Path(__file__).resolve().parents[2]
JAFFLE = json.loads(V7.read_bytes())


def _gen() -> ModuleType:
    path = ROOT / "bench" / "lineage" / "gen_manifest.py"
    spec = importlib.util.spec_from_file_location("gen_manifest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("gen_manifest", module)
    spec.loader.exec_module(module)
    return module


def table_of(uid: str, doc: dict[str, Any] = JAFFLE) -> str:
    """`postgresql.<database>.<schema>.<alias>` of a fixture node, from its JSON."""
    node = doc["nodes"].get(uid) or doc["sources"][uid]
    name = node.get("alias") or node.get("identifier") or node["name"]
    return f"postgresql.{node['database']}.{node['schema']}.{name}"


def parents_of(uid: str, doc: dict[str, Any] = JAFFLE) -> set[str]:
    return {p for p in doc["parent_map"][uid] if not p.startswith("test.")}


def children_of(uid: str, doc: dict[str, Any] = JAFFLE) -> set[str]:
    return {c for c, ps in doc["parent_map"].items() if uid in ps and not c.startswith("test.")}


@pytest.fixture(scope="module")
def org() -> str:
    return new_org("lin-query")


@pytest.fixture(scope="module")
def admin(e2e_stack: Stack, org: str) -> Key:
    return bootstrap_key(e2e_stack, org, name="lin-query-admin")


@pytest.fixture(scope="module")
def client(e2e_stack: Stack, admin: Key) -> Iterator[Any]:
    c = sdk_client(e2e_stack, admin)
    yield c
    c.close()


def _asset(stack: Stack, key: Key, pg: PgTarget, label: str, **config: Any) -> dict[str, Any]:
    tag = secrets.token_hex(3)
    cfg = pg.config(**config) if config.get("database") == pg.database else \
        pg.config(database=f"lq_{label}_{tag}", **config)
    return create_asset(stack, key, f"{label} {tag}", cfg)


@pytest.fixture(scope="module")
def jaffle(e2e_stack: Stack, admin: Key, pg: PgTarget) -> dict[str, Any]:
    asset = _asset(e2e_stack, admin, pg, "jaffle")
    r = upload_manifest(e2e_stack, admin, asset["id"], V7.read_bytes())
    assert r.status_code == 200, r.text
    r = upload_manifest(e2e_stack, admin, _asset(e2e_stack, admin, pg, "v9")["id"],
                        V9.read_bytes())
    assert r.status_code == 200, r.text
    return asset


def impact(stack: Stack, key: Key, asset_id: str, node: str, **params: Any) -> Any:
    with api_client(stack, key) as c:
        return c.get(f"/assets/{asset_id}/lineage/impact", params={"node": node, **params})


# ----------------------------------------------------------------------------- SDK


def test_sdk_get_upstream_matches_the_fixture_parent_map(client: Any,
                                                         jaffle: dict[str, Any]) -> None:
    uid = "model.jaffle_shop.customers"
    graph = client.lineage.get(uid, depth=2, direction="upstream")
    assert graph.root.qualified_name == table_of(uid) and graph.root.name == "customers"
    parents = parents_of(uid)
    grandparents = set().union(*(parents_of(p) for p in parents))
    assert parents and grandparents
    assert {n.qualified_name for n in graph.upstream} == {table_of(u) for u in
                                                          parents | grandparents}
    assert graph.downstream == []
    by_id = {n.id: n.qualified_name for n in [graph.root, *graph.upstream]}
    edges = {(by_id[e.source], by_id[e.target]) for e in graph.edges}
    expected = {(table_of(p), table_of(uid)) for p in parents}
    expected |= {(table_of(g), table_of(p)) for p in parents for g in parents_of(p)}
    assert edges == expected
    assert {e.edge_type for e in graph.edges} == {"data_flow"}

    # The same node by qualified name and by vertex id; depth 1 keeps only the parents.
    for ref in (table_of(uid), graph.root.id):
        again = client.lineage.get(ref, depth=1, direction="upstream")
        assert again.root.id == graph.root.id
        assert {n.qualified_name for n in again.upstream} == {table_of(p) for p in parents}


def test_sdk_get_downstream_and_both(client: Any, jaffle: dict[str, Any]) -> None:
    seed = "seed.jaffle_shop.raw_orders"
    graph = client.lineage.get(seed, depth=2, direction="downstream")
    children = children_of(seed)
    grandchildren = set().union(*(children_of(c) for c in children))
    assert {n.qualified_name for n in graph.downstream} == {table_of(u) for u in
                                                            children | grandchildren}
    assert graph.upstream == []

    mid = "model.jaffle_shop.stg_payments"
    both = client.lineage.get(mid, depth=1, direction="both")
    assert {n.qualified_name for n in both.upstream} == {table_of(p) for p in parents_of(mid)}
    assert {n.qualified_name for n in both.downstream} == {table_of(c) for c in children_of(mid)}
    assert len(both.edges) == len(parents_of(mid)) + len(children_of(mid))


def test_sdk_list_pages(client: Any, jaffle: dict[str, Any]) -> None:
    first = client.lineage.list(limit=3)
    assert len(first) == 3
    second = client.lineage.list(limit=3, offset=3)
    assert len(second) == 3 and not {n.id for n in first} & {n.id for n in second}
    everything = client.lineage.list(limit=100)
    names = {n.qualified_name for n in everything}
    assert {table_of(u) for u in JAFFLE["nodes"] if not u.startswith("test.")} <= names
    assert all(n.id and n.name for n in everything)


def test_sdk_rejects_bad_depth_and_unknown_nodes(client: Any, jaffle: dict[str, Any]) -> None:
    for depth in (0, 6):
        with pytest.raises(ValidationError, match="depth"):
            client.lineage.get("model.jaffle_shop.customers", depth=depth)
    with pytest.raises(ValidationError, match="direction"):
        client.lineage.get("model.jaffle_shop.customers", direction="sideways")
    for ref in ("model.jaffle_shop.nope", "postgresql.postgres.public.nope",
                "00000000-0000-4000-8000-000000000000"):
        with pytest.raises(NotFoundError):
            client.lineage.get(ref)


# ----------------------------------------------------------------------------- impact


def test_impact_lists_every_downstream_node_with_distance(
    e2e_stack: Stack, admin: Key, jaffle: dict[str, Any]
) -> None:
    seed = "seed.jaffle_shop.raw_orders"
    r = impact(e2e_stack, admin, jaffle["id"], seed, depth=10)
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert data["partial"] is False and data["node"]["qualified_name"] == table_of(seed)
    children = children_of(seed)
    expected = {table_of(c): 1 for c in children}
    for c in children:
        for g in children_of(c):
            expected.setdefault(table_of(g), 2)
    assert {i["qualified_name"]: i["distance"] for i in data["impacted"]} == expected
    assert data["total"] == len(expected) and data["exposures"] == 0
    for item in data["impacted"]:
        assert item["asset_type"] == "model" and "owner" in item
        assert isinstance(item["monitored"], bool)
    # depth limits the walk
    shallow = impact(e2e_stack, admin, jaffle["id"], seed, depth=1).json()["data"]
    assert {i["qualified_name"] for i in shallow["impacted"]} == {table_of(c) for c in children}


def test_impact_reports_exposures_with_their_owner(
    e2e_stack: Stack, admin: Key, jaffle: dict[str, Any]
) -> None:
    r = impact(e2e_stack, admin, jaffle["id"], "model.test.my_model")
    assert r.status_code == 200, r.text
    (item,) = r.json()["data"]["impacted"]
    assert item["unique_id"] == "exposure.test.simple_exposure"
    assert item["asset_type"] == "exposure" and item["distance"] == 1
    assert item["owner"] == "something@example.com"
    assert item["monitored"] is False
    assert r.json()["data"]["exposures"] == 1
    assert_error(impact(e2e_stack, admin, jaffle["id"], "model.test.nope"), 404)
    assert_error(impact(e2e_stack, admin, jaffle["id"], "model.test.my_model", depth=0), 400)


async def _create_tables(dsn: str, names: list[str]) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        for name in names:
            await conn.execute(f'CREATE TABLE public."{name}" (id bigint PRIMARY KEY)')
    finally:
        await conn.close()


def test_impact_marks_nodes_discovery_found_as_monitored(
    e2e_stack: Stack, admin: Key, pg: PgTarget
) -> None:
    tag = secrets.token_hex(3)
    raw, orders, ghost = f"lq_raw_{tag}", f"lq_orders_{tag}", f"lq_ghost_{tag}"
    asyncio.run(_create_tables(e2e_stack.database_url, [raw, orders]))

    def model(name: str) -> dict[str, Any]:
        return {"unique_id": f"model.shop.{name}", "name": name, "resource_type": "model",
                "database": pg.database, "schema": "public", "alias": name,
                "package_name": "shop", "config": {"materialized": "table"}}

    manifest = {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
                     "project_name": "shop"},
        "nodes": {f"model.shop.{orders}": model(orders), f"model.shop.{ghost}": model(ghost)},
        "sources": {f"source.shop.app.{raw}": {
            "unique_id": f"source.shop.app.{raw}", "name": raw, "database": pg.database,
            "schema": "public", "identifier": raw}},
        "exposures": {"exposure.shop.dash": {
            "unique_id": "exposure.shop.dash", "name": "dash",
            "owner": {"name": "Dana", "email": "dana@example.com"}}},
        "parent_map": {f"model.shop.{orders}": [f"source.shop.app.{raw}"],
                       f"model.shop.{ghost}": [f"model.shop.{orders}"],
                       "exposure.shop.dash": [f"model.shop.{ghost}"],
                       f"source.shop.app.{raw}": []},
    }
    # OpenLineage saw the source table before dbt did: the vertex exists, without an asset.
    with api_client(e2e_stack, admin) as c:
        seen = c.post("/lineage", json={
            "eventTime": "2026-01-01T00:00:00Z", "producer": "https://example.com/e2e",
            "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/DatasetEvent",
            "dataset": {"namespace": "postgres://127.0.0.1:5432",
                        "name": f"{pg.database}.public.{raw}"}})
        assert seen.status_code == 201, seen.text
    asset = _asset(e2e_stack, admin, pg, "real", database=pg.database)
    r = upload_manifest(e2e_stack, admin, asset["id"], json.dumps(manifest).encode(),
                        sync_to_catalog="true")
    assert r.status_code == 200, r.text

    def linked() -> dict[str, Any] | None:
        res = impact(e2e_stack, admin, asset["id"], f"source.shop.app.{raw}")
        assert res.status_code == 200, res.text
        data: dict[str, Any] = res.json()["data"]
        return data if any(i["monitored"] for i in data["impacted"]) else None

    data = wait_until(linked, 45, "discovery to link the lineage to the catalog", interval=0.3)
    got = {i["name"]: (i["distance"], i["asset_type"], i["owner"], i["monitored"])
           for i in data["impacted"]}
    assert got == {orders: (1, "model", None, True), ghost: (2, "model", None, False),
                   "dash": (3, "exposure", "Dana <dana@example.com>", False)}
    assert data["partial"] is False
    # The source's vertex, first made by OpenLineage, now belongs to the asset dbt described
    # it in: it is linked to its catalog table and has dbt's kind.
    assert data["node"]["catalog_table_id"], data["node"]
    assert data["node"]["asset_id"] == asset["id"] and data["node"]["asset_type"] == "source"
    assert data["node"]["sources"] == ["dbt", "openlineage"]


def test_impact_with_a_tiny_deadline_on_a_big_manifest_answers_fast(
    e2e_stack: Stack, pg: PgTarget
) -> None:
    # An organization of its own, so the module's listings are not flooded with its nodes.
    admin = bootstrap_key(e2e_stack, new_org("lin-query-big"), name="lin-query-big")
    gen = _gen()
    body = gen.generate(3000, bytes_per_model=0)
    asset = _asset(e2e_stack, admin, pg, "big")
    r = upload_manifest(e2e_stack, admin, asset["id"], body)
    assert r.status_code == 200, r.text
    design = gen.design(3000)
    assert r.json()["data"]["sync_stats"]["nodes_created"] == design.n_nodes
    assert r.json()["data"]["sync_stats"]["edges_created"] == design.n_edges
    doc = json.loads(body)
    source = next(s for s in doc["sources"] if any(s in ps for ps in doc["parent_map"].values()))
    started = time.monotonic()
    fast = impact(e2e_stack, admin, asset["id"], source, depth=50, deadline_ms=10)
    elapsed = time.monotonic() - started
    assert fast.status_code == 200, fast.text
    assert elapsed < 2.0, elapsed
    assert isinstance(fast.json()["data"]["partial"], bool)
    full = impact(e2e_stack, admin, asset["id"], source, depth=50).json()["data"]
    assert full["partial"] is False and full["total"] >= fast.json()["data"]["total"]
    assert max(i["distance"] for i in full["impacted"]) >= 2


# ----------------------------------------------------------------------------- isolation


def test_another_org_sees_none_of_this_orgs_lineage(
    e2e_stack: Stack, admin: Key, client: Any, pg: PgTarget, jaffle: dict[str, Any]
) -> None:
    mine = client.lineage.get("model.jaffle_shop.customers")
    other_admin = bootstrap_key(e2e_stack, new_org("lin-query-b"), name="lin-query-b")
    theirs = _asset(e2e_stack, other_admin, pg, "b")
    r = upload_manifest(e2e_stack, other_admin, theirs["id"], THREE.read_bytes())
    assert r.status_code == 200, r.text
    other = sdk_client(e2e_stack, other_admin)
    try:
        for ref in ("model.jaffle_shop.customers", mine.root.id, mine.root.qualified_name):
            with pytest.raises(NotFoundError):
                other.lineage.get(ref)
        names = {n.qualified_name for n in other.lineage.list(limit=100)}
        assert names == {f"postgresql.postgres.analytics.{t}"
                         for t in ("customer_revenue", "stg_customers", "stg_orders")}
        own = other.lineage.get("model.small.customer_revenue", direction="upstream")
        assert len(own.upstream) == 2
    finally:
        other.close()
    # This org's asset is not there for the other org (404 before any lineage is read) ...
    path = f"/assets/{jaffle['id']}/lineage"
    with api_client(e2e_stack, other_admin) as c:
        assert_error(c.get(f"{path}/impact", params={"node": "model.jaffle_shop.customers"}),
                     404)
        assert_error(c.get(path, params={"node": "model.jaffle_shop.customers"}), 404)
        assert_error(c.get(f"{path}/nodes"), 404)
        assert_error(c.post(f"{path}/upload", files={"file": ("m.json", V7.read_bytes())}), 404)
        assert_error(c.delete(f"{path}/source/dbt"), 404)
        # ... and its own asset cannot reach this org's nodes either.
        assert_error(c.get(f"/assets/{theirs['id']}/lineage/impact",
                           params={"node": "model.jaffle_shop.customers"}), 404)
    # Nothing of the other org leaked in here, and this org's graph is intact.
    assert "model.small.customer_revenue" not in {
        n.qualified_name for n in client.lineage.list(limit=100)}
    with pytest.raises(NotFoundError):
        client.lineage.get("model.small.customer_revenue")
    assert client.lineage.get("model.jaffle_shop.customers").root.id == mine.root.id
