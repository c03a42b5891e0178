"""The gateway's middleware chain: request id, error envelope, auth, scope and rate limits."""

from __future__ import annotations

import time
from typing import Any

import orjson
import structlog
from aiohttp import web
from prometheus_client import Counter, Histogram
from pydantic import BaseModel, ValidationError

from rampart_contracts.envelope import new_id
from rampart_contracts.errors import (
    Forbidden,
    InternalError,
    NotFound,
    PayloadTooLarge,
    RampartError,
    RateLimited,
    ServiceUnavailable,
    ValidationFailed,
)
from rampart_runtime.telemetry import tracer

from .auth import Principal
from .domain import allows
from .envelopes import json_response
from .routing import route_of
from .state import GUARD, TOUCH

log = structlog.get_logger(__name__)

PRINCIPAL = "rampart.principal"
RATE_HEADERS = "rampart.rate_headers"  # X-RateLimit-* of an authenticated request
MAX_JSON_BYTES = web.AppKey("max_json_bytes", int)


def principal(request: web.Request) -> Principal:
    value: Principal = request[PRINCIPAL]
    return value


def error_response(err: RampartError, request_id: str) -> web.Response:
    headers = {"X-Request-ID": request_id}
    if isinstance(err, RateLimited):
        headers["Retry-After"] = str(err.retry_after)
    return json_response(err.to_body(), err.http_status, headers)


REQUESTS = Counter("rampart_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("rampart_http_request_seconds", "HTTP request latency", ["route"],
                    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5))
_tracer = tracer("rampart.gateway")


@web.middleware
async def telemetry_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """A span per request (its context travels on to the services) and Prometheus figures."""
    route = route_of(request)
    name = route.path if route else "unmatched"
    started = time.perf_counter()
    status = 500
    with _tracer.start_as_current_span(f"{request.method} {name}"):
        try:
            response: web.StreamResponse = await handler(request)
            status = response.status
            return response
        finally:
            REQUESTS.labels(request.method, name, str(status)).inc()
            LATENCY.labels(name).observe(time.perf_counter() - started)


@web.middleware
async def errors_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Every failure leaves as `{"error": {code, message, details}}`; never a traceback.

    Error responses of authenticated requests keep their `X-RateLimit-*` headers too.
    """
    response = await _enveloped(request, handler)
    if (limits := request.get(RATE_HEADERS)) is not None:
        response.headers.update(limits)
    return response


async def _enveloped(request: web.Request, handler: Any) -> web.StreamResponse:
    request_id = request.headers.get("X-Request-ID", "")[:64] or new_id()
    structlog.contextvars.bind_contextvars(request_id=request_id)
    try:
        response: web.StreamResponse = await handler(request)
        response.headers["X-Request-ID"] = request_id
        return response
    except RampartError as err:
        if err.http_status >= 500:
            log.warning("gateway.request.failed", path=request.path, code=err.code,
                        error=err.message)
        return error_response(err, request_id)
    except web.HTTPException as exc:
        if exc.status == 404:
            return error_response(NotFound(f"No route for {request.method} {request.path}"),
                                  request_id)
        if exc.status == 405:
            not_allowed = ValidationFailed(f"Method {request.method} not allowed on {request.path}")
            resp = error_response(not_allowed, request_id)
            resp.set_status(405)
            return resp
        if exc.status == 413:
            return error_response(PayloadTooLarge("Request body too large"), request_id)
        raise
    except (TimeoutError, ConnectionError) as exc:
        log.warning("gateway.request.backend_unavailable", path=request.path, error=str(exc))
        return error_response(ServiceUnavailable(), request_id)
    except Exception:
        log.exception("gateway.request.crashed", path=request.path)
        return error_response(InternalError(), request_id)
    finally:
        structlog.contextvars.unbind_contextvars("request_id")


@web.middleware
async def auth_middleware(request: web.Request, handler: Any) -> web.StreamResponse:
    """Authenticate, check the route's scope, spend a rate-limit token, set the headers."""
    route = route_of(request)
    if route is None or route.need is None:
        passed: web.StreamResponse = await handler(request)
        return passed
    guard = request.app[GUARD]
    if guard.authenticator is None or guard.limiter is None:
        raise ServiceUnavailable("The gateway is starting; retry shortly")
    who = await guard.authenticator.authenticate(request.headers.get("Authorization"))
    limiter = guard.limiter
    try:
        decision = await limiter.check(who)
    except RateLimited as err:
        resp = error_response(err, request.headers.get("X-Request-ID", ""))
        resp.headers.update({
            "X-RateLimit-Limit": str(who.rate_limit_per_min),
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + err.retry_after),
        })
        return resp
    headers = {
        "X-RateLimit-Limit": str(decision.limit),
        "X-RateLimit-Remaining": str(decision.remaining),
        "X-RateLimit-Reset": str(decision.reset_epoch),
    }
    if not allows(who.scope, route.need):
        forbidden = Forbidden(
            f"This API key has scope '{who.scope}'; this call needs "
            f"{'admin' if route.need == 'admin' else 'read-write'}",
            {"scope": who.scope, "required": route.need},
        )
        resp = error_response(forbidden, request.headers.get("X-Request-ID", ""))
        resp.headers.update(headers)
        return resp
    request[PRINCIPAL] = who
    request[RATE_HEADERS] = headers
    if guard.authenticator.should_touch(who.key_id):
        request.app[TOUCH](who.key_id)
    response: web.StreamResponse = await handler(request)
    response.headers.update(headers)
    return response


async def read_json(request: web.Request, model: type[BaseModel] | None = None,
                    *, allow_empty: bool = True, limit: int | None = None) -> Any:
    """Parse a JSON body within the size limit; validate it into `model` when given."""
    limit = limit or request.app[MAX_JSON_BYTES]
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"JSON body larger than {limit} bytes")
    raw = bytearray()  # read() returns what has arrived so far: loop to the end or the limit
    while len(raw) <= limit and (chunk := await request.content.read(limit + 1 - len(raw))):
        raw += chunk
    if len(raw) > limit:
        raise PayloadTooLarge(f"JSON body larger than {limit} bytes")
    if not raw.strip():
        if not allow_empty and model is not None:
            raise ValidationFailed("A JSON body is required")
        data: Any = {}
    else:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ValidationFailed(f"Body is not valid JSON: {exc}") from None
    if model is None:
        return data
    if not isinstance(data, dict):
        raise ValidationFailed("Body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:8]
        ]
        raise ValidationFailed("; ".join(problems), {"fields": problems}) from None
