"""JetStream stream and consumer definitions shared by every service."""

from __future__ import annotations

from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)

from .subjects import Subjects

DEDUPE_WINDOW_S = 120.0
EVENT_RETENTION_S = 7 * 24 * 3600.0
UPLOAD_RETENTION_S = 3600.0
MAX_DELIVER = 5
# Delay before the next attempt after a retryable failure (seconds, by attempt number).
# Applied by the consumer with nak(delay); server-side backoff would override ack_wait
# and redeliver long-running handlers while they are still working.
BACKOFF_S = (1.0, 2.0, 5.0, 10.0)
ACK_WAIT_S = 30.0


def stream_configs(subjects: Subjects, replicas: int = 1) -> list[StreamConfig]:
    """Commands are a work queue; events are kept for replay; dead letters are kept for a week."""
    return [
        StreamConfig(
            name=subjects.commands_stream,
            subjects=[f"{subjects.prefix}.cmd.>"],
            retention=RetentionPolicy.WORK_QUEUE,
            storage=StorageType.FILE,
            duplicate_window=DEDUPE_WINDOW_S,
            num_replicas=replicas,
        ),
        StreamConfig(
            name=subjects.events_stream,
            subjects=[f"{subjects.prefix}.evt.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=EVENT_RETENTION_S,
            duplicate_window=DEDUPE_WINDOW_S,
            num_replicas=replicas,
        ),
        StreamConfig(
            name=subjects.dead_letter_stream,
            subjects=[f"{subjects.prefix}.dlq.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=EVENT_RETENTION_S,
            duplicate_window=DEDUPE_WINDOW_S,
            num_replicas=replicas,
        ),
        # Uploaded files in 512 KiB chunks; the reader deletes them, the age limit is a backstop.
        # No max_bytes: a byte limit reserves that much JetStream storage per stream up front.
        StreamConfig(
            name=subjects.uploads_stream,
            subjects=[f"{subjects.prefix}.upl.>"],
            retention=RetentionPolicy.LIMITS,
            storage=StorageType.FILE,
            max_age=UPLOAD_RETENTION_S,
            num_replicas=replicas,
        ),
    ]


def consumer_config(durable: str, filter_subject: str) -> ConsumerConfig:
    """A durable pull consumer with explicit ack and bounded, backed-off redelivery."""
    return ConsumerConfig(
        durable_name=durable,
        filter_subject=filter_subject,
        ack_policy=AckPolicy.EXPLICIT,
        deliver_policy=DeliverPolicy.ALL,
        ack_wait=ACK_WAIT_S,
        max_deliver=MAX_DELIVER,
        max_ack_pending=1000,
    )
