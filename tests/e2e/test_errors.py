"""Error envelopes and statuses over real HTTP; a backing service going away and coming back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any
from urllib.parse import quote

import asyncpg
import httpx
import pytest
from e2e_support import (
    HTTP_TIMEOUT,
    Key,
    PgTarget,
    api_client,
    assert_error,
    bootstrap_key,
    create_asset,
    create_key_via_api,
    new_org,
    pg_target,
)
from support.infra import SERVICES, Stack

from rampart_gateway.routes import ALL_ROUTES
from rampart_runtime.devstack import read_pid

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]


@pytest.fixture(scope="module")
def admin(e2e_stack: Stack) -> Key:
    # many quick requests here: lift the per-second burst above the enterprise 100
    return bootstrap_key(e2e_stack, new_org("errors"), name="errors-admin",
                         rate_limit_per_min=100_000, burst=5_000)


@pytest.fixture(scope="module")
def rw(e2e_stack: Stack, admin: Key) -> Key:
    return create_key_via_api(e2e_stack, admin, "read-write", "errors-rw")


@pytest.fixture(scope="module")
def asset(e2e_stack: Stack, admin: Key, pg: PgTarget) -> dict[str, Any]:
    return create_asset(e2e_stack, admin, "errors warehouse", pg.config())


@pytest.fixture
def c(e2e_stack: Stack, admin: Key) -> Iterator[httpx.Client]:
    with api_client(e2e_stack, admin) as client:
        yield client


# ----------------------------------------------------------------------------- routing


def test_unknown_route_is_a_json_404(e2e_stack: Stack, admin: Key) -> None:
    for key in (None, admin):
        with api_client(e2e_stack, key, headers={"Accept": "text/html"}) as c:
            for path in ("/nope", "/sdk/nope", "/sdk/assets/x/nope", "/api/v1/assets"):
                assert_error(c.get(path), 404, "NOT_FOUND")
        with httpx.Client(base_url=e2e_stack.url(), timeout=HTTP_TIMEOUT) as root:
            for path in ("/", "/nope", "/api/v2/sdk/assets", "/api"):
                assert_error(root.get(path), 404, "NOT_FOUND")


def test_trailing_slash_is_a_404_not_a_redirect(c: httpx.Client, asset: dict[str, Any]) -> None:
    for path in ("/sdk/assets/", "/assets/", "/api-keys/", "/api-keys/usage/",
                 f"/sdk/assets/{asset['id']}/", f"/sdk/assets/{asset['id']}/discover/"):
        for method in ("GET", "POST"):
            resp = c.request(method, path)
            assert "Location" not in resp.headers, path
            assert_error(resp, 404)


def test_wrong_method_is_an_envelope(c: httpx.Client) -> None:
    resp = c.put("/sdk/assets", json={})
    assert resp.status_code == 405
    assert_error(resp, 405)


# ----------------------------------------------------------------------------- bodies


def test_malformed_json_body(c: httpx.Client) -> None:
    for path in ("/sdk/assets", "/assets", "/api-keys"):
        for raw in (b"{bad", b'{"name": ', b"\xff\xfe", b"[1, 2]", b"null", b'"text"'):
            resp = c.post(path, content=raw, headers={"Content-Type": "application/json"})
            assert_error(resp, 400, "VALIDATION_ERROR")
        assert_error(c.post(path), 400, "VALIDATION_ERROR")  # these need a body


def test_body_over_the_json_limit(c: httpx.Client) -> None:
    big = b'{"name": "' + b"x" * (1024 * 1024 + 100) + b'"}'
    err = assert_error(c.post("/sdk/assets", content=big,
                              headers={"Content-Type": "application/json"}), 413)
    assert err["code"] == "VALIDATION_ERROR"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit still holds
        yield b'{"name": "'
        for _ in range(17):
            yield b"y" * 65536
        yield b'"}'

    resp = c.post("/api-keys", content=chunks(), headers={"Content-Type": "application/json"})
    assert_error(resp, 413, "VALIDATION_ERROR")
    assert c.get("/api-keys/usage").status_code == 200  # the gateway is fine


def test_large_valid_body_under_the_limit_is_read_whole(c: httpx.Client) -> None:
    """A body bigger than one network read, with or without Content-Length, is not cut."""
    body = b'{"name": "big-body",' + b" " * 900_000 + b'"scope": "read-only"}'

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(body), 65536):
            yield body[i:i + 65536]

    for content in (body, chunks()):
        resp = c.post("/api-keys", content=content, headers={"Content-Type": "application/json"})
        assert resp.status_code == 201, resp.text[:300]
        assert resp.json()["data"]["scope"] == "read-only"


def test_asset_create_names_the_offending_field(e2e_stack: Stack, rw: Key,
                                                pg: PgTarget) -> None:
    good: dict[str, Any] = {"name": "w", "source_type": "postgresql",
                            "connection_config": pg.config(database="never_created")}
    cases: list[tuple[dict[str, Any], str]] = [
        ({**good, "bogus_field": 1}, "bogus_field"),
        ({**good, "name": 123}, "name"),
        ({**good, "name": ""}, "name"),
        ({k: v for k, v in good.items() if k != "name"}, "name"),
        ({**good, "source_type": "oracle"}, "source_type"),
        ({**good, "connection_config": "host=db"}, "connection_config"),
        ({**good, "description": ["x"]}, "description"),
        ({**good, "connection_config": {**good["connection_config"], "colour": "red"}},
         "colour"),
        ({**good, "connection_config": {**good["connection_config"], "port": "abc"}}, "port"),
        ({**good, "connection_config": {"host": "h", "user": "u"}}, "database"),
    ]
    with api_client(e2e_stack, rw) as c:
        for path in ("/sdk/assets", "/assets"):
            for body, field in cases:
                err = assert_error(c.post(path, json=body), 400, "VALIDATION_ERROR")
                assert field in err["message"] + str(err["details"]), (body, err)
        assert c.get("/sdk/assets", params={"search": "never_created"}).json()["data"]["data"] \
            == []


@pytest.mark.parametrize("path", ["/sdk/assets", "/assets", "/api-keys"])
def test_bad_pagination_parameters(c: httpx.Client, path: str) -> None:
    for params in ({"limit": "0"}, {"limit": "101"}, {"limit": "abc"}, {"limit": "-1"},
                   {"limit": "1.5"}, {"offset": "-1"}, {"offset": "x"}):
        resp = c.get(path, params=params)
        err = assert_error(resp, 400, "VALIDATION_ERROR")
        assert "X-RateLimit-Limit" in resp.headers
        assert next(iter(params)) in err["message"]
    for limit in ("1", "100"):
        assert c.get(path, params={"limit": limit}).status_code == 200


# ----------------------------------------------------------------------------- ids


INJECTIONS = [
    "x'; DROP TABLE assets;--",
    "x'; DROP TABLE quality.assets;--",
    "postgresql.x'; DROP TABLE assets;--",
    "' OR '1'='1",
    "1 OR 1=1",
    "%' OR id::text LIKE '%",
    "a%",
    "_",
    "\x00",
    "a" * 600,
    "b" * 4000,
    "postgresql." + "c" * 3000,
]


def _id_paths(ref: str) -> list[tuple[str, str]]:
    return [("GET", f"/sdk/assets/{ref}"), ("GET", f"/assets/{ref}"),
            ("POST", f"/sdk/assets/{ref}/test-connection"),
            ("POST", f"/sdk/assets/{ref}/discover"), ("GET", f"/api-keys/{ref}"),
            ("DELETE", f"/api-keys/{ref}"), ("GET", f"/sdk/jobs/{ref}"),
            ("GET", f"/jobs/{ref}")]


async def _counts(dsn: str) -> tuple[int, int, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return (await conn.fetchval("SELECT count(*) FROM quality.assets"),
                await conn.fetchval("SELECT count(*) FROM gateway.api_keys"),
                await conn.fetchval("SELECT count(*) FROM gateway.api_keys"
                                    " WHERE revoked_at IS NOT NULL"))
    finally:
        await conn.close()


async def test_injection_looking_ids_are_plain_404s(e2e_stack: Stack, admin: Key,
                                                    asset: dict[str, Any]) -> None:
    before = await _counts(e2e_stack.database_url)
    raw_segments = ["%27", "%27%20OR%201%3D1--", "%2527", "%00", "%25"]
    with api_client(e2e_stack, admin) as c:
        refs = [quote(i, safe="") for i in INJECTIONS] + raw_segments
        for ref in refs:
            for method, path in _id_paths(ref):
                resp = c.request(method, path)
                assert resp.status_code in (400, 404), (method, path[:80], resp.text[:200])
                assert_error(resp, resp.status_code)
                assert "X-RateLimit-Remaining" in resp.headers  # errors carry the limits too
        # the owner's data is untouched and still served
        assert c.get(f"/sdk/assets/{asset['id']}").status_code == 200
        assert c.get("/api-keys/usage").status_code == 200
    assert await _counts(e2e_stack.database_url) == before


def test_request_line_over_the_server_limit_is_rejected_cleanly(c: httpx.Client) -> None:
    """Beyond aiohttp's 8190-byte request line the HTTP parser answers 400 before routing."""
    resp = c.get("/sdk/assets/" + "d" * 9000)
    assert resp.status_code in (400, 414)
    assert "Traceback" not in resp.text
    assert c.get("/api-keys/usage").status_code == 200


