"""Response envelopes of the two API families and the pagination parameters."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from rampart_contracts.errors import ValidationFailed

MAX_LIMIT = 100


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> web.Response:
    return web.Response(
        body=orjson.dumps(body, option=orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def pagination(total: int, limit: int, offset: int) -> dict[str, Any]:
    return {"total": total, "limit": limit, "offset": offset, "has_more": offset + limit < total}


def page_params(request: web.Request, default_limit: int = 50) -> tuple[int, int]:
    """`limit` (1..100) and `offset` (>= 0); anything else is a VALIDATION_ERROR."""
    return (
        int_param(request, "limit", default_limit, 1, MAX_LIMIT),
        int_param(request, "offset", 0, 0, 10_000_000),
    )


def int_param(request: web.Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValidationFailed(f"'{name}' must be an integer", {name: raw}) from None
    if not low <= value <= high:
        raise ValidationFailed(f"'{name}' must be between {low} and {high}", {name: value})
    return value


def bool_param(request: web.Request, name: str, default: bool = False) -> bool:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in ("true", "1", "yes"):
        return True
    if raw.lower() in ("false", "0", "no"):
        return False
    raise ValidationFailed(f"'{name}' must be true or false", {name: raw})


def str_param(request: web.Request, name: str, max_len: int = 200) -> str | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return None
    if len(raw) > max_len:
        raise ValidationFailed(f"'{name}' is longer than {max_len} characters")
    return raw


def sdk_object(data: Any, status: int = 200) -> web.Response:
    return json_response({"data": data}, status)


def raw_object(data_json: bytes, status: int = 200) -> web.Response:
    """`{"data": <already encoded JSON>}` without decoding and re-encoding it."""
    return web.Response(body=b'{"data":' + data_json + b"}", status=status,
                        content_type="application/json")


def sdk_list(items: list[Any], total: int, limit: int, offset: int) -> web.Response:
    """`{"data": {"data": [...], "pagination": {...}}}` — what the released SDK reads."""
    return json_response({"data": {"data": items, "pagination": pagination(total, limit, offset)}})


def public_list(items: list[Any], total: int, limit: int, offset: int) -> web.Response:
    """`{"data": [...], "pagination": {...}}` — the REST conventions of seed 001."""
    return json_response({"data": items, "pagination": pagination(total, limit, offset)})
