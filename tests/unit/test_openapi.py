"""The OpenAPI 3.1 document built from the gateway's route table, and the route order."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rampart_gateway.openapi import build_openapi
from rampart_gateway.routes import ALL_ROUTES

SCOPE_NAMES = {"read": "read-only", "write": "read-write", "admin": "admin"}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return build_openapi(ALL_ROUTES)


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part]
    return node


class TestDocument:
    def test_is_openapi_3_1(self, doc: dict[str, Any]) -> None:
        assert doc["openapi"] == "3.1.0"
        assert doc["info"]["title"] and doc["info"]["version"]

    def test_every_route_appears_with_its_method(self, doc: dict[str, Any]) -> None:
        for route in ALL_ROUTES:
            op = doc["paths"][route.path][route.method.lower()]
            assert op["summary"] == route.summary
            assert str(route.status) in op["responses"]
        operations = sum(len(methods) for methods in doc["paths"].values())
        assert operations == len(ALL_ROUTES)

    def test_operation_ids_are_unique(self, doc: dict[str, Any]) -> None:
        ids = [op["operationId"] for methods in doc["paths"].values() for op in methods.values()]
        assert len(ids) == len(set(ids))

    def test_every_ref_resolves_into_components(self, doc: dict[str, Any]) -> None:
        found = set(refs(doc))
        assert found, "the document should reference component schemas"
        for ref in found:
            assert ref.startswith("#/components/schemas/"), ref
            assert isinstance(resolve(doc, ref), dict)

    def test_path_parameters_are_declared(self, doc: dict[str, Any]) -> None:
        op = doc["paths"]["/api/v1/sdk/assets/{asset_id}"]["get"]
        assert {"name": "asset_id", "in": "path", "required": True,
                "schema": {"type": "string"}} in op["parameters"]

    def test_request_bodies_reference_their_model(self, doc: dict[str, Any]) -> None:
        op = doc["paths"]["/api/v1/api-keys"]["post"]
        schema = op["requestBody"]["content"]["application/json"]["schema"]
        body = resolve(doc, schema["$ref"])
        assert "name" in body["properties"] and "scope" in body["properties"]

    def test_list_routes_wrap_items_and_pagination(self, doc: dict[str, Any]) -> None:
        op = doc["paths"]["/api/v1/api-keys"]["get"]
        inner = op["responses"]["200"]["content"]["application/json"]["schema"]
        keys = inner["properties"]["data"]["properties"]
        assert keys["keys"]["type"] == "array"
        assert resolve(doc, keys["pagination"]["$ref"])["properties"]["has_more"]


class TestSecurity:
    @pytest.mark.parametrize("route", [r for r in ALL_ROUTES if r.need is not None],
                             ids=lambda r: f"{r.method} {r.path}")
    def test_protected_routes_declare_bearer_and_scope(self, doc: dict[str, Any],
                                                       route: Any) -> None:
        op = doc["paths"][route.path][route.method.lower()]
        assert op["security"] == [{"bearer": []}]
        assert op["x-required-scope"] == SCOPE_NAMES[route.need]
        for status in ("401", "403", "429"):
            error = op["responses"][status]["content"]["application/json"]["schema"]
            assert "error" in resolve(doc, error["$ref"])["properties"]

    def test_public_routes_have_no_security(self, doc: dict[str, Any]) -> None:
        public = [r for r in ALL_ROUTES if r.need is None]
        assert public, "the docs routes need no key"
        for route in public:
            op = doc["paths"][route.path][route.method.lower()]
            assert "security" not in op and "x-required-scope" not in op

    def test_bearer_scheme_is_defined(self, doc: dict[str, Any]) -> None:
        scheme = doc["components"]["securitySchemes"]["bearer"]
        assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")

    def test_key_management_needs_admin(self, doc: dict[str, Any]) -> None:
        assert doc["paths"]["/api/v1/api-keys"]["post"]["x-required-scope"] == "admin"
        assert doc["paths"]["/api/v1/api-keys/{key_id}"]["delete"]["x-required-scope"] == \
            "admin"


class TestRouteOrder:
    def test_usage_precedes_the_key_id_route(self) -> None:
        order = [(r.method, r.path) for r in ALL_ROUTES]
        usage = order.index(("GET", "/api/v1/api-keys/usage"))
        by_id = order.index(("GET", "/api/v1/api-keys/{key_id}"))
        assert usage < by_id

    def test_no_route_is_registered_twice(self) -> None:
        pairs = [(r.method, r.path) for r in ALL_ROUTES]
        assert len(pairs) == len(set(pairs))
