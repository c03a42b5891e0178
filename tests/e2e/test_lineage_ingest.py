"""Getting lineage in over real HTTP (seed 000): manifest uploads of every fixture, the seed's
curl examples run verbatim with curl, bad uploads, and dbt Cloud sync against a fake dbt Cloud
(with the token checked to leave no trace in responses, logs, tables or the bus).

Expected node and edge counts are worked out here from the manifest JSON, not by the parser.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import secrets
import shlex
import subprocess
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import nats
import pytest
from e2e_support import (
    FIXTURE_MANIFESTS,
    FakeDbtCloudThread,
    Key,
    PgTarget,
    api_client,
    assert_error,
    bootstrap_key,
    create_asset,
    manifest_counts,
    new_org,
    upload_manifest,
    wait_until,
)
from nats.js.errors import NotFoundError as JsNotFound
from support.infra import Stack

from rampart_contracts.subjects import Subjects

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

SEED = Path("/work/shared/spec/seeds/000_85a824005189c8f9.txt")
FIXTURES = sorted(FIXTURE_MANIFESTS.glob("*.json"))
V7 = FIXTURE_MANIFESTS / "v7_dbt-1.3.1_openlineage-postgres.json"
V9 = FIXTURE_MANIFESTS / "v9_dbt-1.5.0b5_dbt-core-state.json"
V11 = FIXTURE_MANIFESTS / "v11_dbt-1.7.6_dbt-core-state.json"
STATS = ("nodes_created", "nodes_updated", "nodes_deleted", "edges_created", "edges_updated",
         "edges_deleted")
ZERO = dict.fromkeys(STATS, 0)
MB = 1024 * 1024


@pytest.fixture(scope="module")
def org() -> str:
    return new_org("lin-ingest")


@pytest.fixture(scope="module")
def admin(e2e_stack: Stack, org: str) -> Key:
    return bootstrap_key(e2e_stack, org, name="lin-ingest-admin")


def fresh_asset(stack: Stack, key: Key, pg: PgTarget, label: str) -> dict[str, Any]:
    """An asset of its own (a database name nobody else uses: its qualified name is unique)."""
    tag = secrets.token_hex(3)
    return create_asset(stack, key, f"{label} {tag}",
                        pg.config(database=f"lin_{label}_{tag}".replace("-", "_")))


def load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_bytes())
    return doc


def project_name(doc: dict[str, Any]) -> str | None:
    """metadata.project_name (v10+), else the package whose md5 is metadata.project_id."""
    meta = doc.get("metadata") or {}
    if meta.get("project_name"):
        return str(meta["project_name"])
    packages = {n.get("package_name") for n in doc["nodes"].values()} - {None}
    for name in sorted(packages):
        if hashlib.md5(name.encode(), usedforsecurity=False).hexdigest() == meta.get("project_id"):
            return str(name)
    return None


def listing(stack: Stack, key: Key, asset_id: str, kind: str, source: str = "dbt"
            ) -> tuple[int, list[dict[str, Any]]]:
    """(total, items) of `GET /assets/{id}/lineage/{nodes|edges}?source=…` (all pages)."""
    items: list[dict[str, Any]] = []
    with api_client(stack, key) as c:
        while True:
            r = c.get(f"/assets/{asset_id}/lineage/{kind}",
                      params={"source": source, "limit": 100, "offset": len(items)})
            assert r.status_code == 200, r.text
            body = r.json()
            page, total = body["data"], body["pagination"]["total"]
            items += page
            if not page or len(items) >= total:
                return total, items


def assert_seed_shape(resp: httpx.Response, asset_id: str) -> dict[str, Any]:
    assert resp.status_code == 200, resp.text
    data: dict[str, Any] = resp.json()["data"]
    assert data["asset_id"] == asset_id
    assert set(data["sync_stats"]) == set(STATS), data
    assert all(isinstance(data["sync_stats"][k], int) for k in STATS)
    assert {"generated_at", "dbt_version", "project_name"} <= set(data["manifest_metadata"])
    assert "catalog_sync_job_id" in data
    return data


def job(stack: Stack, key: Key, job_id: str) -> dict[str, Any]:
    with api_client(stack, key) as c:
        r = c.get(f"/sdk/jobs/{job_id}")
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


# ----------------------------------------------------------------------------- uploads


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_every_fixture_uploads_with_the_seed_shape_and_exact_counts(
    e2e_stack: Stack, admin: Key, pg: PgTarget, path: Path
) -> None:
    doc = load(path)
    n_nodes, n_edges = manifest_counts(doc)
    asset = fresh_asset(e2e_stack, admin, pg, "fx")
    data = assert_seed_shape(upload_manifest(e2e_stack, admin, asset["id"], path.read_bytes()),
                             asset["id"])
    assert data["sync_stats"] == {**ZERO, "nodes_created": n_nodes, "edges_created": n_edges}
    meta = doc["metadata"]
    assert data["manifest_metadata"]["generated_at"] == meta["generated_at"]
    assert data["manifest_metadata"]["dbt_version"] == meta["dbt_version"]
    assert data["manifest_metadata"]["project_name"] == project_name(doc) is not None
    assert data["catalog_sync_job_id"] is None
    # The answer came from the job's completion event; the job row follows it shortly.
    finished = wait_until(lambda: (j := job(e2e_stack, admin, data["job_id"]))["status"]
                          != "running" and j, 10, "the upload job row")
    assert finished["status"] == "completed" and finished["asset_id"] == asset["id"]
    assert finished["workflow_name"] == "lineage_manifest_upload"

    # What was stored is what the stats said.
    assert listing(e2e_stack, admin, asset["id"], "nodes")[0] == n_nodes
    assert listing(e2e_stack, admin, asset["id"], "edges")[0] == n_edges

    again = assert_seed_shape(upload_manifest(e2e_stack, admin, asset["id"], path.read_bytes()),
                              asset["id"])
    assert again["sync_stats"] == ZERO


def test_sync_to_catalog_starts_a_discovery_job_that_completes(
    e2e_stack: Stack, admin: Key, pg: PgTarget
) -> None:
    asset = create_asset(e2e_stack, admin, "Catalog " + secrets.token_hex(3), pg.config())
    data = assert_seed_shape(upload_manifest(e2e_stack, admin, asset["id"], V7.read_bytes(),
                                             sync_to_catalog="true"), asset["id"])
    assert data["sync_stats"]["nodes_created"] == 28
    catalog_job = data["catalog_sync_job_id"]
    assert catalog_job and uuid.UUID(catalog_job) and catalog_job != data["job_id"]
    done = wait_until(lambda: (j := job(e2e_stack, admin, catalog_job))["status"]
                      in ("completed", "failed") and j, 45, "the catalog sync job")
    assert done["status"] == "completed", done
    assert done["asset_id"] == asset["id"] and done["workflow_name"] == "asset_discovery"


def _vertex(node: dict[str, Any], uid: str, asset_qn: str) -> str:
    """The documented vertex naming: relations by `<source_type>.<db>.<schema>.<table>`,
    everything else (exposures, analyses, tests) by `<asset qualified name>.<unique_id>`."""
    if node["resource_type"] in ("exposure", "analysis", "test") or \
            node.get("database") is None or node.get("schema") is None:
        return f"{asset_qn}.{uid}"
    table = node.get("alias") or node.get("identifier") or node["name"]
    return f"postgresql.{node['database']}.{node['schema']}.{table}"


def _graph(doc: dict[str, Any], asset_qn: str) -> tuple[set[str], set[tuple[str, str]]]:
    """(kept unique ids, edges as vertex-name pairs) of a manifest."""
    kept: dict[str, dict[str, Any]] = {}
    for section, kind in (("nodes", None), ("sources", "source"), ("exposures", "exposure")):
        for uid, entry in (doc.get(section) or {}).items():
            if (entry.get("config") or {}).get("enabled", True) is False:
                continue
            rtype = kind or entry["resource_type"]
            if rtype in ("model", "seed", "snapshot", "analysis", "test", "source", "exposure"):
                kept[uid] = {**entry, "resource_type": rtype}
    edges = {(_vertex(kept[p], p, asset_qn), _vertex(kept[c], c, asset_qn))
             for c, parents in doc["parent_map"].items() for p in parents
             if c in kept and p in kept and "test" not in
             (kept[c]["resource_type"], kept[p]["resource_type"])}
    return set(kept), {e for e in edges if e[0] != e[1]}


def test_upload_a_then_b_then_a_replaces_the_snapshot(
    e2e_stack: Stack, admin: Key, pg: PgTarget
) -> None:
    asset = fresh_asset(e2e_stack, admin, pg, "aba")
    a_doc, b_doc = load(V9), load(V11)
    a_ids, a_edges = _graph(a_doc, asset["qualified_name"])
    b_ids, b_edges = _graph(b_doc, asset["qualified_name"])
    assert a_ids & b_ids and a_edges & b_edges  # the two snapshots overlap

    def up(path: Path) -> dict[str, int]:
        stats: dict[str, int] = assert_seed_shape(
            upload_manifest(e2e_stack, admin, asset["id"], path.read_bytes()),
            asset["id"])["sync_stats"]
        return stats

    first = up(V9)
    assert first == {**ZERO, "nodes_created": len(a_ids), "edges_created": len(a_edges)}
    to_b = up(V11)
    assert to_b["nodes_created"] == len(b_ids - a_ids)
    assert to_b["nodes_deleted"] == len(a_ids - b_ids)
    assert 0 < to_b["nodes_updated"] <= len(a_ids & b_ids)
    assert (to_b["edges_created"], to_b["edges_deleted"], to_b["edges_updated"]) == (
        len(b_edges - a_edges), len(a_edges - b_edges), 0)
    assert listing(e2e_stack, admin, asset["id"], "nodes")[0] == len(b_ids)
    asset_ref = asset["qualified_name"]  # every {asset_id} slot also takes a qualified name
    back = assert_seed_shape(upload_manifest(e2e_stack, admin, asset_ref, V9.read_bytes()),
                             asset["id"])["sync_stats"]
    assert back == {"nodes_created": to_b["nodes_deleted"], "nodes_deleted": to_b["nodes_created"],
                    "nodes_updated": to_b["nodes_updated"],
                    "edges_created": to_b["edges_deleted"], "edges_deleted": to_b["edges_created"],
                    "edges_updated": 0}
    total, nodes = listing(e2e_stack, admin, asset["id"], "nodes")
    assert total == len(a_ids) and {n["unique_id"] for n in nodes} == a_ids
    total, edges = listing(e2e_stack, admin, asset["id"], "edges")
    assert {(e["parent_qualified_name"], e["child_qualified_name"]) for e in edges} == a_edges


def test_async_upload_answers_202_with_a_job_to_follow(
    e2e_stack: Stack, admin: Key, pg: PgTarget
) -> None:
    asset = fresh_asset(e2e_stack, admin, pg, "async")
    r = upload_manifest(e2e_stack, admin, asset["id"], V7.read_bytes(), params={"async": "true"})
    assert r.status_code == 202, r.text
    data = r.json()["data"]
    assert data["asset_id"] == asset["id"] and data["catalog_sync_job_id"] is None
    done = wait_until(lambda: (j := job(e2e_stack, admin, data["job_id"]))["status"]
                      in ("completed", "failed") and j, 30, "the upload job")
    assert done["status"] == "completed", done
    assert done["result"]["sync_stats"]["nodes_created"] == 28


# ----------------------------------------------------------------------------- seed curl


def seed_curl_commands() -> list[list[str]]:
    """Every `curl` command of the seed, as argv: a block starts at a line beginning with
    `curl` and goes on while lines end with a backslash or a single quote is still open."""
    blocks: list[str] = []
    current: list[str] | None = None
    for line in SEED.read_text().splitlines():
        stripped = line.strip()
        if current is None:
            if not stripped.startswith("curl "):
                continue
            current = []
        current.append(stripped)
        text = "\n".join(current)
        if stripped.endswith("\\") or text.count("'") % 2 == 1:
            continue
        blocks.append(text)
        current = None
    assert current is None, "unterminated curl block in the seed"
    return [shlex.split(block.replace("\\\n", " ")) for block in blocks]


def _analytics_manifest() -> bytes:
    """A small manifest whose project defines `model.analytics.dim_customers`, the child of
    the seed's manual edge example."""
    def model(name: str) -> dict[str, Any]:
        return {"unique_id": f"model.analytics.{name}", "name": name, "resource_type": "model",
                "database": "production", "schema": "marts", "alias": name,
                "package_name": "analytics", "config": {"enabled": True, "materialized": "table"}}

    return json.dumps({
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
                     "dbt_version": "1.7.4", "project_name": "analytics",
                     "generated_at": "2025-03-15T10:30:00Z"},
        "nodes": {f"model.analytics.{n}": model(n) for n in ("stg_customers", "dim_customers")},
        "parent_map": {"model.analytics.stg_customers": [],
                       "model.analytics.dim_customers": ["model.analytics.stg_customers"]},
    }).encode()


