"""Pure gateway logic: API key format, scopes, tiers and token-bucket arithmetic."""

from __future__ import annotations

import math
import re
import secrets
from dataclasses import dataclass
from typing import Literal

Scope = Literal["read-only", "read-write", "admin"]
Need = Literal["read", "write", "admin"]

SCOPES: tuple[Scope, ...] = ("read-only", "read-write", "admin")
_RANK = {"read-only": 0, "read-write": 1, "admin": 2}
_NEED_RANK = {"read": 0, "write": 1, "admin": 2}

KEY_PREFIXES = ("aa_live_", "aa_test_")
_KEY_RE = re.compile(r"^aa_(live|test)_[A-Za-z0-9_-]{32,64}$")
SHOWN_PREFIX_LEN = 12
SHOWN_SUFFIX_LEN = 4


@dataclass(frozen=True)
class Tier:
    name: str
    rate_limit_per_min: int
    burst_limit: int
    max_keys: int


# Rate limits from the REST conventions (seed 001); key quotas are Rampart's own choice.
TIERS: dict[str, Tier] = {
    t.name: t
    for t in (
        Tier("free_trial", 20, 2, 2),
        Tier("starter", 30, 3, 5),
        Tier("growth", 500, 25, 20),
        Tier("professional", 1000, 50, 50),
        Tier("enterprise", 5000, 100, 200),
    )
}


def allows(scope: str, need: Need) -> bool:
    """Whether a key of `scope` may call a route that needs `need`."""
    return _RANK.get(scope, -1) >= _NEED_RANK[need]


def generate_key(environment: Literal["live", "test"] = "live") -> str:
    """A new key: the prefix the released CLI accepts and 40 random URL-safe characters."""
    return f"aa_{environment}_{secrets.token_urlsafe(30)}"


def looks_like_key(value: str) -> bool:
    return bool(_KEY_RE.match(value))


def key_prefix(key: str) -> str:
    return key[:SHOWN_PREFIX_LEN]


def key_suffix(key: str) -> str:
    return key[-SHOWN_SUFFIX_LEN:]


def display_key(prefix: str, suffix: str) -> str:
    return f"{prefix}...{suffix}"


@dataclass(frozen=True)
class BucketState:
    """Two token buckets of one key: per minute (sustained) and per second (burst)."""

    minute_tokens: float
    second_tokens: float


def refill(state: BucketState, elapsed_s: float, per_min: int, burst: int) -> BucketState:
    elapsed = max(0.0, elapsed_s)
    return BucketState(
        min(float(per_min), state.minute_tokens + elapsed * per_min / 60.0),
        min(float(burst), state.second_tokens + elapsed * burst),
    )


def grantable(state: BucketState, wanted: int) -> int:
    """How many whole tokens both buckets can give right now (at most `wanted`)."""
    return max(0, min(wanted, math.floor(state.minute_tokens), math.floor(state.second_tokens)))


def retry_after_s(state: BucketState, per_min: int, burst: int) -> int:
    """Whole seconds until one token is available in both buckets (at least 1)."""
    need_min = max(0.0, 1.0 - state.minute_tokens) * 60.0 / per_min
    need_sec = max(0.0, 1.0 - state.second_tokens) / burst
    return max(1, math.ceil(max(need_min, need_sec)))


def seconds_to_full(state: BucketState, per_min: int) -> float:
    return max(0.0, per_min - state.minute_tokens) * 60.0 / per_min
