"""PostgreSQL connector (asyncpg): read-only session, statement timeout, one quoting helper."""

from __future__ import annotations

import asyncio
from typing import Any, Self

import asyncpg

from .base import ConnectionConfig, Connector, TableInfo
from .errors import classify

TABLES_SQL = """
SELECT n.nspname AS schema_name, c.relname AS table_name,
       CASE WHEN c.relkind IN ('v', 'm') THEN 'view' ELSE 'table' END AS kind,
       CASE WHEN c.relkind IN ('r', 'p', 'm') AND c.reltuples >= 0 THEN c.reltuples::bigint END
           AS row_estimate,
       CASE WHEN c.relkind IN ('r', 'p', 'm') THEN pg_total_relation_size(c.oid) END AS size_bytes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
  AND n.nspname NOT LIKE 'pg_temp%'
ORDER BY 1, 2
"""


class PostgresConnector(Connector):
    source_type = "postgresql"
    quote_char = '"'

    def __init__(self, config: ConnectionConfig, conn: asyncpg.Connection) -> None:
        super().__init__(config)
        self._conn = conn
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, config: ConnectionConfig) -> Self:
        try:
            conn = await asyncpg.connect(
                host=config.host,
                port=config.port_for("postgresql"),
                user=config.user,
                password=config.password,
                database=config.database,
                ssl="require" if config.ssl else False,
                timeout=config.connect_timeout_s,
                command_timeout=config.statement_timeout_s + 5,
                statement_cache_size=0,
                server_settings={
                    "default_transaction_read_only": "on",
                    "statement_timeout": str(int(config.statement_timeout_s * 1000)),
                    "application_name": "rampart",
                },
            )
        except Exception as exc:
            raise classify(exc, config.host) from None
        return cls(config, conn)

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        async with self._lock:
            try:
                rows = await self._conn.fetch(sql, *args)
            except (asyncpg.QueryCanceledError, TimeoutError):
                raise self.timed_out() from None
            except (OSError, asyncpg.ConnectionDoesNotExistError) as exc:
                raise classify(exc, self.config.host) from None
        return [dict(r) for r in rows]

    async def tables(self) -> list[TableInfo]:
        return [TableInfo(r["schema_name"], r["table_name"], r["kind"], r["row_estimate"],
                          r["size_bytes"]) for r in await self.fetch(TABLES_SQL)]

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._conn.close(), 2)
        except Exception:
            self._conn.terminate()