def test_seed_curl_examples_run_verbatim(
    e2e_stack: Stack, admin: Key, pg: PgTarget, tmp_path: Path
) -> None:
    commands = seed_curl_commands()
    assert [c[0] for c in commands] == ["curl"] * 6
    asset = fresh_asset(e2e_stack, admin, pg, "seed")
    base = e2e_stack.url("gateway")
    dbt_token = "dbtc_your_token_here"  # the example's own token, accepted by the fake
    runs = [{"id": 901, "job_definition_id": 67890, "status": 10,
             "finished_at": "2025-03-15 10:30:00+00:00"}]

    def substitute(arg: str) -> str:
        for old, new in (("https://api.anomalyarmor.ai", base), ("aa_live_xxx", admin.key),
                         ("$ARMOR_API_KEY", admin.key), ("{asset_id}", asset["id"]),
                         ("$ASSET_ID", asset["id"]), ("target/manifest.json", str(V7))):
            arg = arg.replace(old, new)
        return arg

    statuses: list[tuple[str, int, dict[str, Any]]] = []
    with FakeDbtCloudThread(dbt_token, runs, {901: _analytics_manifest()}) as fake:
        for argv in commands:
            args = [substitute(a) for a in argv[1:]]
            url = next(a for a in args if a.startswith(base))
            if url.endswith("/dbt-cloud/sync"):
                body_at = args.index("-d") + 1
                body = json.loads(args[body_at])
                assert body["api_token"] == dbt_token and "access_url" not in body
                args[body_at] = json.dumps({**body, "access_url": fake.url})
            out = tmp_path / "body.json"
            done = subprocess.run(["curl", "-sS", "--max-time", "60", "-o", str(out),
                                   "-w", "%{http_code}", *args],
                                  capture_output=True, text=True, timeout=70, check=False)
            assert done.returncode == 0, done.stderr
            statuses.append((url.removeprefix(base), int(done.stdout),
                             json.loads(out.read_text() or "{}")))
        assert [r.path for r in fake.requests] == [
            "/api/v2/accounts/12345/runs/",
            "/api/v2/accounts/12345/runs/901/artifacts/manifest.json"]

    for path, status, body in statuses:
        assert 200 <= status < 300, (path, status, body)
    prefix = f"/api/v1/assets/{asset['id']}/lineage"
    assert [(p.removeprefix(prefix), s) for p, s, _ in statuses] == [
        ("/upload", 200), ("/upload", 200), ("/dbt-cloud/sync", 200), ("/nodes", 201),
        ("/edges", 201), ("/source/dbt", 200)]
    first, second, cloud = (b["data"] for _, _, b in statuses[:3])
    assert first["sync_stats"] == {**ZERO, "nodes_created": 28, "edges_created": 8}
    assert first["catalog_sync_job_id"]  # sync_to_catalog=true
    assert second["sync_stats"] == ZERO and second["catalog_sync_job_id"]  # the default: true
    assert cloud["sync_stats"]["nodes_created"] == 2 and cloud["sync_stats"]["nodes_deleted"] == 28
    assert cloud["manifest_metadata"]["project_name"] == "analytics"
    assert statuses[4][2]["data"]["relationship_type"] == "derives_from"
    assert statuses[5][2]["data"] == {"asset_id": asset["id"], "source": "dbt",
                                      "nodes_deleted": 2, "edges_deleted": 1}
    # The manual node and edge outlive the dbt reset.
    assert [n["unique_id"] for n in listing(e2e_stack, admin, asset["id"], "nodes", "manual")[1]
            ] == ["source.crm.customers"]
    assert listing(e2e_stack, admin, asset["id"], "edges", "manual")[0] == 1
    assert listing(e2e_stack, admin, asset["id"], "nodes", "dbt")[0] == 0


