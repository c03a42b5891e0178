"""Commands delivered twice apply once; retryable failures retry with delay; others dead-letter."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, ClassVar, Literal
from urllib.parse import unquote, urlsplit

import nats
import pytest
from nats.js.errors import NotFoundError

from rampart_contracts.commands import DiscoverAsset
from rampart_contracts.envelope import Command
from rampart_contracts.errors import ServiceUnavailable, ValidationFailed
from rampart_contracts.queries import CreateAsset
from rampart_contracts.settings import CommonSettings
from rampart_quality import handlers
from rampart_quality.app import MIGRATIONS, register
from rampart_quality.settings import QualitySettings
from rampart_runtime.service import ServiceRuntime

SECRET = "k" * 40
ORG = "org-redelivery"
TIMEOUT_S = 15.0


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = TIMEOUT_S) -> Any:
    """Poll `check` until it returns a truthy value; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        await asyncio.sleep(0.02)


async def stream_count(js: Any, stream: str) -> int:
    try:
        return int((await js.stream_info(stream)).state.messages)
    except NotFoundError:
        return 0


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[Any]:
    nc = await nats.connect(nats_url)
    yield nc.jetstream()
    await nc.close()


async def publish_twice(js: Any, subject: str, command: Command) -> None:
    """Two copies under different Nats-Msg-Ids, so JetStream does not drop the second."""
    body = command.model_dump_json().encode()
    for copy in ("a", "b"):
        await js.publish(subject, body, headers={"Nats-Msg-Id": f"{command.message_id}:{copy}"})


class TestDiscoveryRedelivered:
    """The real quality service's discovery handler, fed the same command twice."""

    @pytest.fixture
    async def quality(self, database_url: str, nats_url: str,
                      bus_prefix: str) -> AsyncIterator[tuple[ServiceRuntime, Any]]:
        settings = QualitySettings(database_url=database_url, nats_url=nats_url,
                                   bus_prefix=bus_prefix, secret_key=SECRET)
        rt = ServiceRuntime("quality", settings, migrations=MIGRATIONS)
        await rt.start_storage()
        deps = register(rt, settings)
        await rt.start_bus()
        yield rt, deps
        await rt.stop()

    async def test_same_command_twice_completes_the_job_once(
        self, quality: tuple[ServiceRuntime, Any], database_url: str, js: Any
    ) -> None:
        rt, deps = quality
        dsn = urlsplit(database_url)
        view = await handlers.create_asset(deps, CreateAsset(
            org_id=ORG, name="self", source_type="postgresql", connection_config={
                "host": dsn.hostname, "port": dsn.port or 5432, "database": dsn.path[1:],
                "user": dsn.username or "postgres",
                "password": unquote(dsn.password) if dsn.password else None}))
        command = DiscoverAsset(org_id=ORG, asset_id=view.id, job_id=str(uuid.uuid4()))
        subjects = rt.bus.subjects

        await publish_twice(js, subjects.command("quality", "discover"), command)

        async def outcome_counts() -> dict[str, int]:
            rows = await rt.pool.fetch(
                "SELECT subject, count(*) AS n FROM quality.outbox GROUP BY subject")
            return {r["subject"].rsplit(".", 1)[1]: r["n"] for r in rows}

        await eventually(lambda: _has(outcome_counts(), "job_completed"))
        # Both copies were handled and acknowledged: the work queue is empty, nothing failed.
        await eventually(lambda: _equals(stream_count(js, subjects.commands_stream), 0))
        assert await outcome_counts() == {"job_started": 1, "asset_discovered": 1,
                                          "job_completed": 1}
        assert await rt.pool.fetchval(
            "SELECT count(*) FROM quality.inbox WHERE message_id = $1", command.message_id) == 1
        assert await rt.pool.fetchval(
            "SELECT last_discovered_at IS NOT NULL FROM quality.assets WHERE id = $1",
            uuid.UUID(view.id))
        assert await stream_count(js, subjects.dead_letter_stream) == 0
        assert rt.bus.dead_lettered == 0


class Ping(Command):
    SERVICE: ClassVar[str] = "pinger"
    VERB: ClassVar[str] = "ping"
    type: Literal["ping"] = "ping"
    behaviour: Literal["count", "retry_once", "reject"] = "count"


