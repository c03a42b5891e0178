"""Unit of work: one transaction holding state changes, outbox rows and the inbox claim."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Self

import asyncpg
import orjson

from rampart_contracts.envelope import Message

from .telemetry import inject_headers


class UnitOfWork:
    """Rolls back unless `commit()` was called; wakes the outbox relay after a commit."""

    def __init__(self, pool: asyncpg.Pool, schema: str, wake: asyncio.Event | None = None):
        self._pool = pool
        self._schema = schema
        self._wake = wake
        self._conn: asyncpg.Connection | None = None
        self._tx: asyncpg.transaction.Transaction | None = None
        self._committed = False
        self._published = 0

    @property
    def conn(self) -> asyncpg.Connection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._conn

    async def __aenter__(self) -> Self:
        self._conn = await self._pool.acquire()
        self._tx = self._conn.transaction()
        await self._tx.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if not self._committed and self._tx is not None:
                await self._tx.rollback()
        finally:
            if self._conn is not None:
                await self._pool.release(self._conn)
            self._conn = None

    async def commit(self) -> None:
        assert self._tx is not None
        await self._tx.commit()
        self._committed = True
        if self._published and self._wake is not None:
            self._wake.set()

    async def publish(self, subject: str, message: Message) -> None:
        """Queue `message` for publication; it leaves only if this transaction commits.

        A message already queued under the same `message_id` (a handler re-run after a
        redelivery) is not queued again, just as JetStream drops a repeated Nats-Msg-Id.
        """
        headers = inject_headers(
            {"rampart-type": message.type, "rampart-org": message.org_id}
        )
        if message.correlation_id:
            headers["rampart-correlation-id"] = message.correlation_id
        await self.conn.execute(
            f'INSERT INTO "{self._schema}".outbox (message_id, subject, payload, headers)'
            " VALUES ($1, $2, $3, $4) ON CONFLICT (message_id) DO NOTHING",
            message.message_id,
            subject,
            message.model_dump_json().encode(),
            orjson.dumps(headers).decode(),
        )
        self._published += 1

    async def claim(self, consumer: str, message_id: str) -> bool:
        """Record that `consumer` handles `message_id`; False when it was handled before."""
        row = await self.conn.fetchval(
            f'INSERT INTO "{self._schema}".inbox (consumer, message_id) VALUES ($1, $2)'
            " ON CONFLICT DO NOTHING RETURNING 1",
            consumer,
            message_id,
        )
        return row is not None


async def already_handled(pool: asyncpg.Pool, schema: str, consumer: str, message_id: str) -> bool:
    """Whether `consumer` committed the handling of `message_id` (checked before slow work)."""
    found = await pool.fetchval(
        f'SELECT 1 FROM "{schema}".inbox WHERE consumer = $1 AND message_id = $2',
        consumer, message_id)
    return found is not None


BUS_TABLES_SQL = """
CREATE TABLE IF NOT EXISTS "{schema}".outbox (
    id bigserial PRIMARY KEY,
    message_id text NOT NULL UNIQUE,
    subject text NOT NULL,
    payload bytea NOT NULL,
    headers jsonb NOT NULL DEFAULT '{{}}',
    created_at timestamptz NOT NULL DEFAULT now(),
    published_at timestamptz
);
CREATE INDEX IF NOT EXISTS outbox_pending_idx
    ON "{schema}".outbox (id) WHERE published_at IS NULL;
CREATE TABLE IF NOT EXISTS "{schema}".inbox (
    consumer text NOT NULL,
    message_id text NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
"""


async def ensure_bus_tables(pool: asyncpg.Pool, schema: str) -> None:
    """Create the outbox and inbox of a service schema (idempotent DDL)."""
    async with pool.acquire() as conn:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await conn.execute(BUS_TABLES_SQL.format(schema=schema))
