"""Lineage sources other than manifest uploads, over real HTTP: manual nodes and edges (seed
000 bodies), per-source deletion next to a dbt upload, and OpenLineage events sent by the real
`openlineage-python` client (HttpTransport, gzip and plain) that stitch onto dbt models."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
import requests
from anomalyarmor.exceptions import NotFoundError
from e2e_support import (
    FIXTURE_MANIFESTS,
    Key,
    PgTarget,
    api_client,
    assert_error,
    bootstrap_key,
    create_asset,
    create_key_via_api,
    new_org,
    sdk_client,
    upload_manifest,
)
from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import column_lineage_dataset, schema_dataset
from openlineage.client.transport.http import (
    ApiKeyTokenProvider,
    HttpCompression,
    HttpConfig,
    HttpTransport,
)
from support.infra import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

V7 = FIXTURE_MANIFESTS / "v7_dbt-1.3.1_openlineage-postgres.json"
THREE = FIXTURE_MANIFESTS / "v12_dbt-1.11_three-models.json"
RESOURCE_TYPES = ("analysis", "dataset", "exposure", "job", "metric", "model", "seed",
                  "snapshot", "source", "table", "test", "view")
RELATIONSHIP_TYPES = ("data_flow", "depends_on", "derives_from", "feeds")
# The seed's manual examples, verbatim.
SEED_NODE = {"unique_id": "source.crm.customers", "name": "customers", "resource_type": "source",
             "schema": "crm", "database": "production"}
SEED_EDGE = {"parent_unique_id": "source.crm.customers",
             "child_unique_id": "model.analytics.dim_customers",
             "relationship_type": "derives_from"}
OL_NAMESPACE = "postgres://127.0.0.1:5432"
PRODUCER = "https://github.com/rampart/e2e"


@pytest.fixture(scope="module")
def org() -> str:
    return new_org("lin-src")


@pytest.fixture(scope="module")
def admin(e2e_stack: Stack, org: str) -> Key:
    return bootstrap_key(e2e_stack, org, name="lin-src-admin")


@pytest.fixture(scope="module")
def client(e2e_stack: Stack, admin: Key) -> Iterator[Any]:
    c = sdk_client(e2e_stack, admin)
    yield c
    c.close()


def fresh_asset(stack: Stack, key: Key, pg: PgTarget, label: str) -> dict[str, Any]:
    tag = secrets.token_hex(3)
    return create_asset(stack, key, f"{label} {tag}", pg.config(database=f"ls_{label}_{tag}"))


def records(stack: Stack, key: Key, asset_id: str, kind: str, source: str) -> list[dict[str, Any]]:
    with api_client(stack, key) as c:
        r = c.get(f"/assets/{asset_id}/lineage/{kind}", params={"source": source, "limit": 100})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["pagination"]["total"] == len(body["data"])
    items: list[dict[str, Any]] = body["data"]
    return items


# ----------------------------------------------------------------------------- manual


def test_manual_nodes_and_edges_create_list_delete(
    e2e_stack: Stack, admin: Key, client: Any, pg: PgTarget
) -> None:
    asset = fresh_asset(e2e_stack, admin, pg, "manual")
    base = f"/assets/{asset['id']}/lineage"
    with api_client(e2e_stack, admin) as c:
        r = c.post(f"{base}/nodes", json=SEED_NODE)
        assert r.status_code == 201, r.text
        node = r.json()["data"]
        assert node["unique_id"] == "source.crm.customers" and node["created"] is True
        assert node["qualified_name"] == "postgresql.production.crm.customers"
        assert node["source"] == "manual" and uuid.UUID(node["id"])
        again = c.post(f"{base}/nodes", json=SEED_NODE)
        assert again.status_code == 200 and again.json()["data"]["created"] is False
        assert again.json()["data"]["id"] == node["id"]

        # The edge's child must exist first: unknown nodes are refused by name.
        err = assert_error(c.post(f"{base}/edges", json=SEED_EDGE), 400)
        assert "model.analytics.dim_customers" in err["message"], err
        child = c.post(f"{base}/nodes", json={
            "unique_id": "model.analytics.dim_customers", "name": "dim_customers",
            "resource_type": "model", "schema": "marts", "database": "production",
            "owner": "analytics-team", "description": "Customer dimension"})
        assert child.status_code == 201, child.text
        r = c.post(f"{base}/edges", json=SEED_EDGE)
        assert r.status_code == 201, r.text
        edge = r.json()["data"]
        assert edge["relationship_type"] == "derives_from" and edge["created"] is True
        assert (edge["source"], edge["target"]) == (node["id"], child.json()["data"]["id"])
        assert c.post(f"{base}/edges", json=SEED_EDGE).json()["data"]["created"] is False

        bad = assert_error(c.post(f"{base}/nodes", json={**SEED_NODE, "resource_type": "widget"}),
                           400)
        assert "resource_type" in bad["message"]
        assert all(t in bad["message"] for t in RESOURCE_TYPES), bad
        bad = assert_error(c.post(f"{base}/edges", json={**SEED_EDGE,
                                                         "relationship_type": "loves"}), 400)
        assert "relationship_type" in bad["message"]
        assert all(t in bad["message"] for t in RELATIONSHIP_TYPES), bad
        err = assert_error(c.post(f"{base}/edges", json={**SEED_EDGE,
                                                         "child_unique_id": "model.x.nope"}), 400)
        assert "model.x.nope" in err["message"]
        assert_error(c.post(f"{base}/edges", json={**SEED_EDGE, "child_unique_id":
                                                   "source.crm.customers"}), 400)
        assert_error(c.post(f"{base}/nodes", json={**SEED_NODE, "colour": "red"}), 400)

    nodes = records(e2e_stack, admin, asset["id"], "nodes", "manual")
    assert sorted(n["unique_id"] for n in nodes) == ["model.analytics.dim_customers",
                                                     "source.crm.customers"]
    crm = next(n for n in nodes if n["unique_id"] == "source.crm.customers")
    assert (crm["schema"], crm["database"], crm["resource_type"]) == ("crm", "production",
                                                                      "source")
    (stored_edge,) = records(e2e_stack, admin, asset["id"], "edges", "manual")
    assert (stored_edge["parent_unique_id"], stored_edge["child_unique_id"],
            stored_edge["relationship_type"]) == (SEED_EDGE["parent_unique_id"],
                                                  SEED_EDGE["child_unique_id"], "derives_from")
    assert records(e2e_stack, admin, asset["id"], "nodes", "dbt") == []

    graph = client.lineage.get("source.crm.customers", direction="downstream")
    (down,) = graph.downstream
    assert down.qualified_name == "postgresql.production.marts.dim_customers"
    assert [e.edge_type for e in graph.edges] == ["derives_from"]

    with api_client(e2e_stack, admin) as c:
        path = f"{base}/edges/source.crm.customers/model.analytics.dim_customers"
        r = c.delete(path)
        assert r.status_code == 200 and r.json()["data"]["edges_deleted"] == 1, r.text
        assert_error(c.delete(path), 404)
        r = c.delete(f"{base}/nodes/model.analytics.dim_customers")
        assert r.status_code == 200 and r.json()["data"]["nodes_deleted"] == 1, r.text
        assert_error(c.delete(f"{base}/nodes/model.analytics.dim_customers"), 404)
        assert_error(c.delete(f"{base}/nodes/model.analytics.never_there"), 404)
    assert [n["unique_id"] for n in records(e2e_stack, admin, asset["id"], "nodes", "manual")
            ] == ["source.crm.customers"]
    with pytest.raises(NotFoundError):
        client.lineage.get("model.analytics.dim_customers")


def test_deleting_one_source_keeps_the_others(
    e2e_stack: Stack, admin: Key, client: Any, pg: PgTarget
) -> None:
    asset = fresh_asset(e2e_stack, admin, pg, "sources")
    base = f"/assets/{asset['id']}/lineage"
    r = upload_manifest(e2e_stack, admin, asset["id"], THREE.read_bytes())
    assert r.status_code == 200, r.text
    dbt_nodes = records(e2e_stack, admin, asset["id"], "nodes", "dbt")
    dbt_edges = records(e2e_stack, admin, asset["id"], "edges", "dbt")
    assert (len(dbt_nodes), len(dbt_edges)) == (7, 2)
    with api_client(e2e_stack, admin) as c:
        assert c.post(f"{base}/nodes", json={
            "unique_id": "source.crm.orders", "name": "orders", "resource_type": "source",
            "schema": "crm", "database": "production"}).status_code == 201
        # A manual edge onto a dbt node.
        r = c.post(f"{base}/edges", json={"parent_unique_id": "source.crm.orders",
                                          "child_unique_id": "model.small.stg_orders"})
        assert r.status_code == 201, r.text
    up = client.lineage.get("model.small.stg_orders", direction="upstream")
    assert [n.qualified_name for n in up.upstream] == ["postgresql.production.crm.orders"]

    # A dbt re-upload leaves the manual edge alone.
    again = upload_manifest(e2e_stack, admin, asset["id"], THREE.read_bytes())
    assert again.json()["data"]["sync_stats"]["edges_deleted"] == 0
    assert len(records(e2e_stack, admin, asset["id"], "edges", "manual")) == 1

    with api_client(e2e_stack, admin) as c:
        r = c.delete(f"{base}/source/manual")
        assert r.status_code == 200, r.text
        assert r.json()["data"] == {"asset_id": asset["id"], "source": "manual",
                                    "nodes_deleted": 1, "edges_deleted": 1}
        assert_error(c.delete(f"{base}/source/spreadsheet"), 400)
    assert records(e2e_stack, admin, asset["id"], "nodes", "manual") == []
    assert records(e2e_stack, admin, asset["id"], "edges", "manual") == []
    assert records(e2e_stack, admin, asset["id"], "nodes", "dbt") == dbt_nodes
    assert records(e2e_stack, admin, asset["id"], "edges", "dbt") == dbt_edges
    assert client.lineage.get("model.small.stg_orders", direction="upstream").upstream == []
    with pytest.raises(NotFoundError):
        client.lineage.get("source.crm.orders")  # nothing describes that vertex any more

    with api_client(e2e_stack, admin) as c:
        r = c.delete(f"{base}/source/dbt")
        assert r.status_code == 200, r.text
        assert r.json()["data"]["nodes_deleted"] == 7 and r.json()["data"]["edges_deleted"] == 2
        for ref in ("model.small.customer_revenue", "postgresql.postgres.analytics.stg_orders"):
            assert_error(c.get(base, params={"node": ref}), 404)
            assert_error(c.get(f"/sdk/lineage/{ref}"), 404)
    with pytest.raises(NotFoundError):
        client.lineage.get("model.small.customer_revenue")


# ----------------------------------------------------------------------------- OpenLineage


class StatusRecorder(requests.Session):
    """A requests session remembering the status of every response (the client returns none)."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []
        self.hooks["response"].append(lambda resp, *a, **kw: self.statuses.append(
            resp.status_code))


