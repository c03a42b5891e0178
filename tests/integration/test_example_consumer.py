"""The example event consumer against real JetStream: prints events, resumes by durable."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from rampart_contracts.envelope import Event
from rampart_contracts.events import AlertResolved, FreshnessStale, SchemaChange
from rampart_runtime.bus import Bus

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "event_consumer.py"
TIMEOUT_S = 60.0


async def _publish(url: str, prefix: str, events: list[Event]) -> None:
    bus = Bus("example-test", url, prefix)
    await bus.connect()
    try:
        for event in events:
            await bus.publish_event(event)
    finally:
        await bus.close()


async def _run_example(url: str, prefix: str, durable: str, max_events: int) -> list[Any]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, str(EXAMPLE), "--nats-url", url, "--prefix", prefix,
        "--durable", durable, "--max-events", str(max_events),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), TIMEOUT_S)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        pytest.fail(f"example consumer did not exit: {out.decode()} {err.decode()}")
    assert proc.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


class TestExampleConsumer:
    async def test_prints_each_published_event_with_its_type_and_id(
        self, nats_url: str, bus_prefix: str
    ) -> None:
        org = "org-example"
        events: list[Event] = [
            SchemaChange(org_id=org, qualified_name="postgresql.shop.public.orders",
                         change_type="column_removed", column_name="note",
                         change_id="chg-1"),
            FreshnessStale(org_id=org, qualified_name="postgresql.shop.public.orders",
                           threshold_hours=2.0),
        ]
        await _publish(nats_url, bus_prefix, events)

        printed = await _run_example(nats_url, bus_prefix, "example", max_events=2)

        assert [(p["type"], p["message_id"]) for p in printed] == [
            ("schema_change", events[0].message_id),
            ("freshness_stale", events[1].message_id),
        ]
        assert printed[0]["change_type"] == "column_removed"  # decoded as SchemaChange
        assert printed[1]["threshold_hours"] == 2.0

    async def test_same_durable_resumes_after_acked_events(
        self, nats_url: str, bus_prefix: str
    ) -> None:
        org = "org-example"
        first = AlertResolved(org_id=org, alert_id="a1", reason="recovered")
        await _publish(nats_url, bus_prefix, [first])
        assert [p["message_id"] for p in
                await _run_example(nats_url, bus_prefix, "resume", 1)] == [first.message_id]

        second = AlertResolved(org_id=org, alert_id="a2", reason="manual")
        await _publish(nats_url, bus_prefix, [second])

        printed = await _run_example(nats_url, bus_prefix, "resume", 1)
        assert [p["message_id"] for p in printed] == [second.message_id]
