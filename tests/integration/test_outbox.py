"""Unit of work + outbox relay on real PostgreSQL and JetStream: commit, rollback, crashes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import nats
import orjson
import pytest
from nats.js.errors import NoStreamResponseError, NotFoundError

from rampart_contracts.events import JobStarted
from rampart_contracts.settings import CommonSettings
from rampart_contracts.streams import stream_configs
from rampart_contracts.subjects import Subjects
from rampart_runtime.outbox import OutboxRelay
from rampart_runtime.service import ServiceRuntime

SCHEMA = "obx"
TIMEOUT_S = 10.0


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


@pytest.fixture
async def runtime(database_url: str, nats_url: str,
                  bus_prefix: str) -> AsyncIterator[ServiceRuntime]:
    """A service runtime whose storage is up; its bus is started only by tests that need it."""
    settings = CommonSettings(database_url=database_url, nats_url=nats_url,
                              bus_prefix=bus_prefix)
    rt = ServiceRuntime("outboxtest", settings, schema=SCHEMA)
    await rt.start_storage()
    yield rt
    await rt.stop()


@pytest.fixture
async def js(nats_url: str) -> AsyncIterator[Any]:
    nc = await nats.connect(nats_url)
    yield nc.jetstream()
    await nc.close()


def event(org: str = "org-1") -> JobStarted:
    return JobStarted(org_id=org, job_id="job-1", workflow_name="asset_discovery",
                      correlation_id="corr-1")


async def stream_count(js: Any, stream: str) -> int:
    try:
        return int((await js.stream_info(stream)).state.messages)
    except NotFoundError:
        return 0


async def pending_rows(pool: asyncpg.Pool) -> int:
    return int(await pool.fetchval(
        f"SELECT count(*) FROM {SCHEMA}.outbox WHERE published_at IS NULL"))


async def create_streams(js: Any, prefix: str) -> None:
    for cfg in stream_configs(Subjects(prefix)):
        await js.add_stream(cfg)


async def commit_event(rt: ServiceRuntime, ev: JobStarted) -> None:
    async with rt.uow() as uow:
        await uow.publish(rt.bus.subjects.event(ev.type), ev)
        await uow.commit()


class TestCommit:
    async def test_committed_event_reaches_the_stream_exactly_once(
        self, runtime: ServiceRuntime, js: Any
    ) -> None:
        await runtime.start_bus()
        stream = runtime.bus.subjects.events_stream
        ev = event()
        await commit_event(runtime, ev)

        await eventually(lambda: stream_count(js, stream))
        await eventually(lambda: _is_zero(pending_rows(runtime.pool)))
        assert runtime.relay is not None
        assert await runtime.relay.relay_once() == 0
        assert await stream_count(js, stream) == 1

        msg = await js.get_last_msg(stream, runtime.bus.subjects.event("job_started"))
        assert JobStarted.model_validate_json(msg.data) == ev
        assert msg.headers["Nats-Msg-Id"] == ev.message_id
        assert msg.headers["rampart-type"] == "job_started"
        assert msg.headers["rampart-org"] == "org-1"
        assert msg.headers["rampart-correlation-id"] == "corr-1"

    async def test_row_is_marked_published(self, runtime: ServiceRuntime) -> None:
        await runtime.start_bus()
        ev = event()
        await commit_event(runtime, ev)
        published_at = await eventually(lambda: runtime.pool.fetchval(
            f"SELECT published_at FROM {SCHEMA}.outbox WHERE message_id = $1", ev.message_id))
        assert published_at is not None

    async def test_same_message_queued_again_is_kept_once(
        self, runtime: ServiceRuntime, js: Any, bus_prefix: str
    ) -> None:
        """A handler re-run after a redelivery queues its deterministic message again."""
        await create_streams(js, bus_prefix)
        ev = event()
        await commit_event(runtime, ev)
        await commit_event(runtime, ev)
        assert await runtime.pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.outbox") == 1
        assert await OutboxRelay(runtime.pool, SCHEMA, js).relay_once() == 1
        assert await stream_count(js, Subjects(bus_prefix).events_stream) == 1

    async def test_commit_wakes_an_idle_relay(self, runtime: ServiceRuntime, js: Any,
                                              bus_prefix: str) -> None:
        await create_streams(js, bus_prefix)
        relay = OutboxRelay(runtime.pool, SCHEMA, js, idle_poll_s=60)
        runtime.relay = relay  # the UoW wakes the runtime's relay after a commit
        relay.start()
        await commit_event(runtime, event())
        # Once the count moved, the relay has already gone back to its minute-long idle wait.
        await eventually(lambda: _true(relay.published_total == 1))
        await commit_event(runtime, event())
        stream = Subjects(bus_prefix).events_stream
        await eventually(lambda: _true(stream_count(js, stream), 2), 5)


class TestRollback:
    async def test_uncommitted_unit_of_work_publishes_nothing(
        self, runtime: ServiceRuntime, js: Any, bus_prefix: str
    ) -> None:
        await create_streams(js, bus_prefix)
        async with runtime.uow() as uow:
            await uow.publish(runtime.bus.subjects.event("job_started"), event())
        with pytest.raises(RuntimeError, match="boom"):
            async with runtime.uow() as uow:
                await uow.publish(runtime.bus.subjects.event("job_started"), event())
                raise RuntimeError("boom")
        assert await runtime.pool.fetchval(f"SELECT count(*) FROM {SCHEMA}.outbox") == 0
        relay = OutboxRelay(runtime.pool, SCHEMA, js)
        assert await relay.relay_once() == 0
        assert await stream_count(js, Subjects(bus_prefix).events_stream) == 0


class TestFailures:
    async def test_relay_survives_a_missing_stream_and_delivers_once_it_exists(
        self, runtime: ServiceRuntime, js: Any, bus_prefix: str
    ) -> None:
        ev = event()
        await commit_event(runtime, ev)
        counting = CountingJetStream(js)
        relay = OutboxRelay(runtime.pool, SCHEMA, counting, idle_poll_s=0.05)
        with pytest.raises(NoStreamResponseError):
            await relay.relay_once()
        assert await pending_rows(runtime.pool) == 1

        relay.start()
        try:
            await eventually(lambda: _true(counting.attempts >= 3))  # failed, retried
            assert await pending_rows(runtime.pool) == 1
            await create_streams(js, bus_prefix)
            await eventually(lambda: _is_zero(pending_rows(runtime.pool)))
        finally:
            await relay.stop()
        assert await stream_count(js, Subjects(bus_prefix).events_stream) == 1

    async def test_republish_after_a_crash_before_marking_is_deduplicated(
        self, runtime: ServiceRuntime, js: Any, bus_prefix: str
    ) -> None:
        await create_streams(js, bus_prefix)
        await commit_event(runtime, event())
        # The mark-as-published UPDATE fails after JetStream acknowledged: a crash in between.
        await runtime.pool.execute(f"""
            CREATE FUNCTION {SCHEMA}.crash() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'crash before marking'; END $$;
            CREATE TRIGGER crash BEFORE UPDATE ON {SCHEMA}.outbox
                FOR EACH ROW EXECUTE FUNCTION {SCHEMA}.crash();
        """)
        relay = OutboxRelay(runtime.pool, SCHEMA, js)
        with pytest.raises(asyncpg.RaiseError, match="crash before marking"):
            await relay.relay_once()
        stream = Subjects(bus_prefix).events_stream
        assert await stream_count(js, stream) == 1
        assert await pending_rows(runtime.pool) == 1

        await runtime.pool.execute(f"DROP TRIGGER crash ON {SCHEMA}.outbox")
        assert await relay.relay_once() == 1  # published again under the same Nats-Msg-Id
        assert await pending_rows(runtime.pool) == 0
        assert await stream_count(js, stream) == 1

    async def test_manual_republish_with_the_same_message_id_is_dropped(
        self, runtime: ServiceRuntime, js: Any, bus_prefix: str
    ) -> None:
        await create_streams(js, bus_prefix)
        ev = event()
        await commit_event(runtime, ev)
        assert await OutboxRelay(runtime.pool, SCHEMA, js).relay_once() == 1
        ack = await js.publish(Subjects(bus_prefix).event(ev.type), orjson.dumps({"x": 1}),
                               headers={"Nats-Msg-Id": ev.message_id})
        assert ack.duplicate
        assert await stream_count(js, Subjects(bus_prefix).events_stream) == 1


class CountingJetStream:
    """The real JetStream context, counting publish attempts so a test can see retries."""

    def __init__(self, js: Any) -> None:
        self._js = js
        self.attempts = 0

    async def publish_async(self, *args: Any, **kwargs: Any) -> Any:
        self.attempts += 1
        return await self._js.publish_async(*args, **kwargs)


async def _is_zero(value: Awaitable[int]) -> bool:
    return await value == 0


async def _true(value: Any, equals: Any = True) -> bool:
    """Await `value` if it is awaitable; true when it equals `equals`."""
    if isinstance(value, Awaitable):
        value = await value
    return bool(value == equals)
