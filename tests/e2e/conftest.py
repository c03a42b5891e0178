"""End-to-end fixtures: one shared stack of real service processes for all e2e modules.

`e2e_stack` (session) runs all five services on a fresh database and a unique bus prefix;
modules share it and keep apart by using their own organizations (`e2e_support.new_org`).
Helpers (keys, HTTP clients, envelopes, polling) live in `e2e_support`. Loopback only.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from e2e_support import PgTarget, pg_target
from support.infra import Stack, start_stack


@pytest.fixture(scope="session")
async def e2e_stack(nats_url: str, database_factory: Callable[[], Awaitable[str]],
                    make_bus_prefix: Callable[[], str]) -> AsyncIterator[Stack]:
    """All five services as processes on a fresh database, shared by the e2e modules."""
    dsn = await database_factory()
    stack = await start_stack(dsn, nats_url, bus_prefix=make_bus_prefix())
    try:
        yield stack
    finally:
        await asyncio.to_thread(stack.stop)
        shutil.rmtree(stack.state_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def pg(e2e_stack: Stack) -> PgTarget:
    """The test PostgreSQL server and the shared stack's (test) database."""
    return pg_target(e2e_stack.database_url)
