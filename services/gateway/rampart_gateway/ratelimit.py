"""Per-key rate limiting shared by all gateway replicas through PostgreSQL.

Each replica leases a few tokens at a time from the key's shared buckets (one row-locked
UPDATE) and spends them locally; unused tokens expire with the lease. The sum of what all
replicas grant can never exceed the buckets, and keys with small bursts lease one token at a
time, so their limits are exact.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from dataclasses import dataclass, field

import asyncpg

from rampart_contracts.errors import RateLimited, ServiceUnavailable

from .auth import Principal
from .domain import BucketState, retry_after_s, seconds_to_full
from .repository import GatewayRepository


@dataclass
class Decision:
    limit: int
    remaining: int
    reset_epoch: int
    retry_after: int | None = None


@dataclass
class _Lease:
    tokens: int = 0
    expires: float = 0.0
    minute_left: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def lease_size(burst: int, cap: int) -> int:
    """Tokens to lease per trip: a tenth of the burst, at least 1, at most `cap`."""
    return max(1, min(cap, burst // 10))


class RateLimiter:
    def __init__(self, pool: asyncpg.Pool, lease_cap: int = 100, lease_ttl_s: float = 1.0):
        self._pool = pool
        self._cap = lease_cap
        self._ttl = lease_ttl_s
        self._leases: dict[uuid.UUID, _Lease] = {}

    async def check(self, who: Principal) -> Decision:
        """Spend one token or raise RateLimited with the wait in whole seconds."""
        lease = self._leases.setdefault(who.key_id, _Lease())
        now = time.monotonic()
        if lease.tokens > 0 and lease.expires > now:
            lease.tokens -= 1
            return self._decision(who, lease)
        async with lease.lock:
            now = time.monotonic()
            if lease.tokens > 0 and lease.expires > now:
                lease.tokens -= 1
                return self._decision(who, lease)
            wanted = lease_size(who.burst_limit, self._cap)
            try:
                granted, minute_left, second_left = await GatewayRepository(
                    self._pool
                ).take_tokens(who.key_id, who.rate_limit_per_min, who.burst_limit, wanted)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                raise ServiceUnavailable("rate-limit store unavailable",
                                         {"reason": type(exc).__name__}) from None
            lease.minute_left = minute_left
            if granted == 0:
                lease.tokens = 0
                state = BucketState(minute_left, second_left)
                wait = retry_after_s(state, who.rate_limit_per_min, who.burst_limit)
                raise RateLimited(wait, f"Rate limit exceeded; retry in {wait} s")
            lease.tokens = granted - 1
            lease.expires = time.monotonic() + self._ttl
            return self._decision(who, lease)

    def _decision(self, who: Principal, lease: _Lease) -> Decision:
        remaining = max(0, math.floor(lease.minute_left) + lease.tokens)
        full_in = seconds_to_full(BucketState(lease.minute_left, 0), who.rate_limit_per_min)
        return Decision(
            limit=who.rate_limit_per_min,
            remaining=remaining,
            reset_epoch=math.ceil(time.time() + full_in),
        )