# ----------------------------------------------------------------------------- bad uploads


def _padded(size: int) -> bytes:
    """A valid manifest padded with a filler key to `size` bytes."""
    body = V7.read_bytes().strip()
    head = b'{"padding": "'
    filler = size - len(head) - len(b'", ') - (len(body) - 1)
    return head + b"x" * filler + b'", ' + body[1:]


def _doc_bytes(change: Any) -> bytes:
    doc = load(V7)
    change(doc)
    return json.dumps(doc).encode()


def _cycle(doc: dict[str, Any]) -> None:
    doc["parent_map"]["model.jaffle_shop.stg_orders"].append("model.jaffle_shop.orders")


BAD_FILES: dict[str, tuple[bytes | None, dict[str, Any], int, str]] = {
    # name: (file bytes or None for "no file part", extra request options, status, message)
    "too_large": (None, {"size": 50 * MB + 1024}, 413, r"larger than the 50 MB limit"),
    "too_large_chunked": (None, {"chunked": 50 * MB + 1024}, 413, r"larger than the 50 MB limit"),
    "not_utf8": (V7.read_bytes().replace(b'"jaffle_shop"', b'"jaffle_sh\xe9p"', 1), {}, 400,
                 r"not UTF-8 encoded"),
    "not_json": (b"nodes: {}\nparent_map: {}\n", {}, 400, r"not valid JSON"),
    "missing_parent_map": (_doc_bytes(lambda d: d.pop("parent_map")), {}, 400,
                           r"missing required key 'parent_map'"),
    "nodes_not_object": (_doc_bytes(lambda d: d.update(nodes=["model.a"])), {}, 400,
                         r"'nodes' must be an object"),
    "unknown_node": (_doc_bytes(lambda d: d["parent_map"]["model.jaffle_shop.orders"].append(
        "model.jaffle_shop.ghost")), {}, 400, r"unknown node 'model\.jaffle_shop\.ghost'"),
    "cycle": (_doc_bytes(_cycle), {}, 400, r"cycle: .*model\.jaffle_shop\.orders"),
    "no_file": (None, {"no_file": True}, 400, r"no 'file' field"),
    "wrong_content_type": (None, {"json_body": True}, 400, r"multipart/form-data"),
    "sync_maybe": (V7.read_bytes(), {"sync": "maybe"}, 400, r"sync_to_catalog must be true or false"),
    "empty": (b"  \n", {}, 400, r"empty"),
}


