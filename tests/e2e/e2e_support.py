"""Helpers of the end-to-end tests: keys, HTTP clients, error envelopes, polling, sources."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

import httpx
import pytest
from support.infra import Stack

from rampart_runtime.devstack import REPO_ROOT, parse_json_object

BIN = Path(sys.executable).parent
RAMPART_CLI = str(BIN / "rampart") if (BIN / "rampart").exists() else "rampart"
ARMOR_CLI = str(BIN / "armor") if (BIN / "armor").exists() else "armor"
HTTP_TIMEOUT = 15.0
T = TypeVar("T")


# ----------------------------------------------------------------------------- keys


@dataclass(frozen=True)
class Key:
    """An API key as the bootstrap CLI (or the API) returned it, with its secret."""

    id: str
    key: str
    org: str
    scope: str
    rate_limit_per_min: int
    burst_limit: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


def new_org(label: str) -> str:
    """A unique organization id for one module/test, e.g. `sdk-1a2b3c4d`."""
    return f"{label}-{secrets.token_hex(4)}"


def bootstrap_key(stack: Stack, org: str, *, scope: str = "admin", tier: str = "enterprise",
                  name: str = "e2e", rate_limit_per_min: int | None = None,
                  burst: int | None = None) -> Key:
    """`rampart api-keys create --org … --json` against the stack's database (admin path)."""
    args = [RAMPART_CLI, "api-keys", "create", "--org", org, "--name", name, "--scope", scope,
            "--tier", tier, "--json"]
    if rate_limit_per_min is not None:
        args += ["--rate-limit-per-min", str(rate_limit_per_min)]
    if burst is not None:
        args += ["--burst", str(burst)]
    out = subprocess.run(args, env=stack.env, capture_output=True, text=True, check=False,
                         stdin=subprocess.DEVNULL, cwd=REPO_ROOT, timeout=60)
    assert out.returncode == 0, f"rampart api-keys create failed:\n{out.stderr[-3000:]}"
    data = parse_json_object(out.stdout)
    return Key(id=str(data["id"]), key=str(data["key"]), org=org, scope=str(data["scope"]),
               rate_limit_per_min=int(data["rate_limit_per_min"]),  # type: ignore[call-overload]
               burst_limit=int(data["burst_limit"]))  # type: ignore[call-overload]


def create_key_via_api(stack: Stack, admin: Key, scope: str, name: str = "e2e-api") -> Key:
    """`POST /api/v1/api-keys` with an admin key of the organization."""
    with api_client(stack, admin) as c:
        r = c.post("/api-keys", json={"name": name, "scope": scope})
    assert r.status_code == 201, r.text
    d = r.json()["data"]
    return Key(id=d["id"], key=d["key"], org=admin.org, scope=d["scope"],
               rate_limit_per_min=d["rate_limit_per_min"], burst_limit=d["burst_limit"])


# ----------------------------------------------------------------------------- HTTP


def api_client(stack: Stack, key: Key | str | None = None, name: str = "gateway",
               headers: dict[str, str] | None = None) -> httpx.Client:
    """An httpx client on `<gateway>/api/v1` (no redirects followed, as the SDK)."""
    h = dict(headers or {})
    if isinstance(key, Key):
        h.update(key.headers)
    elif isinstance(key, str):
        h["Authorization"] = f"Bearer {key}"
    return httpx.Client(base_url=stack.url(name, "/api/v1"), headers=h, timeout=HTTP_TIMEOUT,
                        follow_redirects=False)


def sdk_client(stack: Stack, key: Key | str, name: str = "gateway") -> Any:
    """The published client (`anomalyarmor.Client`) pointed at this stack."""
    from anomalyarmor import Client

    secret = key.key if isinstance(key, Key) else key
    return Client(api_key=secret, api_url=stack.url(name, "/api/v1"), timeout=30)


def assert_error(resp: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The documented error envelope with `status` (and `code`); returns `error`."""
    assert resp.status_code == status, f"{resp.request.method} {resp.request.url}: " \
        f"expected {status}, got {resp.status_code}: {resp.text[:500]}"
    assert resp.headers.get("content-type", "").startswith("application/json"), resp.headers
    body = resp.json()
    assert isinstance(body, dict) and set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err, dict), body
    assert isinstance(err.get("code"), str) and err["code"], body
    assert isinstance(err.get("message"), str) and err["message"], body
    assert isinstance(err.get("details"), dict), body
    assert "Traceback" not in resp.text
    if code is not None:
        assert err["code"] == code, body
    return err


def wait_until(check: Callable[[], T | None], timeout: float, what: str,
               interval: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# ----------------------------------------------------------------------------- sources


@dataclass(frozen=True)
class PgTarget:
    """Where the test PostgreSQL server is, as an asset's `connection_config` wants it."""

    host: str
    port: int
    user: str
    password: str | None
    database: str

    def config(self, **overrides: Any) -> dict[str, Any]:
        cfg: dict[str, Any] = {"host": self.host, "port": self.port, "user": self.user,
                               "database": self.database, "connect_timeout_s": 5}
        if self.password:
            cfg["password"] = self.password
        cfg.update(overrides)
        return cfg


def pg_target(dsn: str) -> PgTarget:
    parts = urlsplit(dsn)
    return PgTarget(
        host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password) if parts.password else None,
        database=parts.path.lstrip("/"),
    )


