"""The bus's message catalog (every event and command) as an AsyncAPI 3.0 document."""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .commands import ALL_COMMANDS
from .envelope import Command, Event, Message
from .events import ALL_EVENTS, event_type_of
from .streams import DEDUPE_WINDOW_S, EVENT_RETENTION_S, MAX_DELIVER
from .subjects import Subjects

ASYNCAPI_VERSION = "3.0.0"
# Bump when a message schema changes in a way consumers must notice.
CATALOG_VERSION = "1.0.0"
DEFAULT_OUTPUT = Path("docs/asyncapi.json")
SCHEMA_REF = "#/components/schemas/{model}"
HEADERS = "MessageHeaders"

# Who emits each event and when. The event classes carry no docstrings of their own yet; a
# docstring on the class takes precedence over the sentence here.
EVENT_NOTES: dict[str, tuple[str, str]] = {
    "job_started": ("any service running long work", "A long-running job began."),
    "job_progress": ("any service running long work", "A running job reported progress."),
    "job_completed": ("any service running long work",
                      "A job finished; `result` holds its outcome."),
    "job_failed": ("any service running long work", "A job failed; `error` says why."),
    "asset_discovered": ("quality", "Discovery of an asset finished and its catalog was "
                         "refreshed."),
    "schema_change": ("quality", "A table or column was added, removed or retyped compared "
                      "with the stored schema baseline."),
    "freshness_stale": ("quality", "A table was not updated within its freshness threshold."),
    "freshness_recovered": ("quality", "A table reported stale was updated again."),
    "metric_anomaly": ("quality", "A metric snapshot fell outside its expected range."),
    "validity_failed": ("quality", "A validity rule found invalid values in a column."),
    "referential_failed": ("quality", "A referential check found orphan rows."),
    "check_recovered": ("quality", "A metric, validity or referential check that had failed "
                        "passes again."),
    "lineage_updated": ("lineage", "Lineage nodes or edges changed (dbt manifest, manual edit "
                        "or OpenLineage event)."),
    "alert_triggered": ("alerting", "An alert rule matched an observation event and opened "
                        "an alert."),
    "alert_resolved": ("alerting", "An open alert was resolved."),
    "investigation_completed": ("investigator", "A root-cause investigation finished and its "
                                "evidence capsule was stored."),
}

HEADERS_SCHEMA: dict[str, Any] = {
    "title": HEADERS,
    "type": "object",
    "description": "NATS headers set on every message by the publisher.",
    "properties": {
        "Nats-Msg-Id": {"type": "string", "description": "The envelope's `message_id`; "
                        "JetStream drops a duplicate within the dedupe window"},
        "rampart-type": {"type": "string", "description": "The envelope's `type`"},
        "rampart-org": {"type": "string", "description": "The envelope's `org_id`"},
        "rampart-correlation-id": {"type": "string",
                                   "description": "The envelope's `correlation_id`, when set"},
        "traceparent": {"type": "string", "description": "W3C trace context of the publisher"},
        "tracestate": {"type": "string", "description": "W3C trace state, when present"},
    },
    "required": ["Nats-Msg-Id", "rampart-type", "rampart-org"],
}


