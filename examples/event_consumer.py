"""Example internal consumer: print every Rampart event as one JSON line (durable, explicit ack).

    python examples/event_consumer.py --nats-url nats://127.0.0.1:4222 --durable my-consumer
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence

import orjson
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from rampart_contracts.envelope import Event
from rampart_contracts.events import ALL_EVENTS, event_type_of
from rampart_contracts.streams import consumer_config
from rampart_contracts.subjects import Subjects

EVENT_CLASSES: dict[str, type[Event]] = {event_type_of(cls): cls for cls in ALL_EVENTS}


def decode(body: bytes) -> Event:
    """The contracts class named by the payload's `type`; unknown (newer) types keep the
    envelope only, so an old consumer still sees them instead of failing."""
    kind = orjson.loads(body).get("type")
    return EVENT_CLASSES.get(kind, Event).model_validate_json(body)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Print Rampart events as JSON lines.")
    parser.add_argument("--nats-url", default="nats://127.0.0.1:4222",
                        help="NATS server URL(s), comma-separated")
    parser.add_argument("--prefix", default="rampart", help="subject and stream prefix")
    parser.add_argument("--durable", default="example-event-consumer",
                        help="durable consumer name; reuse it to resume where you left off")
    parser.add_argument("--max-events", type=int, default=0,
                        help="exit after this many events (0: run until interrupted)")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> int:
    subjects = Subjects(args.prefix)
    # Broker logs go to stderr so stdout carries nothing but the event lines.
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    broker = NatsBroker(
        servers=[s.strip() for s in args.nats_url.split(",")],
        logger=logging.getLogger("event_consumer"),
    )
    done = asyncio.Event()
    seen = 0

    # A durable pull consumer on every event subject of the (already declared) events stream.
    # The durable keeps its position on the server: restart with the same name to resume.
    @broker.subscriber(
        subjects.all_events,
        stream=JStream(subjects.events_stream, declare=False),
        durable=args.durable,
        config=consumer_config(args.durable, subjects.all_events),
        pull_sub=PullSub(batch_size=16, timeout=1.0),
        ack_policy=AckPolicy.MANUAL,
    )
    async def on_event(msg: NatsMessage) -> None:
        nonlocal seen
        if done.is_set():
            # Past --max-events: leave it for the next run (redelivered after ack_wait).
            return
        try:
            event = decode(msg.body)
        except ValueError as exc:  # pydantic's ValidationError and JSON errors alike
            # A message no retry can fix: terminate it rather than have it redelivered.
            print(f"undecodable event on {msg.raw_message.subject}: {exc}", file=sys.stderr)
            await msg.reject()
            return
        # Real handlers do their (idempotent) work here and ack only after it succeeded.
        print(event.model_dump_json(), flush=True)
        await msg.ack()
        seen += 1
        if args.max_events and seen >= args.max_events:
            done.set()

    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, done.set)
    async with broker:
        await broker.start()
        await done.wait()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    return asyncio.run(run(parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
