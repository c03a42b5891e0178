"""Work-arounds for library behaviour that would otherwise leak into logs."""

from __future__ import annotations

import functools
from typing import Any

import nats.errors
from nats.js.client import JetStreamContext

_PATCHED = False


def patch_pull_fetch_timeout() -> None:
    """nats-py 2.16 can raise a bare `asyncio.TimeoutError` from `PullSubscription.fetch` when
    the deadline runs out between its two pull requests. FastStream only suppresses
    `nats.errors.TimeoutError` (a subclass), so the bare one restarts its consume loop with an
    ERROR and a traceback. Re-raise it as the subclass every caller already handles."""
    global _PATCHED
    if _PATCHED:
        return
    original = JetStreamContext.PullSubscription.fetch

    @functools.wraps(original)
    async def fetch(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await original(self, *args, **kwargs)
        except nats.errors.TimeoutError:
            raise
        except TimeoutError:
            raise nats.errors.TimeoutError from None

    JetStreamContext.PullSubscription.fetch = fetch  # type: ignore[method-assign]
    _PATCHED = True