@pytest.fixture(scope="module")
def baseline(e2e_stack: Stack, admin: Key, pg: PgTarget) -> tuple[dict[str, Any], Any]:
    asset = fresh_asset(e2e_stack, admin, pg, "bad")
    r = upload_manifest(e2e_stack, admin, asset["id"], V7.read_bytes())
    assert r.status_code == 200, r.text
    return asset, _snapshot(e2e_stack, admin, asset["id"])


def _snapshot(stack: Stack, key: Key, asset_id: str) -> Any:
    nodes = listing(stack, key, asset_id, "nodes", "dbt")[1]
    edges = listing(stack, key, asset_id, "edges", "dbt")[1]
    with api_client(stack, key) as c:
        graph = c.get("/sdk/lineage/model.jaffle_shop.customers",
                      params={"depth": 5, "direction": "both"}).json()
    return ([(n["unique_id"], n["updated_at"], n["vertex_id"]) for n in nodes],
            sorted((e["source"], e["target"]) for e in edges), graph)


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_upload_is_refused_and_leaves_lineage_untouched(
    e2e_stack: Stack, admin: Key, baseline: tuple[dict[str, Any], Any], case: str
) -> None:
    asset, before = baseline
    data, opts, status, message = BAD_FILES[case]
    path = f"/assets/{asset['id']}/lineage/upload"
    with api_client(e2e_stack, admin) as c:
        if "size" in opts:
            r = c.post(path, data={"sync_to_catalog": "false"},
                       files={"file": ("manifest.json", _padded(opts["size"]), "application/json")})
        elif "chunked" in opts:  # no Content-Length: the limit holds while streaming
            boundary = "b" + secrets.token_hex(8)
            body = _padded(opts["chunked"])

            def stream() -> Any:
                yield (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
                       'filename="manifest.json"\r\nContent-Type: application/json\r\n\r\n'
                       ).encode()
                for i in range(0, len(body), MB):
                    yield body[i:i + MB]
                yield f"\r\n--{boundary}--\r\n".encode()

            r = c.post(path, content=stream(),
                       headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        elif opts.get("no_file"):
            r = c.post(path, files={"sync_to_catalog": (None, "false"),
                                    "manifest": ("manifest.json", V7.read_bytes())})
        elif opts.get("json_body"):
            r = c.post(path, content=V7.read_bytes(), headers={"Content-Type": "application/json"})
        else:
            assert data is not None
            r = c.post(path, data={"sync_to_catalog": opts.get("sync", "false")},
                       files={"file": ("manifest.json", data, "application/json")})
    err = assert_error(r, status)
    assert re.search(message, err["message"]), err
    assert _snapshot(e2e_stack, admin, asset["id"]) == before


def test_manifest_of_exactly_the_limit_is_accepted(
    e2e_stack: Stack, admin: Key, baseline: tuple[dict[str, Any], Any]
) -> None:
    asset, before = baseline
    r = upload_manifest(e2e_stack, admin, asset["id"], _padded(50 * MB))
    assert assert_seed_shape(r, asset["id"])["sync_stats"] == ZERO  # same nodes, padded
    assert _snapshot(e2e_stack, admin, asset["id"]) == before


# ----------------------------------------------------------------------------- dbt Cloud


async def _tables_containing(dsn: str, needle: str) -> list[str]:
    """Every `schema.table` of the database with the text in any column (bytea included)."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = await conn.fetch(
            "SELECT table_schema, table_name FROM information_schema.tables"
            " WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')")
        byteas = await conn.fetch(
            "SELECT table_schema, table_name, column_name FROM information_schema.columns"
            " WHERE data_type = 'bytea'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')")
        found = []
        for t in tables:
            name = f'"{t["table_schema"]}"."{t["table_name"]}"'
            if await conn.fetchval(f"SELECT count(*) FROM {name} t"
                                   " WHERE strpos(t::text, $1) > 0", needle):
                found.append(name)
        for b in byteas:
            name = f'"{b["table_schema"]}"."{b["table_name"]}"'
            if await conn.fetchval(
                    f'SELECT count(*) FROM {name} WHERE position(convert_to($1, \'UTF8\')'
                    f' IN "{b["column_name"]}") > 0', needle):
                found.append(f"{name}.{b['column_name']}")
        assert len(tables) > 10  # the scan saw the whole platform's tables
        return found
    finally:
        await conn.close()


async def _bus_trace(stack: Stack, needle: str, job_id: str) -> tuple[list[str], bool]:
    """(streams holding the text, whether the sync command is still in the commands stream)."""
    subjects = Subjects(stack.bus_prefix)
    nc = await nats.connect(stack.nats_url)
    try:
        js = nc.jetstream()
        found, pending = [], False
        for stream in (subjects.commands_stream, subjects.events_stream,
                       subjects.dead_letter_stream):
            try:
                info = await js.stream_info(stream)
            except JsNotFound:
                continue
            if not info.state.messages:
                continue
            for seq in range(max(info.state.first_seq, 1), info.state.last_seq + 1):
                try:
                    msg = await js.get_msg(stream, seq)
                except JsNotFound:
                    continue
                data = msg.data or b""
                if needle.encode() in data:
                    found.append(f"{stream}#{seq}")
                if stream == subjects.commands_stream and job_id.encode() in data \
                        and b"sync_dbt_cloud" in data:
                    pending = True
        return found, pending
    finally:
        await nc.close()


def test_dbt_cloud_sync_uses_the_token_once_and_keeps_it_nowhere(
    e2e_stack: Stack, admin: Key, pg: PgTarget
) -> None:
    token = "dbtc_" + secrets.token_urlsafe(32)
    wrong = "dbtc_" + secrets.token_urlsafe(32)
    asset = fresh_asset(e2e_stack, admin, pg, "cloud")
    runs = [{"id": 11, "job_definition_id": 67890, "status": 10,
             "finished_at": "2026-01-01 09:00:00+00:00"},
            {"id": 12, "job_definition_id": 67890, "status": 20,
             "finished_at": "2026-01-01 10:00:00+00:00"}]
    path = f"/assets/{asset['id']}/lineage/dbt-cloud/sync"
    with FakeDbtCloudThread(token, runs, {11: V7.read_bytes()}) as fake, \
            api_client(e2e_stack, admin) as c:
        body = {"account_id": "12345", "api_token": token, "job_id": "67890",
                "access_url": fake.url}
        r = c.post(path, json=body, timeout=60)
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert data["sync_stats"] == {**ZERO, "nodes_created": 28, "edges_created": 8}
        assert data["manifest_metadata"]["project_name"] == "jaffle_shop"
        assert data["catalog_sync_job_id"] is None
        assert token not in r.text
        auth = {r.headers.get("Authorization") for r in fake.requests}
        assert auth == {f"Token {token}"}
        assert fake.requests[-1].path.endswith("/runs/11/artifacts/manifest.json")

        refused = c.post(path, json={**body, "api_token": wrong}, timeout=60)
        err = assert_error(refused, 400)
        assert "rejected the API token" in err["message"], err
        assert wrong not in refused.text and token not in refused.text

    assert listing(e2e_stack, admin, asset["id"], "nodes")[0] == 28  # the failure changed nothing

    # The command leaves the work queue once acknowledged; nothing on the bus holds the token.
    def bus_clean() -> bool:
        found, pending = asyncio.run(_bus_trace(e2e_stack, token, data["job_id"]))
        assert found == [], found
        return not pending

    wait_until(bus_clean, 15, "the sync command to leave the commands stream", interval=0.3)
    # The scans do see what is there: the job's events and the asset's row.
    assert asyncio.run(_bus_trace(e2e_stack, data["job_id"], ""))[0]
    assert asyncio.run(_tables_containing(e2e_stack.database_url, asset["name"]))
    assert asyncio.run(_bus_trace(e2e_stack, wrong, ""))[0] == []
    for secret in (token, wrong):
        assert asyncio.run(_tables_containing(e2e_stack.database_url, secret)) == []
        leaked = [str(p) for p in e2e_stack.state_dir.rglob("*") if p.is_file()
                  and secret.encode() in p.read_bytes()]
        assert leaked == []