def ol_client(stack: Stack, key: Key | None, gzip: bool) -> tuple[OpenLineageClient,
                                                                   StatusRecorder]:
    session = StatusRecorder()
    config = HttpConfig(url=stack.url("gateway"), timeout=30, session=session,
                        compression=HttpCompression.GZIP if gzip else None,
                        retry={"total": 0})
    if key is not None:
        config.auth = ApiKeyTokenProvider({"apiKey": key.key})
    return OpenLineageClient(transport=HttpTransport(config)), session


def now() -> str:
    return datetime.now(UTC).isoformat()


def dataset(table: str) -> str:
    return f"postgres.public.{table}"


@pytest.fixture(scope="module")
def jaffle(e2e_stack: Stack, admin: Key, pg: PgTarget) -> dict[str, Any]:
    """The dbt project whose tables the OpenLineage events below read and write."""
    asset = fresh_asset(e2e_stack, admin, pg, "ol")
    r = upload_manifest(e2e_stack, admin, asset["id"], V7.read_bytes())
    assert r.status_code == 200, r.text
    return asset


@pytest.fixture(scope="module")
def writer(e2e_stack: Stack, admin: Key) -> Key:
    return create_key_via_api(e2e_stack, admin, "read-write", "ol-writer")


async def _column_edges(dsn: str, org: str) -> list[tuple[str, str, str, str]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "SELECT p.qualified_name, ce.parent_column, c.qualified_name, ce.child_column"
            " FROM lineage.column_edges ce JOIN lineage.vertices p ON p.id = ce.parent_id"
            " JOIN lineage.vertices c ON c.id = ce.child_id WHERE ce.org_id = $1"
            " ORDER BY 1, 2, 3, 4", org)
        return [tuple(r) for r in rows]  # type: ignore[misc]
    finally:
        await conn.close()


