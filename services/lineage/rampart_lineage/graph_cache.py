"""Graph answers kept in memory while the organization's lineage has not changed.

Every write bumps `lineage.graph_versions` in its own transaction (so every replica sees it);
a cached answer is served only when it was built at the current version. Repeated views of the
same neighbourhood (dashboards, CI impact checks) then cost one indexed read instead of a walk."""

from __future__ import annotations

import uuid
from collections import OrderedDict

import asyncpg

MAX_BYTES = 128 * 1024 * 1024


async def bump(conn: asyncpg.Connection, org_id: str) -> None:
    """Mark the organization's graph as changed; call inside the writing transaction."""
    await conn.execute(
        "INSERT INTO lineage.graph_versions (org_id, version) VALUES ($1, 1)"
        " ON CONFLICT (org_id) DO UPDATE SET version = lineage.graph_versions.version + 1",
        org_id)


async def current(db: asyncpg.Pool | asyncpg.Connection, org_id: str) -> int:
    value = await db.fetchval(
        "SELECT version FROM lineage.graph_versions WHERE org_id = $1", org_id)
    return int(value or 0)


class GraphCache:
    """Least-recently-used answers, bounded by their total size."""

    def __init__(self, max_bytes: int = MAX_BYTES) -> None:
        self._items: OrderedDict[tuple[str, uuid.UUID, int, str], tuple[int, bytes]] = OrderedDict()
        self._bytes = 0
        self._max = max_bytes
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[str, uuid.UUID, int, str], version: int) -> bytes | None:
        item = self._items.get(key)
        if item is None or item[0] != version:
            self.misses += 1
            return None
        self._items.move_to_end(key)
        self.hits += 1
        return item[1]

    def put(self, key: tuple[str, uuid.UUID, int, str], version: int, body: bytes) -> None:
        old = self._items.pop(key, None)
        if old is not None:
            self._bytes -= len(old[1])
        if len(body) > self._max // 4:
            return
        self._items[key] = (version, body)
        self._bytes += len(body)
        while self._bytes > self._max:
            _, (_, evicted) = self._items.popitem(last=False)
            self._bytes -= len(evicted)
