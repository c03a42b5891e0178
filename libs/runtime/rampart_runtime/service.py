"""Lifecycle shared by every service: pool, migrations, bus, outbox relay, health endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import asyncpg
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, generate_latest

from rampart_contracts.settings import CommonSettings

from .bus import Bus
from .db import create_pool, migrate
from .outbox import OutboxRelay
from .uow import UnitOfWork, ensure_bus_tables

log = structlog.get_logger(__name__)

READY = Gauge("rampart_ready", "1 when PostgreSQL and NATS are reachable", ["service"])
OUTBOX_PUBLISHED = Counter("rampart_outbox_published_total", "Outbox rows published", ["service"])


class ServiceRuntime:
    """Owns the connections of one service process; handlers get it passed in explicitly."""

    def __init__(
        self,
        name: str,
        settings: CommonSettings,
        *,
        migrations: Path | None = None,
        schema: str | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.schema = schema or name
        self.migrations = migrations
        self.bus = Bus(
            name,
            settings.nats_url,
            settings.bus_prefix,
            stream_replicas=settings.stream_replicas,
            request_timeout_s=settings.request_timeout_s,
        )
        self._pool: asyncpg.Pool | None = None
        self.relay: OutboxRelay | None = None
        self.on_stop: list[Callable[[], Awaitable[None]]] = []

    @property
    def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            raise RuntimeError("service not started")
        return self._pool

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.pool, self.schema, self.relay.wake if self.relay else None)

    async def start_storage(self) -> None:
        self._pool = await create_pool(
            self.settings.database_url, self.settings.db_pool_min, self.settings.db_pool_max
        )
        await ensure_bus_tables(self._pool, self.schema)
        if self.migrations is not None:
            await migrate(self._pool, self.schema, self.migrations)

    async def start_bus(self) -> None:
        """Connect, declare streams, start subscribers registered so far, start the relay."""
        await self.bus.connect()
        await self.bus.start()
        self.relay = OutboxRelay(self.pool, self.schema, self.bus.js)
        self.relay.start()

    async def stop(self) -> None:
        for hook in self.on_stop:
            with contextlib.suppress(Exception):
                await hook()
        if self.relay is not None:
            await self.relay.stop()
        await self.bus.close()
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def readiness(self) -> dict[str, bool]:
        checks = {"nats": self.bus.is_connected(), "postgres": False}
        if self._pool is not None:
            with contextlib.suppress(Exception):
                checks["postgres"] = await asyncio.wait_for(self._pool.fetchval("SELECT 1"), 2) == 1
        READY.labels(self.name).set(1 if all(checks.values()) else 0)
        if self.relay is not None:
            OUTBOX_PUBLISHED.labels(self.name)._value.set(self.relay.published_total)
        return checks


def add_health_routes(app: web.Application, runtime: ServiceRuntime) -> None:
    """`/healthz` (process alive), `/readyz` (PostgreSQL and NATS reachable), `/metrics`."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "service": runtime.name})

    async def readyz(_: web.Request) -> web.Response:
        checks = await runtime.readiness()
        ok = all(checks.values())
        return web.json_response(
            {"status": "ready" if ok else "not_ready", "checks": checks},
            status=200 if ok else 503,
        )

    async def metrics(_: web.Request) -> web.Response:
        await runtime.readiness()
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)


async def serve(
    runtime: ServiceRuntime,
    port: int,
    setup: Callable[[ServiceRuntime], Awaitable[None]],
    app: web.Application | None = None,
) -> None:
    """Run a service until SIGTERM/SIGINT: storage, handlers (`setup`), bus, HTTP."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = app or web.Application()
    add_health_routes(app, runtime)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, runtime.settings.host, port, reuse_address=True)
    await site.start()
    log.info("service.http.listening", port=port)
    await _retry_until_up("storage", runtime.start_storage, stop)
    await setup(runtime)
    await _retry_until_up("bus", runtime.start_bus, stop)
    log.info("service.started")
    await stop.wait()
    log.info("service.stopping")
    await runtime.stop()
    await runner.cleanup()


async def _retry_until_up(
    what: str, start: Callable[[], Awaitable[None]], stop: asyncio.Event
) -> None:
    """Keep trying to reach a dependency at start so the service never crash-loops on order."""
    delay = 0.2
    while not stop.is_set():
        try:
            await start()
            return
        except Exception as exc:
            log.warning("service.dependency.unavailable", dependency=what, error=str(exc),
                        retry_in_s=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def run_service(
    name: str,
    settings: CommonSettings,
    port: int,
    register: Callable[[ServiceRuntime], None],
    migrations: Path | None = None,
) -> None:
    """Entry point body shared by the services' `__main__` modules."""
    from .logging import configure_logging
    from .telemetry import configure_tracing

    configure_logging(name, settings.log_level, settings.log_json)
    configure_tracing(name, settings.otel_exporter)
    runtime = ServiceRuntime(name, settings, migrations=migrations)

    async def setup(rt: ServiceRuntime) -> None:
        register(rt)

    run_loop(serve(runtime, port, setup))


def run_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a service's main coroutine on uvloop (about twice the I/O throughput of asyncio)."""
    import uvloop

    uvloop.run(main)
