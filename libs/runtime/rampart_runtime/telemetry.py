"""OpenTelemetry setup and W3C trace-context propagation through NATS headers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased

_configured = False


def configure_tracing(service: str, exporter: str = "none") -> None:
    """Install a tracer provider once per process; spans exist even when nothing exports them."""
    global _configured
    if _configured:
        return
    # Without an exporter nothing would read recorded spans: don't record them (a fifth of the
    # gateway's time per request). Trace ids are still created and propagated, so logs and
    # messages stay correlated; an exporter turns recording on.
    sampler = ALWAYS_OFF if exporter == "none" else ParentBased(ALWAYS_ON)
    provider = TracerProvider(resource=Resource.create({"service.name": f"rampart-{service}"}),
                              sampler=sampler)
    if exporter == "console":
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    trace.set_tracer_provider(provider)
    _configured = True


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)


def inject_headers(headers: dict[str, str]) -> dict[str, str]:
    """Add `traceparent` (and `tracestate`) of the current span to outgoing headers."""
    propagate.inject(headers)
    return headers


@contextmanager
def extracted(headers: dict[str, Any] | None) -> Iterator[None]:
    """Run a block inside the trace context carried by incoming headers."""
    ctx = propagate.extract(dict(headers or {}))
    token = context.attach(ctx)
    try:
        yield
    finally:
        context.detach(token)


def current_trace_id() -> str | None:
    span_ctx = trace.get_current_span().get_span_context()
    return format(span_ctx.trace_id, "032x") if span_ctx.is_valid else None