def create_asset(stack: Stack, key: Key, name: str, config: dict[str, Any],
                 source_type: str = "postgresql") -> dict[str, Any]:
    with api_client(stack, key) as c:
        r = c.post("/sdk/assets", json={"name": name, "source_type": source_type,
                                        "connection_config": config})
    assert r.status_code == 201, r.text
    data: dict[str, Any] = r.json()["data"]
    return data


def service_logs(stack: Stack) -> dict[str, str]:
    """Full text of every process log of the stack."""
    return {p.name: p.read_text(errors="replace")
            for p in sorted((stack.state_dir / "logs").glob("*.log"))}


def armor_env(home: Path) -> dict[str, str]:
    """Environment for the `armor` CLI with HOME in `home` and no ARMOR_* settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARMOR_")}
    env.update(HOME=str(home), COLUMNS="250", NO_COLOR="1", TERM="dumb")
    return env


def run_armor(args: list[str], env: dict[str, str], timeout: float = 60
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ARMOR_CLI, *args], env=env, capture_output=True, text=True,
                          check=False, stdin=subprocess.DEVNULL, timeout=timeout)


def dump(obj: Any) -> str:
    return json.dumps(obj, default=str)


# ----------------------------------------------------------------------------- lineage

FIXTURE_MANIFESTS = Path("/work/shared/fixtures/dbt-manifests")
KEPT_IN_NODES = frozenset({"model", "seed", "snapshot", "analysis", "test"})


def manifest_counts(doc: dict[str, Any]) -> tuple[int, int]:
    """(kept nodes, lineage edges) of a dbt manifest by the documented rules, with plain json:
    enabled nodes of a kept resource_type + enabled sources + enabled exposures; parent_map
    pairs between kept non-test nodes, deduplicated, without self-loops."""
    def enabled(entry: dict[str, Any]) -> bool:
        return (entry.get("config") or {}).get("enabled", True) is not False

    kinds = {uid: n["resource_type"] for uid, n in doc["nodes"].items()
             if n["resource_type"] in KEPT_IN_NODES and enabled(n)}
    kinds.update({uid: "source" for uid, s in (doc.get("sources") or {}).items() if enabled(s)})
    kinds.update({uid: "exposure" for uid, e in (doc.get("exposures") or {}).items()
                  if enabled(e)})
    edges = {(p, c) for c, parents in doc["parent_map"].items() for p in parents
             if kinds.get(c) not in (None, "test") and kinds.get(p) not in (None, "test")
             and p != c}
    return len(kinds), len(edges)


def upload_manifest(stack: Stack, key: Key, asset: str, data: bytes, *,
                    sync_to_catalog: str | None = "false", filename: str = "manifest.json",
                    params: dict[str, str] | None = None, timeout: float = 60.0
                    ) -> httpx.Response:
    """`POST /assets/{asset}/lineage/upload` as multipart (`file`, `sync_to_catalog`)."""
    form = {} if sync_to_catalog is None else {"sync_to_catalog": sync_to_catalog}
    with api_client(stack, key) as c:
        return c.post(f"/assets/{asset}/lineage/upload", params=params, data=form,
                      files={"file": (filename, data, "application/json")}, timeout=timeout)


class FakeDbtCloudThread:
    """`support.fake_dbt_cloud` served from its own event loop in a daemon thread, so that
    synchronous tests (httpx, subprocess curl) can call the stack while it answers.

        with FakeDbtCloudThread("dbtc_x", runs=[...], artifacts={7: b"{...}"}) as fake:
            ... fake.url ...
    """

    def __init__(self, token: str, runs: list[dict[str, Any]], artifacts: dict[int, bytes],
                 account_id: str = "12345") -> None:
        self._args = (token, runs, artifacts, account_id)
        self.fake: Any = None
        self._loop: Any = None
        self._stop: Any = None
        self._thread: Any = None

    @property
    def url(self) -> str:
        return str(self.fake.url)

    @property
    def requests(self) -> list[Any]:
        """What the fake received (`RecordedRequest`s), oldest first."""
        return list(self.fake.requests)

    def __enter__(self) -> FakeDbtCloudThread:
        import asyncio
        import threading

        from support.fake_dbt_cloud import start_fake_dbt_cloud

        ready = threading.Event()
        failure: list[BaseException] = []

        async def serve() -> None:
            token, runs, artifacts, account_id = self._args
            self._stop = asyncio.Event()
            try:
                async with start_fake_dbt_cloud(token, runs, artifacts,
                                                account_id=account_id) as fake:
                    self.fake = fake
                    ready.set()
                    await self._stop.wait()
            except BaseException as exc:  # surfaced to the test thread below
                failure.append(exc)
                ready.set()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(serve())
            self._loop.close()

        self._thread = threading.Thread(target=run, name="fake-dbt-cloud", daemon=True)
        self._thread.start()
        if not ready.wait(15) or failure:
            raise RuntimeError(f"fake dbt Cloud did not start: {failure}")
        return self

    def __exit__(self, *_: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
