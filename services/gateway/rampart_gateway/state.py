"""Typed application state of the gateway."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from rampart_runtime.secrets import KeyHasher, SecretBox
from rampart_runtime.service import ServiceRuntime

from .auth import Authenticator
from .jobwait import JobWaiter
from .ratelimit import RateLimiter
from .settings import GatewaySettings


@dataclass
class Guard:
    """Authentication and rate limiting; bound once the database pool exists."""

    authenticator: Authenticator | None = None
    limiter: RateLimiter | None = None


RUNTIME = web.AppKey("runtime", ServiceRuntime)
WAITER = web.AppKey("job_waiter", JobWaiter)
BOX = web.AppKey("secret_box", SecretBox)
SETTINGS = web.AppKey("settings", GatewaySettings)
HASHER = web.AppKey("hasher", KeyHasher)
Toucher = Callable[[uuid.UUID], None]
TOUCH: web.AppKey[Toucher] = web.AppKey("touch")
GUARD = web.AppKey("guard", Guard)
