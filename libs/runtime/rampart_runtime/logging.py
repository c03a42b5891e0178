"""structlog configuration: JSON outside a terminal, secrets never rendered."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(password|secret|token|api_key|authorization|dsn|connection)", re.I)
_DSN_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")
_API_KEY = re.compile(r"aa_(live|test)_[A-Za-z0-9_-]{8,}")


def scrub(value: Any) -> Any:
    """Mask what looks like a credential inside a logged value."""
    if isinstance(value, str):
        value = _DSN_PASSWORD.sub(r"\1***@", value)
        return _API_KEY.sub(lambda m: f"aa_{m.group(1)}_***", value)
    if isinstance(value, dict):
        return {
            k: ("***" if _SECRET_KEYS.search(str(k)) else scrub(v)) for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [scrub(v) for v in value]
    return value


def _redact(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if key != "event" and _SECRET_KEYS.search(key) and not key.endswith("_id"):
            event_dict[key] = "***"
        else:
            event_dict[key] = scrub(event_dict[key])
    return event_dict


def _trace_ids(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Add the W3C trace id of the current span so a log line can be found from a trace."""
    from opentelemetry import trace

    ctx = trace.get_current_span().get_span_context()
    if ctx.is_valid:
        event_dict.setdefault("trace_id", format(ctx.trace_id, "032x"))
    return event_dict


def configure_logging(service: str, level: str = "info", json: bool | None = None) -> None:
    """Configure structlog and route stdlib logging (aiohttp, faststream) through it."""
    as_json = (not sys.stderr.isatty()) if json is None else json
    lvl = logging.getLevelName(level.upper())
    if not isinstance(lvl, int):
        lvl = logging.INFO
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _trace_ids,
        _redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(service=service)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                renderer,
            ],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(lvl, logging.INFO))
    # Access logs per request would dominate output under load.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
