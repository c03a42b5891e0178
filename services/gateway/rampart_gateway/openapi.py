"""OpenAPI 3.1 document built from the route table and its pydantic models."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from .routing import Route
from .schemas import ErrorEnvelope, Pagination

_REF = "#/components/schemas/{model}"
_STATUS_TEXT = {400: "Invalid request (VALIDATION_ERROR)", 401: "Missing or invalid API key",
                403: "Scope too low", 404: "Not found (or another organization's)",
                409: "Conflict", 413: "Body too large", 429: "Rate limited (see Retry-After)",
                503: "A backing service is unavailable"}


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF, mode="serialization")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": _REF.format(model=model.__name__)}


def _response_schema(route: Route, components: dict[str, Any]) -> dict[str, Any]:
    item = _schema(route.response, components) if route.response else {"type": "object"}
    page = _schema(Pagination, components)
    if route.envelope == "list":
        inner = {"type": "object", "properties": {route.list_key: {"type": "array", "items": item},
                                                  "pagination": page}}
        return {"type": "object", "properties": {"data": inner}, "required": ["data"]}
    if route.envelope == "plain":
        return {"type": "object", "properties": {"data": {"type": "array", "items": item},
                                                 "pagination": page}}
    return {"type": "object", "properties": {"data": item}, "required": ["data"]}


def build_openapi(routes: list[Route], version: str = "0.1.0") -> dict[str, Any]:
    components: dict[str, Any] = {}
    error_ref = _schema(ErrorEnvelope, components)
    paths: dict[str, Any] = {}
    for route in routes:
        op: dict[str, Any] = {
            "summary": route.summary,
            "tags": [route.tag],
            "operationId": f"{route.method.lower()}_{re.sub(r'[^a-z0-9]+', '_', route.path.lower())}",
            "responses": {str(route.status): {
                "description": "Success",
                "content": {"application/json": {"schema": _response_schema(route, components)}},
            }},
        }
        params = [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
                  for n in re.findall(r"{(\w+)}", route.path)]
        params += [{"name": n, "in": "query", "required": False, "schema": {"type": t},
                    "description": d} for n, t, d in route.query]
        if params:
            op["parameters"] = params
        if route.body is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": _schema(route.body, components)}}}
        if route.need is not None:
            op["security"] = [{"bearer": []}]
            op["x-required-scope"] = {"read": "read-only", "write": "read-write",
                                      "admin": "admin"}[route.need]
            for status in route.errors:
                op["responses"][str(status)] = {
                    "description": _STATUS_TEXT.get(status, "Error"),
                    "content": {"application/json": {"schema": error_ref}},
                }
        paths.setdefault(route.path, {})[route.method.lower()] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "Rampart API", "version": version,
                 "description": "Self-hosted data observability. Errors use "
                                "`{\"error\": {\"code\", \"message\", \"details\"}}`."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer",
                       "description": "API key `aa_live_…` or `aa_test_…`"}}},
    }
