"""Quality asset handlers on real PostgreSQL (and MariaDB when present): store, find, test."""

from __future__ import annotations

import secrets
import socket
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncmy
import pytest
from support.infra import free_port

from rampart_contracts import queries
from rampart_contracts.errors import AlreadyExists, AssetNotFound, ValidationFailed
from rampart_contracts.queries import CreateAsset, GetAsset, ListAssets
from rampart_quality import handlers
from rampart_quality.app import MIGRATIONS
from rampart_quality.connectors import ConnectionConfig, open_connector
from rampart_quality.domain.refs import SUGGESTION
from rampart_quality.handlers import QualityDeps
from rampart_quality.settings import QualitySettings
from rampart_runtime.secrets import SecretBox
from rampart_runtime.service import ServiceRuntime

SECRET = "q" * 40
ORG, OTHER_ORG = "org-a", "org-b"
PASSWORD = "pw-" + secrets.token_hex(8)
MYSQL = ("127.0.0.1", 3306)


@pytest.fixture
async def deps(database_url: str, nats_url: str, bus_prefix: str) -> AsyncIterator[QualityDeps]:
    settings = QualitySettings(database_url=database_url, nats_url=nats_url,
                               bus_prefix=bus_prefix, secret_key=SECRET)
    rt = ServiceRuntime("quality", settings, migrations=MIGRATIONS)
    await rt.start_storage()
    yield QualityDeps(runtime=rt, box=SecretBox(SECRET))
    await rt.stop()


def local_pg(database_url: str, **overrides: Any) -> dict[str, Any]:
    """Connection settings of this test's own database on the local PostgreSQL."""
    dsn = urlsplit(database_url)
    config = {"host": dsn.hostname, "port": dsn.port or 5432, "database": dsn.path[1:],
              "user": dsn.username or "postgres",
              "password": unquote(dsn.password) if dsn.password else None,
              "connect_timeout_s": 3}
    return {**config, **overrides}


async def create(deps: QualityDeps, name: str, database: str, *, org: str = ORG,
                 source: str = "postgresql", description: str | None = None,
                 **config: Any) -> Any:
    cfg = {"host": "db.internal", "user": "reader", "password": PASSWORD, **config,
           "database": database}
    return await handlers.create_asset(deps, CreateAsset(
        org_id=org, name=name, source_type=source, connection_config=cfg,
        description=description))


class TestCreate:
    async def test_password_is_stored_only_sealed(self, deps: QualityDeps) -> None:
        view = await create(deps, "Shop", "shop")
        assert view.qualified_name == "postgresql.shop"
        assert PASSWORD not in view.model_dump_json()
        row = await deps.runtime.pool.fetchrow(
            "SELECT *, assets::text AS as_text FROM quality.assets WHERE id = $1",
            uuid.UUID(view.id))
        assert PASSWORD not in row["as_text"]
        assert PASSWORD.encode() not in bytes(row["connection_sealed"])
        stored = ConnectionConfig.model_validate_json(deps.box.open(row["connection_sealed"]))
        assert stored.password == PASSWORD

    async def test_duplicate_qualified_name_already_exists(self, deps: QualityDeps) -> None:
        await create(deps, "Shop", "shop")
        with pytest.raises(AlreadyExists) as caught:
            await create(deps, "Shop again", "shop")
        assert caught.value.details == {"qualified_name": "postgresql.shop"}

    async def test_same_name_in_another_org_or_source_is_fine(self, deps: QualityDeps) -> None:
        await create(deps, "Shop", "shop")
        await create(deps, "Shop", "shop", org=OTHER_ORG)
        assert (await create(deps, "Shop", "shop", source="mysql")).qualified_name == \
            "mysql.shop"

    async def test_bad_connection_config_is_rejected_before_storing(
        self, deps: QualityDeps
    ) -> None:
        with pytest.raises(ValidationFailed, match="hostname"):
            await create(deps, "Shop", "shop", hostname="x")
        assert await deps.runtime.pool.fetchval("SELECT count(*) FROM quality.assets") == 0