class Pinger:
    """A small service whose handler claims each message in its inbox before counting it."""

    def __init__(self, rt: ServiceRuntime) -> None:
        self.rt = rt
        self.calls: list[tuple[str, float]] = []

    async def handle(self, msg: Ping) -> None:
        self.calls.append((msg.message_id, time.monotonic()))
        if msg.behaviour == "reject":
            raise ValidationFailed("ping payload makes no sense")
        if msg.behaviour == "retry_once" and len(self.calls) == 1:
            raise ServiceUnavailable("warehouse briefly away")
        async with self.rt.uow() as uow:
            if not await uow.claim("ping", msg.message_id):
                return
            await uow.conn.execute("UPDATE pinger.counter SET n = n + 1")
            await uow.commit()

    async def count(self) -> int:
        return int(await self.rt.pool.fetchval("SELECT n FROM pinger.counter"))


@pytest.fixture
async def pinger(database_url: str, nats_url: str, bus_prefix: str) -> AsyncIterator[Pinger]:
    settings = CommonSettings(database_url=database_url, nats_url=nats_url,
                              bus_prefix=bus_prefix)
    rt = ServiceRuntime("pinger", settings)
    await rt.start_storage()
    await rt.pool.execute("CREATE TABLE pinger.counter (n int NOT NULL);"
                          " INSERT INTO pinger.counter VALUES (0)")
    service = Pinger(rt)
    rt.bus.command_consumer(Ping, service.handle)
    await rt.start_bus()
    yield service
    await rt.stop()


class TestInboxClaim:
    async def test_same_message_twice_changes_state_once(self, pinger: Pinger, js: Any) -> None:
        ping = Ping(org_id=ORG)
        subjects = pinger.rt.bus.subjects
        await publish_twice(js, subjects.command("pinger", "ping"), ping)
        await eventually(lambda: _true(len(pinger.calls) == 2))
        await eventually(lambda: _equals(stream_count(js, subjects.commands_stream), 0))
        assert await pinger.count() == 1

    async def test_distinct_messages_each_count(self, pinger: Pinger) -> None:
        for _ in range(3):
            await pinger.rt.bus.publish_command(Ping(org_id=ORG))
        await eventually(lambda: _equals(pinger.count(), 3))


class TestFailures:
    async def test_retryable_error_is_retried_after_a_delay_then_succeeds(
        self, pinger: Pinger, js: Any
    ) -> None:
        ping = Ping(org_id=ORG, behaviour="retry_once")
        await pinger.rt.bus.publish_command(ping)
        await eventually(lambda: _equals(pinger.count(), 1))
        assert [c[0] for c in pinger.calls] == [ping.message_id, ping.message_id]
        assert pinger.calls[1][1] - pinger.calls[0][1] >= 0.9  # nak(delay=1 s), not at once
        subjects = pinger.rt.bus.subjects
        await eventually(lambda: _equals(stream_count(js, subjects.commands_stream), 0))
        assert await stream_count(js, subjects.dead_letter_stream) == 0

    async def test_non_retryable_error_is_dead_lettered_with_the_reason(
        self, pinger: Pinger, js: Any
    ) -> None:
        ping = Ping(org_id=ORG, behaviour="reject")
        subjects = pinger.rt.bus.subjects
        await pinger.rt.bus.publish_command(ping)
        await eventually(lambda: stream_count(js, subjects.dead_letter_stream))

        dead = await js.get_last_msg(subjects.dead_letter_stream, subjects.dead_letter("pinger"))
        assert Ping.model_validate_json(dead.data) == ping
        assert dead.headers["rampart-error"] == "ping payload makes no sense"
        assert dead.headers["rampart-consumer"] == subjects.durable("pinger", "ping")
        assert dead.headers["rampart-original-subject"] == subjects.command("pinger", "ping")
        assert len(pinger.calls) == 1  # not retried
        await eventually(lambda: _equals(stream_count(js, subjects.commands_stream), 0))
        assert await pinger.count() == 0

    async def test_undecodable_message_is_dead_lettered_without_calling_the_handler(
        self, pinger: Pinger, js: Any
    ) -> None:
        subjects = pinger.rt.bus.subjects
        await js.publish(subjects.command("pinger", "ping"), b"{not json")
        await eventually(lambda: stream_count(js, subjects.dead_letter_stream))
        dead = await js.get_last_msg(subjects.dead_letter_stream, subjects.dead_letter("pinger"))
        assert dead.data == b"{not json"
        assert dead.headers["rampart-error"].startswith("undecodable message")
        assert pinger.calls == []


async def _has(counts: Awaitable[dict[str, int]], key: str) -> bool:
    return key in await counts


async def _equals(value: Awaitable[Any], expected: Any) -> bool:
    return bool(await value == expected)


async def _true(value: bool) -> bool:
    return value
