"""Throwaway NATS, PostgreSQL, databases and service stacks for tests, built on devstack."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from rampart_runtime import devstack
from rampart_runtime.devstack import SERVICES, Proc, Stack, free_port

__all__ = [
    "SERVICES", "Proc", "Stack", "admin_postgres", "create_database", "drop_database",
    "free_port", "new_bus_prefix", "new_database_name", "private_nats", "start_stack",
    "temp_dir",
]

LOCAL_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


def new_bus_prefix() -> str:
    """A unique bus prefix such as `t1a2b3c4d` (a lowercase letter first, as settings require)."""
    return "t" + secrets.token_hex(4)


def new_database_name() -> str:
    """A unique database name such as `rampart_test_0123456789ab`."""
    return "rampart_test_" + secrets.token_hex(6)


def temp_dir(prefix: str) -> Path:
    """A fresh directory under the system temp dir that the `postgres` user may traverse."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o711)
    return path


@contextmanager
def private_nats() -> Iterator[str]:
    """Run a private nats-server with JetStream on a free port; yield its URL."""
    root = temp_dir("rampart-test-nats-")
    port = free_port()
    proc = devstack.start_nats(root / "store", port, root / "nats.log")
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        devstack.terminate([proc.pid])
        proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


@contextmanager
def admin_postgres(env: Mapping[str, str] | None = None,
                   local_dsn: str = LOCAL_ADMIN_DSN) -> Iterator[str]:
    """Yield an admin DSN: RAMPART_TEST_DATABASE_URL, else `local_dsn` if reachable, else a
    private throwaway cluster (fsync off) that is stopped and deleted afterwards.

    RAMPART_TEST_DATABASE_URL=private forces the private cluster.
    """
    env = os.environ if env is None else env
    url = env.get("RAMPART_TEST_DATABASE_URL", "")
    if url and url != "private":
        yield url
        return
    if url != "private" and devstack.dsn_reachable(local_dsn):
        yield local_dsn
        return
    root = temp_dir("rampart-test-pg-")
    try:
        yield devstack.start_postgres(root / "pg", durable=False)
    finally:
        devstack.stop_postgres(root / "pg")
        shutil.rmtree(root, ignore_errors=True)


async def create_database(admin_dsn: str, name: str | None = None) -> str:
    """Create a fresh database (default: a unique `rampart_test_*` name); return its DSN."""
    name = name or new_database_name()
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return devstack.with_database(admin_dsn, name)


async def drop_database(admin_dsn: str, dsn: str) -> None:
    """Drop the database a DSN names, disconnecting whoever still uses it."""
    name = urlsplit(dsn).path.lstrip("/")
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def start_stack(database_url: str, nats_url: str, services: Iterable[str] = SERVICES,
                      extra: Iterable[Proc] = (), state_dir: Path | None = None,
                      ready_timeout: float = 60.0, **kwargs: object) -> Stack:
    """Start an isolated Stack (own bus prefix, free ports) without blocking the event loop.

    Extra keyword arguments go to `Stack` (ports, extra_env, bus_prefix, secret_key).
    Call `stack.stop()` (or `await asyncio.to_thread(stack.stop)`) when done.
    """
    kwargs.setdefault("bus_prefix", new_bus_prefix())
    stack = Stack(database_url=database_url, nats_url=nats_url,  # type: ignore[arg-type]
                  state_dir=state_dir or temp_dir("rampart-test-stack-"), **kwargs)
    await asyncio.to_thread(stack.start, services, extra, ready_timeout)
    return stack
