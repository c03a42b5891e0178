"""Per-key rate limits (seed 001 tiers), shared by gateway replicas; revocation across replicas."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from anomalyarmor.exceptions import RateLimitError
from e2e_support import (
    HTTP_TIMEOUT,
    api_client,
    assert_error,
    bootstrap_key,
    create_key_via_api,
    new_org,
    sdk_client,
)
from support.infra import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

USAGE = "/api-keys/usage"
INT = re.compile(r"^[0-9]+$")


@pytest.fixture(scope="module")
def gateway2(e2e_stack: Stack) -> Iterator[str]:
    """A second gateway process on the same database and bus as the shared stack's."""
    e2e_stack.add("gateway2", "gateway")
    try:
        yield "gateway2"
    finally:
        e2e_stack.stop(["gateway2"])


def _limit_headers(resp: httpx.Response) -> tuple[int, int, int]:
    values = [resp.headers.get(f"X-RateLimit-{h}", "") for h in ("Limit", "Remaining", "Reset")]
    assert all(INT.match(v) for v in values), dict(resp.headers)
    limit, remaining, reset = (int(v) for v in values)
    return limit, remaining, reset


def test_free_trial_burst_then_429(e2e_stack: Stack) -> None:
    key = bootstrap_key(e2e_stack, new_org("free"), tier="free_trial", name="free-trial")
    assert (key.rate_limit_per_min, key.burst_limit) == (20, 2)
    sdk = sdk_client(e2e_stack, key)
    try:
        with api_client(e2e_stack, key) as c:
            started = time.monotonic()
            resps = [c.get(USAGE) for _ in range(10)]
            elapsed = time.monotonic() - started
            with pytest.raises(RateLimitError) as caught:
                sdk.api_keys.usage()
    finally:
        sdk.close()

    statuses = [r.status_code for r in resps]
    assert statuses[:2] == [200, 200], statuses
    assert statuses[2] == 429, statuses
    # the burst bucket refills 2 tokens/s: allow only what time itself could have refilled
    assert statuses.count(200) <= 2 + int(elapsed * 2), (statuses, elapsed)
    if elapsed < 0.5:
        assert statuses[2:] == [429] * 8, statuses

    now = int(time.time())
    for r in resps:
        limit, remaining, reset = _limit_headers(r)
        assert limit == 20
        assert reset >= now - 1
        if r.status_code == 200:
            assert 0 <= remaining <= 20
        else:
            assert_error(r, 429, "RATE_LIMITED")
            assert remaining == 0
            retry_after = r.headers.get("Retry-After", "")
            assert INT.match(retry_after), r.headers
            assert int(retry_after) >= 1
            assert r.json()["error"]["details"].get("retry_after") == int(retry_after)

    err = caught.value
    assert isinstance(err.retry_after, int) and err.retry_after >= 1


def test_two_replicas_share_one_budget(e2e_stack: Stack, gateway2: str) -> None:
    key = bootstrap_key(e2e_stack, new_org("shared"), rate_limit_per_min=10, burst=10,
                        name="shared-budget")
    assert (key.rate_limit_per_min, key.burst_limit) == (10, 10)
    with api_client(e2e_stack, key) as c1, api_client(e2e_stack, key, gateway2) as c2:
        started = time.monotonic()
        resps = [(c1 if i % 2 == 0 else c2).get(USAGE) for i in range(30)]
        elapsed = time.monotonic() - started
    statuses = [r.status_code for r in resps]
    assert set(statuses) <= {200, 429}, statuses
    ok = statuses.count(200)
    # 10 per minute refill one token every 6 s
    assert 10 <= ok <= 10 + int(elapsed // 6), (statuses, elapsed)
    if elapsed < 6:
        assert ok == 10, statuses
    assert statuses[:10] == [200] * 10, statuses  # both replicas granted from the same bucket
    for r in resps:
        _limit_headers(r)
        if r.status_code == 429:
            assert_error(r, 429, "RATE_LIMITED")


async def test_two_replicas_concurrent_requests_never_exceed_the_budget(
    e2e_stack: Stack, gateway2: str
) -> None:
    key = bootstrap_key(e2e_stack, new_org("burst"), rate_limit_per_min=12, burst=12,
                        name="concurrent")
    urls = [e2e_stack.url(n, "/api/v1" + USAGE) for n in ("gateway", gateway2)]
    async with httpx.AsyncClient(headers=key.headers, timeout=HTTP_TIMEOUT) as c:
        started = time.monotonic()
        resps = await asyncio.gather(*(c.get(urls[i % 2]) for i in range(40)))
        elapsed = time.monotonic() - started
    statuses = [r.status_code for r in resps]
    assert set(statuses) <= {200, 429}, statuses
    ok = statuses.count(200)
    assert 12 <= ok <= 12 + int(elapsed // 5), (statuses, elapsed)  # one token per 5 s
    if elapsed < 5:
        assert ok == 12, statuses


def test_revocation_reaches_the_other_replica_at_once(e2e_stack: Stack, gateway2: str) -> None:
    admin = bootstrap_key(e2e_stack, new_org("revoke"), name="revoker")
    for i in range(3):
        victim = create_key_via_api(e2e_stack, admin, "read-only", f"victim-{i}")
        with api_client(e2e_stack, victim, gateway2) as on2, \
                api_client(e2e_stack, victim) as on1:
            assert on2.get(USAGE).status_code == 200  # now cached by gateway 2
            assert on1.get(USAGE).status_code == 200  # and by gateway 1
            with api_client(e2e_stack, admin) as c:
                revoked = c.delete(f"/api-keys/{victim.id}")
            assert revoked.status_code == 200, revoked.text
            assert revoked.json()["data"]["revoked_at"] is not None
            assert_error(on2.get(USAGE), 401, "UNAUTHORIZED")
            assert_error(on1.get(USAGE), 401, "UNAUTHORIZED")

    # and the other direction: revoked through gateway 2, cached by gateway 1
    victim = create_key_via_api(e2e_stack, admin, "read-only", "victim-reverse")
    with api_client(e2e_stack, victim) as on1:
        assert on1.get(USAGE).status_code == 200
        with api_client(e2e_stack, admin, gateway2) as c:
            assert c.delete(f"/api-keys/{victim.id}").status_code == 200
        assert_error(on1.get(USAGE), 401, "UNAUTHORIZED")
