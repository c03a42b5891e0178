"""Session-wide test infrastructure: private NATS, PostgreSQL, fresh databases, bus prefixes.

Fixtures: `nats_url`, `pg_dsn_admin` (session); `database_factory`, `make_bus_prefix` (session
factories); `database_url`, `bus_prefix`, `make_stack` (per test). Helpers: `support.infra`.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import pytest
from support.infra import (
    Stack,
    admin_postgres,
    create_database,
    drop_database,
    new_bus_prefix,
    private_nats,
    start_stack,
)


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    """URL of a private JetStream nats-server for this session (never the `make up` one)."""
    with private_nats() as url:
        yield url


@pytest.fixture(scope="session")
def pg_dsn_admin() -> Iterator[str]:
    """Admin DSN of a reachable PostgreSQL (env, local :5432, or a private throwaway cluster)."""
    with admin_postgres() as dsn:
        yield dsn


@pytest.fixture(scope="session")
async def database_factory(pg_dsn_admin: str) -> AsyncIterator[Callable[[], Awaitable[str]]]:
    """`await database_factory()` -> DSN of a new empty database; all dropped at session end."""
    created: list[str] = []

    async def make() -> str:
        created.append(await create_database(pg_dsn_admin))
        return created[-1]

    yield make
    for dsn in created:
        await drop_database(pg_dsn_admin, dsn)


@pytest.fixture
async def database_url(pg_dsn_admin: str) -> AsyncIterator[str]:
    """DSN of a fresh `rampart_test_*` database, dropped (WITH FORCE) after the test."""
    dsn = await create_database(pg_dsn_admin)
    yield dsn
    await drop_database(pg_dsn_admin, dsn)


@pytest.fixture
def bus_prefix() -> str:
    """A unique bus prefix for this test, e.g. `t1a2b3c4d`."""
    return new_bus_prefix()


@pytest.fixture(scope="session")
def make_bus_prefix() -> Callable[[], str]:
    """Factory of unique bus prefixes (for session-scoped fixtures)."""
    return new_bus_prefix


@pytest.fixture
async def make_stack(
    nats_url: str, database_url: str
) -> AsyncIterator[Callable[..., Awaitable[Stack]]]:
    """`await make_stack(services=("gateway",), ...)` -> a running Stack on this test's fresh
    database and a unique bus prefix; every stack made is stopped after the test."""
    stacks: list[Stack] = []

    async def make(**kwargs: Any) -> Stack:
        kwargs.setdefault("database_url", database_url)
        kwargs.setdefault("nats_url", nats_url)
        stacks.append(await start_stack(**kwargs))
        return stacks[-1]

    yield make
    for stack in stacks:
        await asyncio.to_thread(stack.stop)
        shutil.rmtree(stack.state_dir, ignore_errors=True)
