"""Token-bucket arithmetic, tiers, scopes and the lease logic of the gateway's rate limiter."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from rampart_contracts.errors import RateLimited, ServiceUnavailable
from rampart_gateway import ratelimit
from rampart_gateway.auth import Principal
from rampart_gateway.domain import (
    TIERS,
    BucketState,
    allows,
    grantable,
    refill,
    retry_after_s,
    seconds_to_full,
)
from rampart_gateway.ratelimit import RateLimiter, lease_size


class TestRefill:
    def test_refills_both_buckets_at_their_rates(self) -> None:
        state = refill(BucketState(0.0, 0.0), 3.0, per_min=60, burst=5)
        assert state == BucketState(3.0, 5.0)  # 15 s of burst refill, capped at 5

    def test_partial_second_refills_fractions(self) -> None:
        state = refill(BucketState(0.0, 0.0), 0.5, per_min=120, burst=4)
        assert state.minute_tokens == pytest.approx(1.0)
        assert state.second_tokens == pytest.approx(2.0)

    def test_never_exceeds_capacity(self) -> None:
        assert refill(BucketState(19.0, 1.0), 3600, per_min=20, burst=2) == BucketState(20.0, 2.0)

    def test_negative_elapsed_time_changes_nothing(self) -> None:
        assert refill(BucketState(1.5, 0.5), -10, per_min=20, burst=2) == BucketState(1.5, 0.5)


class TestGrantable:
    def test_limited_by_the_emptier_bucket(self) -> None:
        assert grantable(BucketState(10.0, 2.9), 5) == 2
        assert grantable(BucketState(1.2, 50.0), 5) == 1

    def test_limited_by_what_was_asked(self) -> None:
        assert grantable(BucketState(100.0, 100.0), 3) == 3

    def test_fractions_and_debt_grant_nothing(self) -> None:
        assert grantable(BucketState(0.99, 5.0), 1) == 0
        assert grantable(BucketState(-2.0, -1.0), 1) == 0


class TestRetryAfter:
    def test_waits_for_the_minute_bucket(self) -> None:
        # 20/min: one token every 3 s; 0.5 token missing -> 1.5 s -> 2 whole seconds.
        assert retry_after_s(BucketState(0.5, 2.0), per_min=20, burst=2) == 2
        assert retry_after_s(BucketState(0.0, 2.0), per_min=3, burst=100) == 20

    def test_waits_for_the_second_bucket(self) -> None:
        assert retry_after_s(BucketState(10.0, 0.0), per_min=600, burst=1) == 1

    def test_is_at_least_one_second(self) -> None:
        assert retry_after_s(BucketState(5.0, 5.0), per_min=60, burst=5) == 1

    def test_seconds_to_full(self) -> None:
        assert seconds_to_full(BucketState(10.0, 0.0), per_min=20) == pytest.approx(30.0)
        assert seconds_to_full(BucketState(20.0, 0.0), per_min=20) == 0.0
        assert seconds_to_full(BucketState(25.0, 0.0), per_min=20) == 0.0


class TestLeaseSize:
    @pytest.mark.parametrize(("burst", "cap", "expected"), [
        (2, 100, 1), (3, 100, 1), (25, 100, 2), (50, 100, 5), (100, 100, 10),
        (5000, 100, 100), (100, 4, 4),
    ])
    def test_a_tenth_of_the_burst_between_one_and_the_cap(self, burst: int, cap: int,
                                                          expected: int) -> None:
        assert lease_size(burst, cap) == expected


class TestTiers:
    @pytest.mark.parametrize(("name", "per_min", "burst"), [
        ("free_trial", 20, 2), ("starter", 30, 3), ("growth", 500, 25),
        ("professional", 1000, 50), ("enterprise", 5000, 100),
    ])
    def test_tier_limits(self, name: str, per_min: int, burst: int) -> None:
        tier = TIERS[name]
        assert (tier.rate_limit_per_min, tier.burst_limit) == (per_min, burst)
        assert tier.max_keys >= 1

    def test_only_the_documented_tiers_exist(self) -> None:
        assert set(TIERS) == {"free_trial", "starter", "growth", "professional", "enterprise"}


class TestScopes:
    @pytest.mark.parametrize(("scope", "need", "allowed"), [
        ("read-only", "read", True), ("read-only", "write", False),
        ("read-only", "admin", False),
        ("read-write", "read", True), ("read-write", "write", True),
        ("read-write", "admin", False),
        ("admin", "read", True), ("admin", "write", True), ("admin", "admin", True),
        ("superuser", "read", False), ("", "read", False),
    ])
    def test_scope_matrix(self, scope: str, need: Any, allowed: bool) -> None:
        assert allows(scope, need) is allowed


class FakeRepository:
    """Stands in for GatewayRepository: answers take_tokens from a scripted list."""

    answers: list[Any] = []
    calls: list[tuple[uuid.UUID, int, int, int]] = []

    def __init__(self, _pool: Any) -> None:
        pass

    async def take_tokens(self, key_id: uuid.UUID, per_min: int, burst: int,
                          wanted: int) -> tuple[int, float, float]:
        FakeRepository.calls.append((key_id, per_min, burst, wanted))
        answer = FakeRepository.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def fake_repo(monkeypatch: pytest.MonkeyPatch) -> type[FakeRepository]:
    FakeRepository.answers, FakeRepository.calls = [], []
    monkeypatch.setattr(ratelimit, "GatewayRepository", FakeRepository)
    return FakeRepository


def principal(per_min: int, burst: int) -> Principal:
    return Principal(key_id=uuid.uuid4(), org_id="o", name="k", scope="read-only",
                     rate_limit_per_min=per_min, burst_limit=burst)


class TestRateLimiterLeases:
    async def test_spends_a_lease_locally_before_asking_again(
        self, fake_repo: type[FakeRepository]
    ) -> None:
        who = principal(1000, 50)  # lease of 5 tokens
        fake_repo.answers = [(5, 900.0, 45.0), (5, 895.0, 40.0)]
        limiter = RateLimiter(pool=None, lease_cap=100, lease_ttl_s=60)  # type: ignore[arg-type]
        decisions = [await limiter.check(who) for _ in range(6)]
        assert [c[3] for c in fake_repo.calls] == [5, 5]
        assert decisions[0].limit == 1000
        assert decisions[0].remaining == 900 + 4
        assert decisions[4].remaining == 900

    async def test_expired_lease_is_not_spent(self, fake_repo: type[FakeRepository]) -> None:
        who = principal(1000, 50)
        fake_repo.answers = [(5, 900.0, 45.0), (5, 890.0, 40.0)]
        limiter = RateLimiter(pool=None, lease_cap=100, lease_ttl_s=0)  # type: ignore[arg-type]
        await limiter.check(who)
        await limiter.check(who)
        assert len(fake_repo.calls) == 2

    async def test_empty_bucket_raises_rate_limited_with_the_wait(
        self, fake_repo: type[FakeRepository]
    ) -> None:
        who = principal(20, 2)
        fake_repo.answers = [(0, 0.0, 0.4)]
        limiter = RateLimiter(pool=None)  # type: ignore[arg-type]
        with pytest.raises(RateLimited) as caught:
            await limiter.check(who)
        assert caught.value.retry_after == 3  # a whole minute token takes 3 s at 20/min
        assert fake_repo.calls[0][1:] == (20, 2, 1)

    async def test_store_failure_becomes_service_unavailable(
        self, fake_repo: type[FakeRepository]
    ) -> None:
        fake_repo.answers = [OSError("connection reset")]
        limiter = RateLimiter(pool=None)  # type: ignore[arg-type]
        with pytest.raises(ServiceUnavailable) as caught:
            await limiter.check(principal(20, 2))
        assert caught.value.details == {"reason": "OSError"}

    async def test_keys_have_separate_leases(self, fake_repo: type[FakeRepository]) -> None:
        a, b = principal(1000, 50), principal(1000, 50)
        fake_repo.answers = [(5, 10.0, 10.0), (5, 10.0, 10.0)]
        limiter = RateLimiter(pool=None, lease_ttl_s=60)  # type: ignore[arg-type]
        await limiter.check(a)
        await limiter.check(b)
        assert [c[0] for c in fake_repo.calls] == [a.key_id, b.key_id]