def test_openlineage_run_events_gzip_stitch_onto_the_dbt_model(
    e2e_stack: Stack, client: Any, writer: Key, org: str, jaffle: dict[str, Any]
) -> None:
    ol, session = ol_client(e2e_stack, writer, gzip=True)
    job = Job(namespace="rampart-e2e", name="nightly.customer_report")
    run = Run(runId=str(uuid.uuid4()))
    report = "customer_report"
    source_ds = InputDataset(namespace=OL_NAMESPACE, name=dataset("customers"))
    output = OutputDataset(namespace=OL_NAMESPACE, name=dataset(report), facets={
        "schema": schema_dataset.SchemaDatasetFacet(fields=[
            schema_dataset.SchemaDatasetFacetFields(name="customer_id", type="integer"),
            schema_dataset.SchemaDatasetFacetFields(name="lifetime_value", type="numeric")]),
        "columnLineage": column_lineage_dataset.ColumnLineageDatasetFacet(fields={
            "customer_id": column_lineage_dataset.Fields(inputFields=[
                column_lineage_dataset.InputField(OL_NAMESPACE, dataset("customers"),
                                                  "customer_id")]),
            "lifetime_value": column_lineage_dataset.Fields(inputFields=[
                column_lineage_dataset.InputField(OL_NAMESPACE, dataset("customers"),
                                                  "customer_lifetime_value")]),
        }),
    })
    for state in (RunState.START, RunState.COMPLETE):
        ol.emit(RunEvent(eventType=state, eventTime=now(), producer=PRODUCER, run=run, job=job,
                         inputs=[source_ds], outputs=[output]))
    assert session.statuses == [201, 201]

    graph = client.lineage.get("model.jaffle_shop.customers", depth=2, direction="downstream")
    assert graph.root.qualified_name == "postgresql.postgres.public.customers"
    by_distance = {n.qualified_name: n for n in graph.downstream}
    assert set(by_distance) == {"job:rampart-e2e/nightly.customer_report",
                                f"postgresql.postgres.public.{report}"}
    assert by_distance["job:rampart-e2e/nightly.customer_report"].asset_type == "job"
    # dbt and OpenLineage met in one vertex: its node list names both sources.
    with api_client(e2e_stack, writer) as c:
        root = c.get("/sdk/lineage/postgresql.postgres.public.customers",
                     params={"direction": "upstream"}).json()["data"]["root"]
    assert root["id"] == graph.root.id and root["sources"] == ["dbt", "openlineage"]
    # The dbt parents are still there upstream of the same vertex.
    upstream = client.lineage.get("model.jaffle_shop.customers", direction="upstream").upstream
    assert "postgresql.postgres.public.stg_orders" in {n.qualified_name for n in upstream}
    assert asyncio.run(_column_edges(e2e_stack.database_url, org)) == [
        ("postgresql.postgres.public.customers", "customer_id",
         f"postgresql.postgres.public.{report}", "customer_id"),
        ("postgresql.postgres.public.customers", "customer_lifetime_value",
         f"postgresql.postgres.public.{report}", "lifetime_value")]