# ----------------------------------------------------------------------------- meta


def test_openapi_document_lists_every_route(e2e_stack: Stack) -> None:
    with httpx.Client(timeout=HTTP_TIMEOUT) as c:
        resp = c.get(e2e_stack.url("gateway", "/api/v1/openapi.json"))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    doc = resp.json()
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"]
    for route in ALL_ROUTES:
        assert route.path in doc["paths"], route.path
        assert route.method.lower() in doc["paths"][route.path], (route.method, route.path)
    assert "/api/v1/sdk/assets/{asset_id}" in doc["paths"]


def test_docs_page_is_html(e2e_stack: Stack) -> None:
    with httpx.Client(timeout=HTTP_TIMEOUT) as c:
        resp = c.get(e2e_stack.url("gateway", "/api/v1/docs"))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/html")
    assert "<html" in resp.text.lower()
    for route in ALL_ROUTES:
        assert route.path in resp.text, route.path


def test_health_and_readiness_on_every_service(e2e_stack: Stack) -> None:
    with httpx.Client(timeout=HTTP_TIMEOUT) as c:
        for name in SERVICES:
            for probe in ("/healthz", "/readyz"):
                resp = c.get(e2e_stack.url(name, probe))
                assert resp.status_code == 200, (name, probe, resp.text)
            assert c.get(e2e_stack.url(name, "/readyz")).json()["checks"] == {
                "nats": True, "postgres": True}


