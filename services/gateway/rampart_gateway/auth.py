"""Who is calling: API key verification with a short cache that revocations clear at once."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import asyncpg

from rampart_contracts.errors import Unauthorized
from rampart_runtime.secrets import KeyHasher

from .domain import looks_like_key
from .repository import GatewayRepository


@dataclass(frozen=True)
class Principal:
    key_id: uuid.UUID
    org_id: str
    name: str
    scope: str
    rate_limit_per_min: int
    burst_limit: int


def bearer_token(header: str | None) -> str:
    if not header:
        raise Unauthorized("Missing API key: send 'Authorization: Bearer aa_live_…'")
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <api key>'")
    return token.strip()


class Authenticator:
    """Verifies keys against their keyed hash; caches hits for `ttl_s` seconds."""

    def __init__(self, pool: asyncpg.Pool, hasher: KeyHasher, ttl_s: float) -> None:
        self._pool = pool
        self._hasher = hasher
        self._ttl = ttl_s
        self._cache: dict[str, tuple[Principal, float]] = {}
        self._touched: dict[uuid.UUID, float] = {}

    async def authenticate(self, authorization: str | None) -> Principal:
        token = bearer_token(authorization)
        if not looks_like_key(token):
            raise Unauthorized("Invalid API key")
        digest = self._hasher.hash(token)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        row = await GatewayRepository(self._pool).key_by_hash(digest)
        if row is None or row["revoked_at"] is not None:
            self._cache.pop(digest, None)
            raise Unauthorized("Invalid or revoked API key")
        principal = Principal(
            key_id=row["id"], org_id=row["org_id"], name=row["name"], scope=row["scope"],
            rate_limit_per_min=row["rate_limit_per_min"], burst_limit=row["burst_limit"],
        )
        if self._ttl > 0:
            self._cache[digest] = (principal, now + self._ttl)
        return principal

    def forget(self, key_id: str) -> None:
        """Drop a key from the cache (called on revocation, locally and via broadcast)."""
        for digest, (principal, _) in list(self._cache.items()):
            if str(principal.key_id) == key_id:
                del self._cache[digest]

    def should_touch(self, key_id: uuid.UUID, every_s: float = 60.0) -> bool:
        """Record `last_used_at` at most once a minute per key and replica."""
        now = time.monotonic()
        if now - self._touched.get(key_id, -every_s) >= every_s:
            self._touched[key_id] = now
            return True
        return False