def test_openlineage_dataset_and_job_events_uncompressed(
    e2e_stack: Stack, client: Any, writer: Key, jaffle: dict[str, Any]
) -> None:
    ol, session = ol_client(e2e_stack, writer, gzip=False)
    ol.emit(DatasetEvent(eventTime=now(), producer=PRODUCER, dataset=StaticDataset(
        namespace=OL_NAMESPACE, name=dataset("orders"), facets={
            "schema": schema_dataset.SchemaDatasetFacet(fields=[
                schema_dataset.SchemaDatasetFacetFields(name="order_id", type="integer")])})))
    ol.emit(JobEvent(eventTime=now(), producer=PRODUCER,
                     job=Job(namespace="rampart-e2e", name="orders.export"),
                     inputs=[InputDataset(namespace=OL_NAMESPACE, name=dataset("orders"))],
                     outputs=[OutputDataset(namespace="s3://exports",
                                            name="orders/orders.parquet")]))
    assert session.statuses == [201, 201]
    graph = client.lineage.get("model.jaffle_shop.orders", depth=2, direction="downstream")
    assert {n.qualified_name for n in graph.downstream} == {
        "job:rampart-e2e/orders.export", "s3://exports/orders/orders.parquet"}


def test_openlineage_refuses_malformed_events_and_wrong_keys(
    e2e_stack: Stack, admin: Key, writer: Key
) -> None:
    event = RunEvent(eventType=RunState.START, eventTime=now(), producer=PRODUCER,
                     run=Run(runId=str(uuid.uuid4())), job=Job(namespace="e2e", name="denied"))
    for key, status in ((None, 401), (create_key_via_api(e2e_stack, admin, "read-only",
                                                         "ol-reader"), 403)):
        ol, session = ol_client(e2e_stack, key, gzip=False)
        with pytest.raises(requests.HTTPError) as caught:
            ol.emit(event)
        assert caught.value.response is not None
        assert caught.value.response.status_code == status and session.statuses == [status]

    with api_client(e2e_stack, writer) as c:
        good = json.loads(json.dumps({"eventTime": now(), "producer": PRODUCER,
                                      "schemaURL": "https://openlineage.io/spec/2-0-2/"
                                                   "OpenLineage.json#/$defs/RunEvent",
                                      "eventType": "START",
                                      "run": {"runId": str(uuid.uuid4())},
                                      "job": {"namespace": "e2e", "name": "bad"}}))
        for body, pattern in (
            ({**good, "eventTime": "yesterday"}, r"eventTime"),
            ({**good, "run": {"runId": "not-a-uuid"}}, r"run\.runId"),
            ({**good, "eventType": "EXPLODED"}, r"eventType"),
            ({k: v for k, v in good.items() if k != "job"}, r"job"),
            ([good], r"JSON object"),
        ):
            err = assert_error(c.post("/lineage", json=body), 400)
            assert re.search(pattern, err["message"]), (body, err)
        err = assert_error(c.post("/lineage", content=b"{not json",
                                  headers={"Content-Type": "application/json"}), 400)
        assert "JSON" in err["message"]
        with pytest.raises(NotFoundError):
            sdk_client(e2e_stack, writer).lineage.get("job:e2e/denied")


