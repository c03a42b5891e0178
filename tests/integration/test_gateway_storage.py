"""Gateway state on real PostgreSQL: shared rate buckets, the jobs read model, key lookup."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from rampart_contracts.errors import RateLimited, ServiceUnavailable, Unauthorized
from rampart_gateway.app import MIGRATIONS
from rampart_gateway.auth import Authenticator, Principal
from rampart_gateway.domain import generate_key, key_prefix, key_suffix
from rampart_gateway.ratelimit import RateLimiter
from rampart_gateway.repository import GatewayRepository
from rampart_runtime.db import create_pool, migrate
from rampart_runtime.secrets import KeyHasher

ORG = "org-gw"
HASHER = KeyHasher("g" * 32)
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, 1, 10)
    await migrate(pool, "gateway", MIGRATIONS)
    await GatewayRepository(pool).ensure_org(ORG, "Org", "free_trial")
    yield pool
    await pool.close()


async def new_key(pool: asyncpg.Pool, per_min: int = 20, burst: int = 2,
                  scope: str = "read-only") -> tuple[str, Principal]:
    secret = generate_key()
    row = await GatewayRepository(pool).insert_key(
        org_id=ORG, name="k", key_hash=HASHER.hash(secret), key_prefix=key_prefix(secret),
        key_suffix=key_suffix(secret), scope=scope, rate_limit_per_min=per_min,
        burst_limit=burst)
    return secret, Principal(row["id"], ORG, "k", scope, per_min, burst)


async def fire(limiters: list[RateLimiter], who: Principal, n: int) -> tuple[int, list[int]]:
    """`n` checks alternating between replicas; returns (allowed, retry_after of refusals)."""
    allowed, waits = 0, []
    for i in range(n):
        try:
            await limiters[i % len(limiters)].check(who)
            allowed += 1
        except RateLimited as err:
            waits.append(err.retry_after)
    return allowed, waits


class TestSharedRateLimit:
    async def test_two_replicas_never_grant_more_than_the_burst(self, pool: asyncpg.Pool) -> None:
        _, who = await new_key(pool, per_min=20, burst=2)
        replicas = [RateLimiter(pool), RateLimiter(pool)]
        started = time.monotonic()
        allowed, waits = await fire(replicas, who, 30)
        elapsed = time.monotonic() - started
        # The burst bucket refills 2 tokens a second; within half a second nothing refills.
        assert allowed == 2 if elapsed < 0.5 else 2 <= allowed <= 2 + int(elapsed * 2)
        assert len(waits) == 30 - allowed
        assert all(w >= 1 for w in waits)

    async def test_leases_never_exceed_the_minute_bucket(self, pool: asyncpg.Pool) -> None:
        _, who = await new_key(pool, per_min=3, burst=100)  # leases of 10 wanted
        replicas = [RateLimiter(pool), RateLimiter(pool)]
        allowed, waits = await fire(replicas, who, 12)
        assert allowed == 3
        assert min(waits) >= 19  # one token of 3/min takes 20 s

    async def test_concurrent_checks_from_replicas_share_one_bucket(
        self, pool: asyncpg.Pool
    ) -> None:
        _, who = await new_key(pool, per_min=10, burst=100)
        replicas = [RateLimiter(pool) for _ in range(4)]
        results = await asyncio.gather(*(r.check(who) for r in replicas for _ in range(10)),
                                       return_exceptions=True)
        granted = [r for r in results if not isinstance(r, BaseException)]
        assert len(granted) == 10
        assert all(isinstance(r, RateLimited) for r in results if isinstance(r, BaseException))

    async def test_keys_have_separate_buckets(self, pool: asyncpg.Pool) -> None:
        _, a = await new_key(pool, per_min=20, burst=2)
        _, b = await new_key(pool, per_min=20, burst=2)
        limiter = RateLimiter(pool)
        assert (await fire([limiter], a, 5))[0] >= 2
        assert (await fire([limiter], b, 2))[0] == 2

    async def test_unreachable_store_is_service_unavailable(self, database_url: str) -> None:
        broken = await create_pool(database_url, 1, 1)
        await broken.close()
        who = Principal(uuid.uuid4(), ORG, "k", "read-only", 20, 2)
        with pytest.raises(ServiceUnavailable):
            await RateLimiter(broken).check(who)


async def insert_job(pool: asyncpg.Pool) -> str:
    job_id = str(uuid.uuid4())
    await GatewayRepository(pool).insert_job(ORG, job_id, "asset_discovery", "asset-1")
    return job_id


async def apply(pool: asyncpg.Pool, job_id: str, kind: str, at: datetime, org: str = ORG,
                **fields: object) -> None:
    await GatewayRepository(pool).apply_job_event(
        org_id=org, job_id=job_id, kind=kind, at=at, asset_id="asset-1", **fields)


class TestJobEvents:
    async def test_job_runs_and_completes(self, pool: asyncpg.Pool) -> None:
        job_id = await insert_job(pool)
        await apply(pool, job_id, "job_started", T0, workflow="asset_discovery")
        await apply(pool, job_id, "job_progress", T0 + timedelta(seconds=1), progress=40)
        await apply(pool, job_id, "job_completed", T0 + timedelta(seconds=2),
                    result={"table_count": 3})
        job = await GatewayRepository(pool).get_job(ORG, job_id)
        assert (job["status"], job["progress"]) == ("completed", 100)
        assert (job["started_at"], job["completed_at"]) == (T0, T0 + timedelta(seconds=2))
        assert '"table_count": 3' in job["result"]

    async def test_late_start_after_completion_stays_completed(self, pool: asyncpg.Pool) -> None:
        job_id = await insert_job(pool)
        await apply(pool, job_id, "job_completed", T0 + timedelta(seconds=5), result={"ok": 1})
        await apply(pool, job_id, "job_started", T0, workflow="asset_discovery")
        await apply(pool, job_id, "job_progress", T0 + timedelta(seconds=1), progress=10)
        job = await GatewayRepository(pool).get_job(ORG, job_id)
        assert (job["status"], job["progress"]) == ("completed", 100)
        assert job["completed_at"] == T0 + timedelta(seconds=5)

    async def test_failed_job_keeps_its_error(self, pool: asyncpg.Pool) -> None:
        job_id = await insert_job(pool)
        await apply(pool, job_id, "job_failed", T0, error="connection refused")
        await apply(pool, job_id, "job_completed", T0 + timedelta(seconds=1), result={})
        job = await GatewayRepository(pool).get_job(ORG, job_id)
        assert (job["status"], job["error"]) == ("failed", "connection refused")

    async def test_progress_never_decreases(self, pool: asyncpg.Pool) -> None:
        job_id = await insert_job(pool)
        await apply(pool, job_id, "job_progress", T0 + timedelta(seconds=2), progress=60)
        await apply(pool, job_id, "job_progress", T0 + timedelta(seconds=1), progress=30,
                    message="late")
        job = await GatewayRepository(pool).get_job(ORG, job_id)
        assert (job["status"], job["progress"]) == ("running", 60)

    async def test_unknown_job_is_inserted_and_named_by_a_later_start(
        self, pool: asyncpg.Pool
    ) -> None:
        job_id = str(uuid.uuid4())
        await apply(pool, job_id, "job_progress", T0 + timedelta(seconds=1), progress=20)
        job = await GatewayRepository(pool).get_job(ORG, job_id)
        assert (job["status"], job["progress"], job["workflow_name"]) == ("running", 20,
                                                                          "unknown")
        await apply(pool, job_id, "job_started", T0, workflow="asset_discovery")
        job = await GatewayRepository(pool).get_job(ORG, job_id)
        assert (job["status"], job["progress"]) == ("running", 20)
        assert job["workflow_name"] == "asset_discovery"
        assert job["started_at"] is not None

    async def test_unknown_job_first_seen_completed_is_complete(self, pool: asyncpg.Pool) -> None:
        job_id = str(uuid.uuid4())
        await apply(pool, job_id, "job_completed", T0, result={"ok": True})
        job = await GatewayRepository(pool).get_job(ORG, job_id)
        assert (job["status"], job["progress"], job["completed_at"]) == ("completed", 100, T0)

    async def test_event_of_another_org_does_not_touch_the_job(self, pool: asyncpg.Pool) -> None:
        job_id = await insert_job(pool)
        await apply(pool, job_id, "job_failed", T0, org="intruder", error="x")
        job = await GatewayRepository(pool).get_job(ORG, job_id)
        assert job["status"] == "pending"


class TestAuthenticator:
    async def test_valid_key_yields_its_principal(self, pool: asyncpg.Pool) -> None:
        secret, who = await new_key(pool, scope="admin")
        got = await Authenticator(pool, HASHER, 30).authenticate(f"Bearer {secret}")
        assert got == who

    async def test_hit_is_cached_until_forgotten(self, pool: asyncpg.Pool) -> None:
        secret, who = await new_key(pool)
        auth = Authenticator(pool, HASHER, 30)
        await auth.authenticate(f"Bearer {secret}")
        await GatewayRepository(pool).revoke_key(ORG, str(who.key_id))
        assert await auth.authenticate(f"Bearer {secret}") == who  # served from the cache
        auth.forget(str(who.key_id))
        with pytest.raises(Unauthorized, match="revoked"):
            await auth.authenticate(f"Bearer {secret}")

    async def test_without_cache_revocation_is_seen_at_once(self, pool: asyncpg.Pool) -> None:
        secret, who = await new_key(pool)
        auth = Authenticator(pool, HASHER, 0)
        await auth.authenticate(f"Bearer {secret}")
        await GatewayRepository(pool).revoke_key(ORG, str(who.key_id))
        with pytest.raises(Unauthorized):
            await auth.authenticate(f"Bearer {secret}")

    async def test_revoked_key_is_rejected(self, pool: asyncpg.Pool) -> None:
        secret, who = await new_key(pool)
        await GatewayRepository(pool).revoke_key(ORG, str(who.key_id))
        with pytest.raises(Unauthorized):
            await Authenticator(pool, HASHER, 30).authenticate(f"Bearer {secret}")

    @pytest.mark.parametrize("header", ["Bearer " + generate_key(), "Bearer not-a-key", None])
    async def test_unknown_or_malformed_key_is_rejected(self, pool: asyncpg.Pool,
                                                        header: str | None) -> None:
        with pytest.raises(Unauthorized):
            await Authenticator(pool, HASHER, 30).authenticate(header)

    async def test_key_hashed_with_another_secret_is_rejected(self, pool: asyncpg.Pool) -> None:
        secret, _ = await new_key(pool)
        with pytest.raises(Unauthorized):
            await Authenticator(pool, KeyHasher("z" * 32), 30).authenticate(f"Bearer {secret}")
