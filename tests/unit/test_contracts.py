"""Shared contracts: envelope, event catalog, subject and stream names, the error tree."""

from __future__ import annotations

import typing
import uuid
from datetime import timedelta
from typing import Any

import pytest
from nats.js.api import AckPolicy, RetentionPolicy
from pydantic import ValidationError

from rampart_contracts import errors
from rampart_contracts.envelope import Event
from rampart_contracts.events import ALL_EVENTS, JobCompleted, JobStarted, event_type_of
from rampart_contracts.streams import (
    DEDUPE_WINDOW_S,
    MAX_DELIVER,
    consumer_config,
    stream_configs,
)
from rampart_contracts.subjects import Subjects

ORG = "org-1"


def _sample(annotation: Any) -> Any:
    """A valid value for a required field of an event class."""
    if typing.get_origin(annotation) is typing.Literal:
        return typing.get_args(annotation)[0]
    return {str: "x", int: 3, float: 1.5}[annotation]


def build_event(cls: type[Event]) -> Event:
    fields = {name: _sample(f.annotation) for name, f in cls.model_fields.items()
              if f.is_required() and name != "org_id"}
    return cls(org_id=ORG, **fields)


class TestEnvelope:
    def test_each_message_gets_its_own_uuid_message_id(self) -> None:
        a, b = JobStarted(org_id=ORG, job_id="j", workflow_name="w"), \
            JobStarted(org_id=ORG, job_id="j", workflow_name="w")
        assert a.message_id != b.message_id
        assert uuid.UUID(a.message_id).version == uuid.UUID(b.message_id).version == 4

    def test_occurred_at_defaults_to_utc(self) -> None:
        event = JobStarted(org_id=ORG, job_id="j", workflow_name="w")
        assert event.occurred_at.utcoffset() == timedelta(0)

    def test_follow_starts_a_correlation_chain_at_the_root(self) -> None:
        root = JobStarted(org_id=ORG, asset_id="a1", job_id="j", workflow_name="w")
        child = root.follow(JobCompleted, job_id="j")
        assert child.correlation_id == root.message_id
        assert child.causation_id == root.message_id
        assert (child.org_id, child.asset_id) == (ORG, "a1")
        assert child.message_id != root.message_id

    def test_follow_keeps_the_correlation_and_points_causation_at_the_parent(self) -> None:
        root = JobStarted(org_id=ORG, job_id="j", workflow_name="w", correlation_id="corr-1")
        child = root.follow(JobStarted, job_id="j", workflow_name="w")
        grandchild = child.follow(JobCompleted, job_id="j", asset_id="other")
        assert grandchild.correlation_id == "corr-1"
        assert grandchild.causation_id == child.message_id
        assert grandchild.asset_id == "other"


class TestEventCatalog:
    def test_every_event_type_literal_is_distinct(self) -> None:
        types = [event_type_of(cls) for cls in ALL_EVENTS]
        assert len(types) == len(set(types)) == len(ALL_EVENTS)
        assert all(t and t == t.lower() and " " not in t for t in types)

    @pytest.mark.parametrize("cls", ALL_EVENTS, ids=lambda c: c.__name__)
    def test_event_round_trips_through_json(self, cls: type[Event]) -> None:
        event = build_event(cls)
        assert event.type == event_type_of(cls)
        again = cls.model_validate_json(event.model_dump_json())
        assert again == event

    @pytest.mark.parametrize("cls", ALL_EVENTS, ids=lambda c: c.__name__)
    def test_event_rejects_a_foreign_type_literal(self, cls: type[Event]) -> None:
        payload = build_event(cls).model_dump(mode="json") | {"type": "not_this_event"}
        with pytest.raises(ValidationError):
            cls.model_validate(payload)


class TestSubjects:
    def test_names_for_a_prefix(self) -> None:
        s = Subjects("t1")
        assert s.command("quality", "discover") == "t1.cmd.quality.discover"
        assert s.commands_of("quality") == "t1.cmd.quality.>"
        assert s.event("schema_change") == "t1.evt.schema_change"
        assert s.all_events == "t1.evt.>"
        assert s.query("quality", "asset_get") == "t1.qry.quality.asset_get"
        assert s.dead_letter("quality") == "t1.dlq.quality"
        assert s.durable("gateway", "jobs") == "t1-gateway-jobs"
        assert s.durable("quality") == "t1-quality-main"
        assert s.key_revoked == "t1.bcast.gateway.key_revoked"
        assert (s.commands_stream, s.events_stream, s.dead_letter_stream) == (
            "T1_COMMANDS", "T1_EVENTS", "T1_DLQ")

    def test_default_prefix_is_rampart(self) -> None:
        assert Subjects().event("job_started") == "rampart.evt.job_started"


