"""Waiting for a job this replica started: the seed's synchronous upload answer.

Every replica listens (core NATS, no queue group) to `job_completed` and `job_failed`
events and resolves only the waits it registered, so no replica misses its own jobs."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson


class JobWaiter:
    def __init__(self) -> None:
        self._waiting: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def expect(self, job_id: str) -> None:
        """Register before the command is published, so a fast answer is not missed."""
        self._waiting[job_id] = asyncio.get_running_loop().create_future()

    def forget(self, job_id: str) -> None:
        future = self._waiting.pop(job_id, None)
        if future is not None and not future.done():
            future.cancel()

    def on_event(self, payload: bytes) -> None:
        try:
            event = orjson.loads(payload)
        except orjson.JSONDecodeError:
            return
        future = self._waiting.get(str(event.get("job_id")))
        if future is not None and not future.done():
            future.set_result(event)

    async def wait(self, job_id: str, timeout: float) -> dict[str, Any] | None:
        """The job's final event, or None when it is still running after `timeout`."""
        future = self._waiting.get(job_id)
        if future is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return None
        finally:
            with contextlib.suppress(Exception):
                self.forget(job_id)
