"""The migration runner on a real PostgreSQL: order, idempotence, drift, concurrent replicas."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from rampart_gateway.app import MIGRATIONS as GATEWAY_MIGRATIONS
from rampart_quality.app import MIGRATIONS as QUALITY_MIGRATIONS
from rampart_runtime.db import create_pool, migrate

FIRST = "CREATE TABLE items (id int PRIMARY KEY);"
SECOND = "ALTER TABLE items ADD COLUMN label text; INSERT INTO items VALUES (1, 'one');"
# Holds the advisory lock long enough for a second runner to arrive while it is applied.
SLOW_FIRST = "SELECT pg_sleep(0.3); " + FIRST


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, 1, 4)
    yield pool
    await pool.close()


def folder(tmp_path: Path, *sqls: str) -> Path:
    for n, sql in enumerate(sqls, start=1):
        (tmp_path / f"{n:03d}_step{n}.sql").write_text(sql, encoding="utf-8")
    return tmp_path


async def applied(pool: asyncpg.Pool, schema: str) -> list[tuple[int, str]]:
    rows = await pool.fetch(
        f'SELECT version, name FROM "{schema}".schema_migrations ORDER BY version')
    return [(r["version"], r["name"]) for r in rows]


class TestApply:
    async def test_applies_in_order_inside_the_schema(self, pool: asyncpg.Pool,
                                                      tmp_path: Path) -> None:
        assert await migrate(pool, "svc", folder(tmp_path, FIRST, SECOND)) == [1, 2]
        assert await pool.fetchval("SELECT label FROM svc.items WHERE id = 1") == "one"
        assert await applied(pool, "svc") == [(1, "step1"), (2, "step2")]
        assert await pool.fetchval("SELECT to_regclass('public.items')") is None

    async def test_second_run_applies_nothing(self, pool: asyncpg.Pool, tmp_path: Path) -> None:
        path = folder(tmp_path, FIRST, SECOND)
        await migrate(pool, "svc", path)
        assert await migrate(pool, "svc", path) == []
        assert await pool.fetchval("SELECT count(*) FROM svc.items") == 1

    async def test_new_migration_is_applied_on_the_next_run(self, pool: asyncpg.Pool,
                                                            tmp_path: Path) -> None:
        await migrate(pool, "svc", folder(tmp_path, FIRST))
        assert await migrate(pool, "svc", folder(tmp_path, FIRST, SECOND)) == [2]

    async def test_schemas_are_independent(self, pool: asyncpg.Pool, tmp_path: Path) -> None:
        path = folder(tmp_path, FIRST)
        assert await migrate(pool, "one", path) == [1]
        assert await migrate(pool, "two", path) == [1]

    async def test_rejects_a_bad_schema_name(self, pool: asyncpg.Pool, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match="schema"):
            await migrate(pool, 'x"; DROP SCHEMA public; --', folder(tmp_path, FIRST))


class TestDrift:
    async def test_refuses_a_migration_changed_after_it_was_applied(
        self, pool: asyncpg.Pool, tmp_path: Path
    ) -> None:
        await migrate(pool, "svc", folder(tmp_path, FIRST))
        (tmp_path / "001_step1.sql").write_text(FIRST + " -- edited", encoding="utf-8")
        with pytest.raises(RuntimeError, match="changed after it was applied"):
            await migrate(pool, "svc", tmp_path)

    async def test_failed_migration_leaves_no_trace_and_releases_the_lock(
        self, pool: asyncpg.Pool, tmp_path: Path
    ) -> None:
        path = folder(tmp_path, FIRST, "CREATE TABLE half (x int); SELECT 1 / 0;")
        with pytest.raises(asyncpg.DivisionByZeroError):
            await migrate(pool, "svc", path)
        assert await applied(pool, "svc") == [(1, "step1")]
        assert await pool.fetchval("SELECT to_regclass('svc.half')") is None
        (tmp_path / "002_step2.sql").write_text(SECOND, encoding="utf-8")
        assert await asyncio.wait_for(migrate(pool, "svc", tmp_path), 10) == [2]


class TestConcurrency:
    async def test_two_replicas_starting_at_once_apply_each_migration_once(
        self, database_url: str, tmp_path: Path
    ) -> None:
        path = folder(tmp_path, SLOW_FIRST, SECOND)
        pools = [await create_pool(database_url, 1, 2) for _ in range(2)]
        try:
            results = await asyncio.wait_for(
                asyncio.gather(*(migrate(p, "svc", path) for p in pools)), 20)
            assert sorted(results) == [[], [1, 2]]
            assert await applied(pools[0], "svc") == [(1, "step1"), (2, "step2")]
            assert await pools[0].fetchval("SELECT count(*) FROM svc.items") == 1
        finally:
            for p in pools:
                await p.close()


class TestShippedMigrations:
    @pytest.mark.parametrize(("schema", "path", "table"), [
        ("gateway", GATEWAY_MIGRATIONS, "api_keys"), ("quality", QUALITY_MIGRATIONS, "assets"),
    ])
    async def test_service_migrations_apply_on_an_empty_database(
        self, pool: asyncpg.Pool, schema: str, path: Path, table: str
    ) -> None:
        versions = await migrate(pool, schema, path)
        assert versions and versions == sorted(versions)
        assert await pool.fetchval("SELECT to_regclass($1)", f"{schema}.{table}") is not None
        assert await migrate(pool, schema, path) == []