class TestGet:
    async def test_by_uuid_prefix_and_qualified_names(self, deps: QualityDeps) -> None:
        view = await create(deps, "Shop", "shop")
        for ref in (view.id, view.id.upper(), view.id[:8], "postgresql.shop",
                    "POSTGRESQL.shop", "postgresql.shop.public.orders"):
            got = await handlers.get_asset(deps, GetAsset(org_id=ORG, ref=ref))
            assert got.id == view.id, ref

    async def test_other_org_is_not_found_with_a_suggestion(self, deps: QualityDeps) -> None:
        view = await create(deps, "Shop", "shop")
        for ref in (view.id, view.id[:8], "postgresql.shop"):
            with pytest.raises(AssetNotFound) as caught:
                await handlers.get_asset(deps, GetAsset(org_id=OTHER_ORG, ref=ref))
            assert caught.value.details == {"asset_id": ref, "suggestion": SUGGESTION}

    @pytest.mark.parametrize("ref", ["x'; DROP TABLE--", "a/b", "postgresql.nope", "ffff0000"])
    async def test_unknown_or_hostile_refs_are_not_found(self, deps: QualityDeps,
                                                         ref: str) -> None:
        await create(deps, "Shop", "shop")
        with pytest.raises(AssetNotFound):
            await handlers.get_asset(deps, GetAsset(org_id=ORG, ref=ref))
        assert await deps.runtime.pool.fetchval("SELECT count(*) FROM quality.assets") == 1

    async def test_ambiguous_prefix_is_a_validation_error(self, deps: QualityDeps) -> None:
        for n, database in enumerate(("one", "two")):
            view = await create(deps, database, database)
            await deps.runtime.pool.execute(
                "UPDATE quality.assets SET id = $1 WHERE id = $2",
                uuid.UUID(f"28f1942b-{n}000-4000-8000-000000000000"), uuid.UUID(view.id))
        with pytest.raises(ValidationFailed, match="more than one"):
            await handlers.get_asset(deps, GetAsset(org_id=ORG, ref="28f1942b"))
        got = await handlers.get_asset(deps, GetAsset(org_id=ORG, ref="28f1942b-1"))
        assert got.qualified_name == "postgresql.two"


class TestList:
    async def page(self, deps: QualityDeps, org: str = ORG, **filters: Any) -> list[str]:
        result = await handlers.list_assets(deps, ListAssets(org_id=org, **filters))
        assert result.total >= len(result.items)
        return [a.name for a in result.items]

    async def test_filters_by_source_and_org(self, deps: QualityDeps) -> None:
        await create(deps, "pg", "sales")
        await create(deps, "my", "sales", source="mysql")
        await create(deps, "theirs", "hr", org=OTHER_ORG)
        assert await self.page(deps) == ["pg", "my"]
        assert await self.page(deps, source="mysql") == ["my"]
        assert await self.page(deps, source="POSTGRESQL") == ["pg"]
        assert await self.page(deps, asset_type="table") == []
        assert await self.page(deps, org=OTHER_ORG) == ["theirs"]

    async def test_search_wildcards_match_literally(self, deps: QualityDeps) -> None:
        await create(deps, "sales 100%", "sales")
        await create(deps, "under_score", "ops")
        await create(deps, "plain", "hr", description="Human resources")
        assert await self.page(deps, search="%") == ["sales 100%"]
        assert await self.page(deps, search="_") == ["under_score"]
        assert await self.page(deps, search="HUMAN") == ["plain"]
        assert await self.page(deps, search="postgresql.ops") == ["under_score"]

    async def test_pages_with_total(self, deps: QualityDeps) -> None:
        for n in range(5):
            await create(deps, f"a{n}", f"db{n}")
        result = await handlers.list_assets(deps, ListAssets(org_id=ORG, limit=2, offset=2))
        assert (result.total, [a.name for a in result.items]) == (5, ["a2", "a3"])


async def connection_test(deps: QualityDeps, name: str, config: dict[str, Any],
                          source: str = "postgresql") -> Any:
    view = await handlers.create_asset(deps, CreateAsset(
        org_id=ORG, name=name, source_type=source, connection_config=config))
    return await handlers.test_connection(deps, queries.TestConnection(org_id=ORG, ref=view.id))