def test_deleting_the_openlineage_source_removes_what_it_said_about_the_assets_tables(
    e2e_stack: Stack, client: Any, writer: Key, admin: Key, jaffle: dict[str, Any]
) -> None:
    """Runs last in this module: it clears every OpenLineage edge on the asset's tables."""
    ol, session = ol_client(e2e_stack, writer, gzip=False)
    job = Job(namespace="rampart-e2e", name="weekly.orders_export")
    ol.emit(RunEvent(eventType=RunState.COMPLETE, eventTime=now(), producer=PRODUCER,
                     run=Run(runId=str(uuid.uuid4())), job=job,
                     inputs=[InputDataset(namespace=OL_NAMESPACE, name=dataset("orders"))],
                     outputs=[OutputDataset(namespace=OL_NAMESPACE, name="exports/orders.csv")]))
    assert session.statuses[-1] == 201
    down = client.lineage.get("model.jaffle_shop.orders", depth=2, direction="downstream")
    assert "job:rampart-e2e/weekly.orders_export" in {n.qualified_name for n in down.downstream}

    with api_client(e2e_stack, admin) as c:
        r = c.delete(f"/assets/{jaffle['id']}/lineage/source/openlineage")
    assert r.status_code == 200, r.text
    assert r.json()["data"]["edges_deleted"] >= 1

    down = client.lineage.get("model.jaffle_shop.orders", depth=2, direction="downstream")
    assert all(not n.qualified_name.startswith("job:") for n in down.downstream)
    with pytest.raises(NotFoundError):  # the job had no other edge, so it is gone
        client.lineage.get("job:rampart-e2e/weekly.orders_export")
    # dbt's own lineage of the same tables is untouched
    up = client.lineage.get("model.jaffle_shop.orders", direction="upstream").upstream
    assert "postgresql.postgres.public.stg_orders" in {n.qualified_name for n in up}