# ----------------------------------------------------------------------------- outages


async def _get(c: httpx.AsyncClient, path: str) -> tuple[httpx.Response, float]:
    started = time.monotonic()
    resp = await c.get(path)
    return resp, time.monotonic() - started


async def _until_ok(c: httpx.AsyncClient, path: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while (resp := await c.get(path)).status_code != 200:
        assert resp.status_code == 503, resp.text
        assert time.monotonic() < deadline, f"{path} still {resp.status_code}: {resp.text}"
        await asyncio.sleep(0.1)


def _assert_unavailable(resp: httpx.Response, elapsed: float) -> None:
    err = assert_error(resp, 503, "SERVICE_UNAVAILABLE")
    assert "X-RateLimit-Limit" in resp.headers
    assert elapsed < 7.5, elapsed  # the gateway's bus timeout is 5 s
    assert "Traceback" not in resp.text and "nats" not in err["message"].lower()


async def test_quality_down_gives_503_then_recovers(
    make_stack: Callable[..., Awaitable[Stack]]
) -> None:
    stack = await make_stack(services=("gateway", "quality"))
    admin = await asyncio.to_thread(bootstrap_key, stack, "default", name="outage")
    asset = await asyncio.to_thread(create_asset, stack, admin, "outage warehouse",
                                    pg_target(stack.database_url).config())
    path = f"/sdk/assets/{asset['id']}"
    async with httpx.AsyncClient(base_url=stack.url("gateway", "/api/v1"), headers=admin.headers,
                                 timeout=HTTP_TIMEOUT) as c:
        assert (await c.get(path)).status_code == 200

        # 1. quality hangs (SIGSTOP): the request times out into a 503
        pid = read_pid(stack.state_dir / "pids" / "quality.pid")
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            resp, elapsed = await _get(c, path)
            _assert_unavailable(resp, elapsed)
            assert elapsed >= 1.0  # it really waited for an answer
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        await _until_ok(c, path)

        # 2. quality stopped: no responder, an immediate 503 on every route that needs it
        await asyncio.to_thread(stack.stop, ["quality"])
        for p in (path, "/sdk/assets", f"/sdk/assets/{asset['id'][:8]}"):
            resp, elapsed = await _get(c, p)
            _assert_unavailable(resp, elapsed)
        resp = await c.post("/sdk/assets", json={
            "name": "n", "source_type": "postgresql",
            "connection_config": {"host": "h", "user": "u", "database": "d"}})
        _assert_unavailable(resp, 0)
        resp = await c.post(f"{path}/discover")
        _assert_unavailable(resp, 0)
        # what the gateway answers itself keeps working
        assert (await c.get("/api-keys/usage")).status_code == 200
        assert (await c.get(f"/sdk/jobs/{uuid.uuid4()}")).status_code == 404

        # 3. quality back: the same request works again
        await asyncio.to_thread(stack.start, ("quality",))
        await _until_ok(c, path)
        assert (await c.get(path)).json()["data"]["id"] == asset["id"]
    assert "Traceback" not in stack.log("gateway", 2000)


def test_no_request_crashed_in_the_shared_gateway(e2e_stack: Stack) -> None:
    """Everything above answered from the error tree: no 500 with a logged traceback."""
    log = (e2e_stack.state_dir / "logs" / "gateway.log").read_text(errors="replace")
    assert "gateway.request.crashed" not in log