def build_asyncapi(prefix: str = "rampart") -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every event and command on a bus with this prefix."""
    subjects = Subjects(prefix)
    schemas = _schemas([*ALL_EVENTS, *ALL_COMMANDS])
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_cls in ALL_EVENTS:
        name = event_type_of(event_cls)
        emitter, when = EVENT_NOTES.get(name, ("", ""))
        description = _docstring(event_cls) or when
        channel_id = f"evt.{name}"
        channels[channel_id] = {
            "address": subjects.event(name),
            "title": name,
            "description": f"{description} Stream `{subjects.events_stream}` (limits "
                           f"retention, replayable).",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "x-rampart-stream": subjects.events_stream,
        }
        operations[f"emit.{name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"Emitted by {emitter}." if emitter else "Emitted by Rampart.",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"}],
            "tags": [{"name": "event"}],
        }
        messages[name] = _message(event_cls, name, description, "event")
        schemas[event_cls.__name__].setdefault("description", description)
    for command_cls in ALL_COMMANDS:
        name = str(command_cls.model_fields["type"].default)
        service, verb = command_cls.SERVICE, command_cls.VERB
        description = _docstring(command_cls)
        channel_id = f"cmd.{service}.{verb}"
        channels[channel_id] = {
            "address": subjects.command(service, verb),
            "title": name,
            "description": f"{description} Stream `{subjects.commands_stream}` (work queue: "
                           f"one consumer group, `{subjects.durable(service, verb)}`).",
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "x-rampart-stream": subjects.commands_stream,
        }
        operations[f"handle.{name}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel_id}"},
            "summary": f"Handled by {service}; sent by the gateway or another service.",
            "messages": [{"$ref": f"#/channels/{channel_id}/messages/{name}"}],
            "tags": [{"name": "command"}],
        }
        messages[name] = _message(command_cls, name, description, "command")
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {
            "title": "Rampart message bus",
            "version": CATALOG_VERSION,
            "description": _info_description(subjects),
        },
        "defaultContentType": "application/json",
        "channels": dict(sorted(channels.items())),
        "operations": dict(sorted(operations.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "messages": dict(sorted(messages.items())),
            "correlationIds": {"chain": {
                "description": "Shared by every message of one causal chain",
                "location": "$message.header#/rampart-correlation-id",
            }},
        },
    }


def _schemas(classes: Sequence[type[BaseModel]]) -> dict[str, Any]:
    """JSON schemas of the payloads and the bare envelope; nested models become components."""
    models: list[type[BaseModel]] = [Message, *classes]
    _, top = models_json_schema([(cls, "validation") for cls in models], ref_template=SCHEMA_REF)
    schemas: dict[str, Any] = top.get("$defs", {})
    envelope = schemas.pop(Message.__name__)
    envelope["title"] = "Envelope"
    envelope["description"] = (
        "Fields every message carries; each payload schema repeats them before its own."
    )
    schemas["Envelope"] = envelope
    schemas[HEADERS] = HEADERS_SCHEMA
    return schemas


def _message(cls: type[Message], name: str, description: str, kind: str) -> dict[str, Any]:
    return {
        "name": name,
        "title": cls.__name__,
        "summary": description.split("\n", 1)[0],
        "description": description,
        "contentType": "application/json",
        "headers": {"$ref": SCHEMA_REF.format(model=HEADERS)},
        "payload": {"$ref": SCHEMA_REF.format(model=cls.__name__)},
        "correlationId": {"$ref": "#/components/correlationIds/chain"},
        "tags": [{"name": kind}],
    }


def _docstring(cls: type[Message]) -> str:
    """The class's own docstring (not an inherited one from Event or Command)."""
    own = cls.__dict__.get("__doc__")
    if not own or cls in (Event, Command):
        return ""
    return inspect.cleandoc(own)


def _info_description(subjects: Subjects) -> str:
    return "\n".join([
        "Events and commands on Rampart's NATS JetStream bus.",
        "",
        f"* Events: `{subjects.event('<event_type>')}` in stream `{subjects.events_stream}` "
        f"(limits retention, kept {EVENT_RETENTION_S / 86400:g} days). Subscribe to "
        f"`{subjects.all_events}` with your own durable pull consumer and explicit ack.",
        f"* Commands: `{subjects.command('<service>', '<verb>')}` in stream "
        f"`{subjects.commands_stream}` (work queue, one consumer group per service).",
        f"* Dead letters: `{subjects.dead_letter('<service>')}` in stream "
        f"`{subjects.dead_letter_stream}` after {MAX_DELIVER} failed deliveries or a "
        "non-retryable error.",
        "",
        "Delivery is at least once. Streams drop a repeated `Nats-Msg-Id` (= `message_id`) "
        f"within {DEDUPE_WINDOW_S:g} s; a consumer may still see a message twice, so handlers "
        "must be idempotent (dedupe by `message_id` or a natural key).",
    ])


def render(document: dict[str, Any]) -> str:
    """The document as committed: pretty-printed JSON with a trailing newline."""
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--prefix", default="rampart")
    parser.add_argument("--check", action="store_true", help="fail if the file is stale")
    args = parser.parse_args(argv)
    text = render(build_asyncapi(args.prefix))
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is stale: run python -m rampart_contracts.asyncapi",
                  file=sys.stderr)
            return 1
        return 0
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text, encoding="utf-8")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
