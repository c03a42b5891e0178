"""Outbox relay: publishes committed outbox rows to JetStream with their message id as dedupe key."""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg
import orjson
import structlog
from nats.js import JetStreamContext

log = structlog.get_logger(__name__)


class OutboxRelay:
    """Moves rows from `<schema>.outbox` onto the bus.

    Rows are locked with SKIP LOCKED so replicas share the work. A row is marked published
    only after JetStream acknowledged it; a crash in between republishes it under the same
    `Nats-Msg-Id`, which the stream's dedupe window drops.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        schema: str,
        js: JetStreamContext,
        *,
        batch: int = 200,
        idle_poll_s: float = 0.5,
        keep_published_s: int = 24 * 3600,
    ) -> None:
        self._pool = pool
        self._schema = schema
        self._js = js
        self._batch = batch
        self._idle_poll_s = idle_poll_s
        self._keep_published_s = keep_published_s
        self.wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.published_total = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self._schema}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        failures = 0
        rounds = 0
        while True:
            try:
                sent = await self.relay_once()
                failures = 0
                rounds += 1
                if rounds % 1000 == 0:
                    await self._prune()
                if sent < self._batch:
                    self.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.wake.wait(), self._idle_poll_s)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # broker or database down: back off and retry
                failures += 1
                delay = min(0.2 * 2**failures, 5.0)
                log.warning("outbox.relay.failed", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)

    async def relay_once(self) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        async with self._pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f'SELECT id, message_id, subject, payload, headers FROM "{self._schema}".outbox'
                " WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
                self._batch,
            )
            if not rows:
                return 0
            acks = [
                await self._js.publish_async(
                    row["subject"],
                    bytes(row["payload"]),
                    headers={
                        **orjson.loads(row["headers"]),
                        "Nats-Msg-Id": row["message_id"],
                    },
                )
                for row in rows
            ]
            await asyncio.wait_for(asyncio.gather(*acks), timeout=10)
            await conn.execute(
                f'UPDATE "{self._schema}".outbox SET published_at = now() WHERE id = ANY($1)',
                [row["id"] for row in rows],
            )
        self.published_total += len(rows)
        return len(rows)

    async def _prune(self) -> None:
        await self._pool.execute(
            f'DELETE FROM "{self._schema}".outbox WHERE published_at IS NOT NULL'
            " AND published_at < now() - make_interval(secs => $1)",
            float(self._keep_published_s),
        )
