"""Composition root of the gateway: the aiohttp application and its bus handlers."""

from __future__ import annotations

import asyncio
import uuid
from functools import partial
from pathlib import Path

import structlog
from aiohttp import web

from rampart_runtime.secrets import KeyHasher, SecretBox
from rampart_runtime.service import ServiceRuntime

from .auth import Authenticator
from .handlers import JOB_EVENTS, on_job_event
from .jobwait import JobWaiter
from .middleware import MAX_JSON_BYTES, auth_middleware, errors_middleware, telemetry_middleware
from .ratelimit import RateLimiter
from .repository import GatewayRepository
from .routes import ALL_ROUTES
from .routing import install
from .settings import GatewaySettings
from .state import BOX, GUARD, HASHER, RUNTIME, SETTINGS, TOUCH, WAITER, Guard

MIGRATIONS = Path(__file__).parent / "migrations"
log = structlog.get_logger(__name__)


def build_app(settings: GatewaySettings, runtime: ServiceRuntime) -> web.Application:
    """The HTTP app; its pool-backed parts are bound once the runtime's storage is up."""
    app = web.Application(
        middlewares=[telemetry_middleware, errors_middleware, auth_middleware],
        client_max_size=max(settings.max_json_bytes, 1024 * 1024),
    )
    app[SETTINGS] = settings
    app[RUNTIME] = runtime
    app[HASHER] = KeyHasher(settings.secret_key)
    app[MAX_JSON_BYTES] = settings.max_json_bytes
    app[GUARD] = Guard()
    app[WAITER] = JobWaiter()
    app[BOX] = SecretBox(settings.secret_key)
    pending: set[asyncio.Task[None]] = set()

    def touch(key_id: uuid.UUID) -> None:
        async def run() -> None:
            try:
                await GatewayRepository(runtime.pool).touch_key(key_id)
            except Exception as exc:  # last_used_at is best effort
                log.debug("gateway.key.touch_failed", error=str(exc))

        task = asyncio.create_task(run())
        pending.add(task)
        task.add_done_callback(pending.discard)

    app[TOUCH] = touch
    install(app, ALL_ROUTES)
    return app


def bind_storage(app: web.Application, settings: GatewaySettings, runtime: ServiceRuntime) -> None:
    """Attach the parts that need the database pool, and the bus handlers."""
    guard = app[GUARD]
    guard.authenticator = Authenticator(runtime.pool, app[HASHER], settings.key_cache_ttl_s)
    guard.limiter = RateLimiter(runtime.pool, settings.rate_lease_max, settings.rate_lease_ttl_s)
    runtime.bus.event_consumer("jobs", JOB_EVENTS, partial(on_job_event, runtime))
    for kind in ("job_completed", "job_failed"):
        runtime.bus.broadcast_handler(runtime.bus.subjects.event(kind), app[WAITER].on_event)
    runtime.bus.broadcast_handler(
        runtime.bus.subjects.key_revoked,
        lambda payload: guard.authenticator.forget(payload.decode()) if guard.authenticator
        else None,
    )
