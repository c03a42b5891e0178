"""The API's self-description: `/api/v1/openapi.json` and a human docs page."""

from __future__ import annotations

import html

from aiohttp import web

from ..envelopes import json_response
from ..openapi import build_openapi
from ..routing import ROUTES_KEY, Route

_DOCUMENT: dict[int, web.Response] = {}


async def openapi_json(request: web.Request) -> web.Response:
    """Built once per route table (the routes do not change while the process runs)."""
    routes = request.app[ROUTES_KEY]
    cached = _DOCUMENT.get(id(routes))
    if cached is None:
        cached = _DOCUMENT[id(routes)] = json_response(build_openapi(routes))
    return web.Response(body=cached.body, content_type="application/json")


async def docs_page(request: web.Request) -> web.Response:
    rows = []
    for route in request.app[ROUTES_KEY]:
        scope = {"read": "read-only", "write": "read-write", "admin": "admin", None: "none"}[
            route.need]
        rows.append(
            f"<tr><td><code>{route.method}</code></td><td><code>{html.escape(route.path)}</code>"
            f"</td><td>{scope}</td><td>{html.escape(route.summary)}</td></tr>"
        )
    body = (
        "<!doctype html><html><head><meta charset='utf-8'><title>Rampart API</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;"
        "border-bottom:1px solid #ddd;text-align:left}</style></head><body>"
        "<h1>Rampart API</h1><p>Authenticate with <code>Authorization: Bearer aa_live_…</code>. "
        "Errors: <code>{\"error\": {\"code\", \"message\", \"details\"}}</code>. "
        "Lists take <code>limit</code> (≤ 100) and <code>offset</code>. "
        "Machine-readable: <a href='/api/v1/openapi.json'>openapi.json</a>.</p>"
        "<table><tr><th>Method</th><th>Path</th><th>Scope</th><th>What</th></tr>"
        + "".join(rows) + "</table></body></html>"
    )
    return web.Response(text=body, content_type="text/html")


ROUTES = [
    Route("GET", "/api/v1/openapi.json", openapi_json, None, "OpenAPI 3.1 document", "meta"),
    Route("GET", "/api/v1/docs", docs_page, None, "Human-readable API reference", "meta"),
]
