"""Route table: each route's scope and models drive both routing and the OpenAPI document."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel

from .domain import Need

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Envelope = Literal["object", "list", "items", "plain", "none"]


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    need: Need | None  # None: no API key needed
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    envelope: Envelope = "object"
    list_key: str = "data"
    query: tuple[tuple[str, str, str], ...] = ()  # (name, type, description)
    status: int = 200
    errors: tuple[int, ...] = field(default=(400, 401, 403, 404, 429, 503))


ROUTES_KEY = web.AppKey("routes", list)
ROUTE_BY_HANDLER = web.AppKey("route_by_handler", dict)


def install(app: web.Application, routes: list[Route]) -> None:
    """Register routes in the given order (specific paths first, as the wire contract needs)."""
    by_handler: dict[Any, Route] = {}
    for route in routes:
        resource_route = app.router.add_route(route.method, route.path, route.handler)
        by_handler[resource_route] = route
    app[ROUTES_KEY] = routes
    app[ROUTE_BY_HANDLER] = by_handler


def route_of(request: web.Request) -> Route | None:
    table: dict[Any, Route] = request.app[ROUTE_BY_HANDLER]
    return table.get(request.match_info.route)
