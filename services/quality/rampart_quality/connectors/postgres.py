"""PostgreSQL connector (asyncpg): read-only session, statement timeout, one quoting helper."""

from __future__ import annotations

import asyncio
from typing import Any, Self

import asyncpg

from rampart_contracts.errors import UpstreamUnreachable

from .base import ConnectionConfig, Connector, SourceSummary
from .errors import classify

SUMMARY_SQL = """
SELECT count(*) FILTER (WHERE c.relkind IN ('r', 'p')) AS tables,
       count(*) FILTER (WHERE c.relkind IN ('v', 'm')) AS views,
       coalesce(sum(pg_total_relation_size(c.oid)) FILTER (WHERE c.relkind IN ('r', 'p', 'm')), 0)
           AS size_bytes
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'
"""


class PostgresConnector(Connector):
    source_type = "postgresql"

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

    @staticmethod
    def quote(identifier: str) -> str:
        if "\x00" in identifier:
            raise ValueError("identifier contains a NUL byte")
        return '"' + identifier.replace('"', '""') + '"'

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        async with self._lock:
            try:
                rows = await self._conn.fetch(sql, *args)
            except (asyncpg.QueryCanceledError, TimeoutError):
                raise UpstreamUnreachable(
                    f"statement exceeded the {self.config.statement_timeout_s:g}s timeout",
                    {"error_code": "STATEMENT_TIMEOUT"},
                ) from None
            except (OSError, asyncpg.ConnectionDoesNotExistError) as exc:
                raise classify(exc, self.config.host) from None
        return [dict(r) for r in rows]

    async def summary(self) -> SourceSummary:
        row = (await self.fetch(SUMMARY_SQL))[0]
        return SourceSummary(int(row["tables"]), int(row["views"]), int(row["size_bytes"]))

    async def close(self) -> None:
        try:
            await asyncio.wait_for(self._conn.close(), 2)
        except Exception:
            self._conn.terminate()