class TestStreams:
    def test_commands_are_a_work_queue_and_events_are_kept(self) -> None:
        s = Subjects("t1")
        by_name = {c.name: c for c in stream_configs(s, replicas=3)}
        assert {"T1_COMMANDS", "T1_EVENTS", "T1_DLQ"} <= set(by_name)
        assert by_name["T1_COMMANDS"].retention == RetentionPolicy.WORK_QUEUE
        assert by_name["T1_COMMANDS"].subjects == ["t1.cmd.>"]
        assert by_name["T1_EVENTS"].retention == RetentionPolicy.LIMITS
        assert by_name["T1_EVENTS"].subjects == ["t1.evt.>"]
        assert by_name["T1_DLQ"].subjects == ["t1.dlq.>"]
        for name in ("T1_COMMANDS", "T1_EVENTS", "T1_DLQ"):
            assert by_name[name].duplicate_window == DEDUPE_WINDOW_S > 0
        assert all(cfg.num_replicas == 3 for cfg in by_name.values())

    def test_streams_do_not_overlap(self) -> None:
        subjects = [pattern for cfg in stream_configs(Subjects("t1"))
                    for pattern in cfg.subjects or []]
        assert len(subjects) == len(set(subjects))
        assert all(p.startswith("t1.") and p.endswith(".>") for p in subjects)

    def test_consumer_acks_explicitly_with_bounded_delivery_and_no_server_backoff(self) -> None:
        cfg = consumer_config("t1-quality-discover", "t1.cmd.quality.discover")
        assert cfg.durable_name == "t1-quality-discover"
        assert cfg.filter_subject == "t1.cmd.quality.discover"
        assert cfg.ack_policy == AckPolicy.EXPLICIT
        assert cfg.max_deliver == MAX_DELIVER > 1
        assert not cfg.backoff
        assert cfg.ack_wait and cfg.ack_wait > 0


SEED_CODES = [
    (errors.AssetNotFound, "ASSET_NOT_FOUND", 404),
    (errors.Unauthorized, "UNAUTHORIZED", 401),
    (errors.Forbidden, "FORBIDDEN", 403),
    (errors.ValidationFailed, "VALIDATION_ERROR", 400),
    (errors.InternalError, "INTERNAL_ERROR", 500),
    (errors.ServiceUnavailable, "SERVICE_UNAVAILABLE", 503),
    (errors.JobNotFound, "JOB_NOT_FOUND", 404),
    (errors.ApiKeyNotFound, "API_KEY_NOT_FOUND", 404),
    (errors.AlreadyExists, "ALREADY_EXISTS", 409),
    (errors.UpstreamUnreachable, "WAREHOUSE_UNREACHABLE", 502),
]
SEED_IDS = [code for _, code, _ in SEED_CODES]


class TestErrorTree:
    @pytest.mark.parametrize(("cls", "code", "status"), SEED_CODES, ids=SEED_IDS)
    def test_code_and_http_status(self, cls: type[errors.RampartError], code: str,
                                  status: int) -> None:
        assert (cls.code, cls.http_status) == (code, status)
        assert issubclass(cls, errors.RampartError)

    def test_rate_limited_is_429_retryable_and_carries_retry_after(self) -> None:
        err = errors.RateLimited(7)
        assert (err.code, err.http_status, err.retryable) == ("RATE_LIMITED", 429, True)
        assert err.retry_after == 7 and err.details == {"retry_after": 7}

    def test_retryable_flags(self) -> None:
        assert errors.ServiceUnavailable.retryable and errors.UpstreamUnreachable.retryable
        assert not errors.ValidationFailed.retryable and not errors.AssetNotFound.retryable

    def test_to_body_is_the_documented_envelope(self) -> None:
        body = errors.AssetNotFound("no such asset", {"asset_id": "x"}).to_body()
        assert body == {"error": {"code": "ASSET_NOT_FOUND", "message": "no such asset",
                                  "details": {"asset_id": "x"}}}

    def test_default_message_and_empty_details(self) -> None:
        assert errors.Forbidden().to_body()["error"] == {
            "code": "FORBIDDEN", "message": "Valid key but insufficient scope", "details": {}}

    @pytest.mark.parametrize(("cls", "code", "status"), SEED_CODES, ids=SEED_IDS)
    def test_from_wire_rebuilds_the_same_class(self, cls: type[errors.RampartError], code: str,
                                               status: int) -> None:
        err = errors.from_wire(code, "msg", {"k": "v"})
        assert type(err) is cls
        assert (err.message, err.details, err.http_status) == ("msg", {"k": "v"}, status)

    def test_from_wire_rebuilds_rate_limited_with_its_wait(self) -> None:
        err = errors.from_wire("RATE_LIMITED", "slow down", {"retry_after": 12})
        assert isinstance(err, errors.RateLimited) and err.retry_after == 12

    def test_from_wire_keeps_an_unknown_code_visible(self) -> None:
        err = errors.from_wire("QUOTA_EXPLODED", "boom", {"a": 1})
        assert isinstance(err, errors.InternalError)
        assert err.http_status == 500
        assert err.details == {"a": 1, "origin_code": "QUOTA_EXPLODED"}
        assert err.message == "boom"