class TestConnectionToPostgres:
    async def test_reachable_database_succeeds_with_latency(self, deps: QualityDeps,
                                                            database_url: str) -> None:
        result = await connection_test(deps, "self", local_pg(database_url))
        assert result.success is True
        assert result.latency_ms is not None and 0 <= result.latency_ms < 5000
        assert result.error_code is None

    async def test_closed_port_is_refused_without_leaking_the_password(
        self, deps: QualityDeps, database_url: str
    ) -> None:
        result = await connection_test(deps, "closed", local_pg(
            database_url, port=free_port(), password=PASSWORD))
        assert (result.success, result.error_code) == (False, "CONNECTION_REFUSED")
        assert PASSWORD not in (result.error_message or "")

    async def test_missing_database_is_reported(self, deps: QualityDeps,
                                                database_url: str) -> None:
        result = await connection_test(deps, "nodb", local_pg(
            database_url, database="rampart_missing_" + secrets.token_hex(4)))
        assert (result.success, result.error_code) == (False, "DATABASE_NOT_FOUND")

    async def test_unknown_role_is_an_auth_failure(self, deps: QualityDeps,
                                                   database_url: str) -> None:
        # The local server may trust 127.0.0.1 (passwords ignored); an unknown role fails anyway.
        result = await connection_test(deps, "norole", local_pg(
            database_url, user="ghost_" + secrets.token_hex(4), password=PASSWORD))
        assert (result.success, result.error_code) == (False, "AUTH_FAILED")
        assert PASSWORD not in (result.error_message or "")

    async def test_summary_counts_tables_and_views(self, deps: QualityDeps,
                                                   database_url: str) -> None:
        pool = deps.runtime.pool
        await pool.execute("CREATE SCHEMA shop; CREATE TABLE shop.orders (id int);"
                           " CREATE VIEW shop.recent AS SELECT * FROM shop.orders")
        tables = await pool.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_type = 'BASE TABLE'"
            " AND table_schema NOT IN ('pg_catalog', 'information_schema')")
        connector = await open_connector("postgresql", ConnectionConfig.parse(
            local_pg(database_url)))
        try:
            summary = await connector.summary()
        finally:
            await connector.close()
        assert (summary.table_count, summary.view_count) == (tables, 1)
        assert summary.total_size_bytes is not None and summary.total_size_bytes > 0


def mariadb_reachable() -> bool:
    try:
        with socket.create_connection(MYSQL, timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture
async def mysql_database() -> AsyncIterator[str]:
    """A throwaway database with two tables and a view on the local MariaDB (root, no password)."""
    if not mariadb_reachable():
        pytest.skip("MariaDB/MySQL is not reachable at 127.0.0.1:3306 (root, no password)")
    name = "rampart_test_" + secrets.token_hex(6)
    try:
        conn = await asyncmy.connect(host=MYSQL[0], port=MYSQL[1], user="root", password="",
                                     connect_timeout=3, autocommit=True)
    except Exception as exc:  # reachable but not as root without password
        pytest.skip(f"MariaDB at 127.0.0.1:3306 refused root without password: {exc}")
    try:
        async with conn.cursor() as cur:
            await cur.execute(f"CREATE DATABASE `{name}`")
            for sql in ("CREATE TABLE a (id int) ENGINE=InnoDB",
                        "CREATE TABLE b (id int) ENGINE=InnoDB",
                        "CREATE VIEW v AS SELECT id FROM a"):
                await cur.execute(f"USE `{name}`")
                await cur.execute(sql)
        yield name
    finally:
        async with conn.cursor() as cur:
            await cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


class TestConnectionToMySQL:
    async def test_test_connection_and_summary(self, deps: QualityDeps,
                                               mysql_database: str) -> None:
        config = {"host": MYSQL[0], "port": MYSQL[1], "database": mysql_database,
                  "user": "root", "connect_timeout_s": 3}
        result = await connection_test(deps, "maria", config, source="mysql")
        assert result.success is True, result.error_message
        connector = await open_connector("mysql", ConnectionConfig.parse(config))
        try:
            summary = await connector.summary()
        finally:
            await connector.close()
        assert (summary.table_count, summary.view_count) == (2, 1)
        assert summary.total_size_bytes is not None and summary.total_size_bytes > 0

    async def test_unknown_database_is_reported(self, deps: QualityDeps,
                                                mysql_database: str) -> None:
        config = {"host": MYSQL[0], "port": MYSQL[1], "database": mysql_database + "_nope",
                  "user": "root", "connect_timeout_s": 3}
        result = await connection_test(deps, "maria", config, source="mysql")
        assert (result.success, result.error_code) == (False, "DATABASE_NOT_FOUND")
