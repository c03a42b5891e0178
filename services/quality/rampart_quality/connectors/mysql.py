"""MySQL/MariaDB connector (asyncmy): read-only session, statement timeout, one quoting helper."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any, Self

import asyncmy
from asyncmy.cursors import DictCursor

from .base import ConnectionConfig, Connector, TableInfo
from .errors import classify

TABLES_SQL = """
SELECT table_schema AS schema_name, table_name AS table_name,
       CASE WHEN table_type = 'VIEW' THEN 'view' ELSE 'table' END AS kind,
       table_rows AS row_estimate, data_length + index_length AS size_bytes
FROM information_schema.tables WHERE table_schema = %s ORDER BY table_name
"""


class MySQLConnector(Connector):
    source_type = "mysql"
    quote_char = "`"

    def __init__(self, config: ConnectionConfig, conn: Any) -> None:
        super().__init__(config)
        self._conn = conn
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, config: ConnectionConfig) -> Self:
        try:
            conn = await asyncio.wait_for(
                asyncmy.connect(
                    host=config.host,
                    port=config.port_for("mysql"),
                    user=config.user,
                    password=config.password or "",
                    database=config.database,
                    connect_timeout=config.connect_timeout_s,
                    autocommit=True,
                ),
                config.connect_timeout_s + 1,
            )
            async with conn.cursor() as cur:
                await cur.execute("SET SESSION TRANSACTION READ ONLY")
                # MariaDB names the timeout max_statement_time (s); MySQL max_execution_time (ms).
                version = await cls._version(cur)
                if "mariadb" in version.lower():
                    await cur.execute(
                        f"SET SESSION max_statement_time = {float(config.statement_timeout_s)}"
                    )
                else:
                    await cur.execute(
                        f"SET SESSION max_execution_time = {int(config.statement_timeout_s * 1000)}"
                    )
        except Exception as exc:
            raise classify(exc, config.host) from None
        return cls(config, conn)

    @staticmethod
    async def _version(cur: Any) -> str:
        await cur.execute("SELECT VERSION()")
        row = await cur.fetchone()
        return str(row[0]) if row else ""

    async def fetch(self, sql: str, *args: Any) -> list[dict[str, Any]]:
        async with self._lock:
            try:
                async with self._conn.cursor(DictCursor) as cur:
                    await asyncio.wait_for(
                        cur.execute(sql, args or None), self.config.statement_timeout_s + 5
                    )
                    rows = await cur.fetchall()
            except TimeoutError:
                raise self.timed_out() from None
            except OSError as exc:
                raise classify(exc, self.config.host) from None
        return [dict(r) for r in rows]

    async def tables(self) -> list[TableInfo]:
        rows = await self.fetch(TABLES_SQL, self.config.database)
        return [TableInfo(r["schema_name"], r["table_name"], r["kind"],
                          int(r["row_estimate"]) if r["row_estimate"] is not None else None,
                          int(r["size_bytes"]) if r["size_bytes"] is not None else None)
                for r in rows]

    async def close(self) -> None:
        with contextlib.suppress(Exception):  # closing a broken connection may fail
            self._conn.close()
