"""The session fixtures give a working JetStream, fresh databases and a private cluster path."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import asyncpg
import nats
import pytest
from support.infra import create_database, drop_database, temp_dir

from rampart_runtime import devstack
from rampart_runtime.db import ensure_database


async def test_nats_has_jetstream(nats_url: str) -> None:
    nc = await nats.connect(nats_url)
    try:
        info = await nc.jetstream().account_info()
        assert info.limits is not None
        assert nats_url != "nats://127.0.0.1:4222"
    finally:
        await nc.close()


async def test_fresh_database_is_empty_and_writable(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        assert (await conn.fetchval("SELECT current_database()")).startswith("rampart_test_")
        tables = await conn.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")
        assert tables == 0
        await conn.execute("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
        assert await conn.fetchval("SELECT x FROM t") == 1
    finally:
        await conn.close()


async def test_database_is_dropped_even_with_open_connections(pg_dsn_admin: str) -> None:
    dsn = await create_database(pg_dsn_admin)
    lingering = await asyncpg.connect(dsn)
    await drop_database(pg_dsn_admin, dsn)
    name = dsn.rsplit("/", 1)[1]
    admin = await asyncpg.connect(pg_dsn_admin)
    try:
        assert await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name) is None
    finally:
        await admin.close()
        lingering.terminate()


async def test_private_cluster_when_nothing_is_reachable() -> None:
    """Simulate "no PostgreSQL": point the default DSN at a closed port -> a private cluster."""
    state = temp_dir("rampart-test-devstack-")
    closed = devstack.build_dsn("127.0.0.1", devstack.free_port(), "rampart")
    try:
        dsn = devstack.ensure_postgres(state, env={}, default_dsn=closed, durable=False)
        assert dsn != closed
        assert dsn.endswith("/rampart")
        await ensure_database(dsn)
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT current_database()") == "rampart"
        finally:
            await conn.close()
        assert devstack.read_pid(state / "pg" / "data" / "postmaster.pid") is not None
        # a second call reuses the running cluster
        assert devstack.ensure_postgres(state, env={}, default_dsn=closed) == dsn
    finally:
        devstack.stop_services(state)
        assert devstack.read_pid(state / "pg" / "data" / "postmaster.pid") is None
        shutil.rmtree(state, ignore_errors=True)


FAKE_SERVICE = '''
import http.server, os, sys
if os.environ.get("FAKE_CRASH"):
    sys.exit("fake service crashed on purpose")
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/readyz" else 404)
        self.end_headers()
port = int(os.environ["RAMPART_FAKESVC_PORT"])
http.server.HTTPServer(("127.0.0.1", port), H).serve_forever()
'''


def _fake_proc(tmp: Path, name: str, **env: str) -> devstack.Proc:
    (tmp / "fakesvc.py").write_text(FAKE_SERVICE)
    return devstack.Proc(name, "fakesvc", devstack.free_port(), {"PYTHONPATH": str(tmp), **env})


async def test_stack_starts_waits_and_stops_processes(tmp_path: Path) -> None:
    stack = devstack.Stack("postgresql://unused/x", "nats://unused:1", "tfake", tmp_path)
    one, two = _fake_proc(tmp_path, "one"), _fake_proc(tmp_path, "two")
    await asyncio.to_thread(stack.start, (), [one, two], 20)
    pids = [devstack.read_pid(tmp_path / "pids" / f"{n}.pid") for n in ("one", "two")]
    assert all(pids)
    assert devstack.http_status(stack.url("two", "/readyz")) == 200
    await asyncio.to_thread(stack.stop, ["one"])
    assert devstack.http_status(stack.url("two", "/readyz")) == 200
    assert not devstack.port_open("127.0.0.1", one.port)
    await asyncio.to_thread(stack.stop)
    assert not any(devstack.pid_alive(p) for p in pids if p)
    assert stack.procs == {}


async def test_stack_reports_a_crashing_process(tmp_path: Path) -> None:
    stack = devstack.Stack("postgresql://unused/x", "nats://unused:1", "tfake", tmp_path)
    bad = _fake_proc(tmp_path, "bad", FAKE_CRASH="1")
    with pytest.raises(RuntimeError, match="bad exited"):
        await asyncio.to_thread(stack.start, (), [bad], 20)
    assert "crashed on purpose" in stack.log("bad")
