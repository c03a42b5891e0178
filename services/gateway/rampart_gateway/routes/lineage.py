"""Reading and hand-editing lineage: graph, list, impact, manual nodes and edges, sources."""

from __future__ import annotations

from aiohttp import web

from rampart_contracts.errors import ValidationFailed
from rampart_contracts.lineage import (
    CreateLineageEdge,
    CreateLineageNode,
    DeleteLineageRecord,
    DeleteLineageSource,
    GetLineage,
    LineageImpact,
    ListLineage,
    ListLineageRecords,
)

from ..envelopes import (
    bool_param,
    int_param,
    page_params,
    public_list,
    raw_object,
    sdk_list,
    sdk_object,
    str_param,
)
from ..middleware import principal, read_json
from ..routing import Route
from ..schemas_lineage import (
    EdgeCreateBody,
    ImpactOut,
    LineageGraphView,
    LineageNodeView,
    NodeCreateBody,
)
from ..state import RUNTIME
from .assets import asset_context

_SOURCES = ("dbt", "manual", "openlineage")


def _direction(request: web.Request) -> str:
    direction = request.query.get("direction", "both")
    if direction not in ("upstream", "downstream", "both"):
        raise ValidationFailed("direction must be upstream, downstream or both",
                               {"direction": direction})
    return direction


def _tristate(request: web.Request, name: str) -> bool | None:
    return bool_param(request, name) if request.query.get(name) not in (None, "") else None


async def sdk_get(request: web.Request) -> web.Response:
    """`GET /sdk/lineage/{asset_id}`: a node id, qualified name or dbt unique_id."""
    graph = await request.app[RUNTIME].bus.request_raw(GetLineage(
        org_id=principal(request).org_id, ref=request.match_info["asset_id"],
        depth=int_param(request, "depth", 1, 1, 5), direction=_direction(request)))
    return raw_object(graph)


async def _list(request: web.Request) -> tuple[list[dict[str, object]], int, int, int]:
    limit, offset = page_params(request)
    page = await request.app[RUNTIME].bus.request(ListLineage(
        org_id=principal(request).org_id, source=str_param(request, "source"),
        has_upstream=_tristate(request, "has_upstream"),
        has_downstream=_tristate(request, "has_downstream"),
        search=str_param(request, "search"), limit=limit, offset=offset))
    return page["items"], page["total"], limit, offset


async def sdk_list_lineage(request: web.Request) -> web.Response:
    return sdk_list(*await _list(request))


async def public_graph(request: web.Request) -> web.Response:
    """`GET /assets/{asset_id}/lineage?node=…`: the graph around a node of the asset."""
    await asset_context(request)
    node = request.query.get("node")
    if not node:
        raise ValidationFailed("give the node to start from: ?node=<qualified name or unique_id>")
    graph = await request.app[RUNTIME].bus.request_raw(GetLineage(
        org_id=principal(request).org_id, ref=node,
        depth=int_param(request, "depth", 1, 1, 5), direction=_direction(request)))
    return raw_object(graph)


async def impact(request: web.Request) -> web.Response:
    asset = await asset_context(request)
    node = request.query.get("node")
    if not node:
        raise ValidationFailed("give the node whose change you plan: ?node=<unique_id or name>")
    result = await request.app[RUNTIME].bus.request(LineageImpact(
        org_id=principal(request).org_id, asset=asset, node=node,
        depth=int_param(request, "depth", 10, 1, 50),
        deadline_ms=int_param(request, "deadline_ms", 2000, 10, 30000)), timeout=35)
    return sdk_object(result)


async def create_node(request: web.Request) -> web.Response:
    asset = await asset_context(request)
    body = await read_json(request, NodeCreateBody, allow_empty=False)
    result = await request.app[RUNTIME].bus.request(CreateLineageNode(
        org_id=principal(request).org_id, asset=asset, unique_id=body.unique_id,
        name=body.name, resource_type=body.resource_type, schema_name=body.schema_name,
        database=body.database, description=body.description, owner=body.owner, tags=body.tags))
    return sdk_object(result, status=201 if result.get("created") else 200)


async def create_edge(request: web.Request) -> web.Response:
    asset = await asset_context(request)
    body = await read_json(request, EdgeCreateBody, allow_empty=False)
    result = await request.app[RUNTIME].bus.request(CreateLineageEdge(
        org_id=principal(request).org_id, asset=asset, parent_unique_id=body.parent_unique_id,
        child_unique_id=body.child_unique_id, relationship_type=body.relationship_type))
    return sdk_object(result, status=201 if result.get("created") else 200)


def _records(kind: str):  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.Response:
        asset = await asset_context(request)
        limit, offset = page_params(request)
        source = str_param(request, "source")
        if source is not None and source not in _SOURCES:
            raise ValidationFailed("source must be dbt, manual or openlineage")
        page = await request.app[RUNTIME].bus.request(ListLineageRecords(
            org_id=principal(request).org_id, asset=asset, kind=kind, source=source,
            limit=limit, offset=offset))
        return public_list(page["items"], page["total"], limit, offset)

    return handler


async def delete_node(request: web.Request) -> web.Response:
    asset = await asset_context(request)
    result = await request.app[RUNTIME].bus.request(DeleteLineageRecord(
        org_id=principal(request).org_id, asset=asset, kind="nodes",
        unique_id=request.match_info["unique_id"]))
    return sdk_object(result)


async def delete_edge(request: web.Request) -> web.Response:
    asset = await asset_context(request)
    result = await request.app[RUNTIME].bus.request(DeleteLineageRecord(
        org_id=principal(request).org_id, asset=asset, kind="edges",
        parent_unique_id=request.match_info["parent_unique_id"],
        child_unique_id=request.match_info["child_unique_id"]))
    return sdk_object(result)


async def delete_source(request: web.Request) -> web.Response:
    """`DELETE /assets/{asset_id}/lineage/source/{source}`: one source, nothing else."""
    source = request.match_info["source"]
    if source not in _SOURCES:
        raise ValidationFailed("source must be dbt, manual or openlineage", {"source": source})
    asset = await asset_context(request)
    result = await request.app[RUNTIME].bus.request(DeleteLineageSource(
        org_id=principal(request).org_id, asset=asset, source=source))
    return sdk_object(result)


_GRAPH_QUERY = (("direction", "string", "upstream, downstream or both (default)"),
                ("depth", "integer", "1-5, default 1"))
_PAGE = (("limit", "integer", "1-100"), ("offset", "integer", ">= 0"))
_A = "/api/v1/assets/{asset_id}/lineage"

ROUTES = [
    Route("GET", "/api/v1/sdk/lineage", sdk_list_lineage, "read", "Nodes with lineage",
          "lineage", response=LineageNodeView, envelope="list",
          query=(*_PAGE, ("source", "string", "dbt, manual, openlineage or a source type"),
                 ("has_upstream", "boolean", ""), ("has_downstream", "boolean", ""),
                 ("search", "string", "Substring of the qualified name"))),
    Route("GET", "/api/v1/sdk/lineage/{asset_id}", sdk_get, "read",
          "Upstream and downstream of a node", "lineage", response=LineageGraphView,
          query=_GRAPH_QUERY),
    Route("GET", _A, public_graph, "read", "Lineage graph around a node of the asset",
          "lineage", response=LineageGraphView,
          query=(("node", "string", "Qualified name, unique_id or node id"), *_GRAPH_QUERY)),
    Route("GET", _A + "/impact", impact, "read",
          "Everything downstream of a node, with distance, owner and monitoring", "lineage",
          response=ImpactOut, query=(("node", "string", "The node you plan to change"),
                                     ("depth", "integer", "1-50, default 10"),
                                     ("deadline_ms", "integer", "Answer partial after this"))),
    Route("POST", _A + "/nodes", create_node, "write", "Create or update a manual node",
          "lineage", body=NodeCreateBody, status=201),
    Route("GET", _A + "/nodes", _records("nodes"), "read", "Lineage nodes stored for the asset",
          "lineage", envelope="plain", query=(*_PAGE, ("source", "string", ""))),
    Route("DELETE", _A + "/nodes/{unique_id}", delete_node, "write", "Delete a manual node",
          "lineage"),
    Route("POST", _A + "/edges", create_edge, "write", "Create a manual edge", "lineage",
          body=EdgeCreateBody, status=201),
    Route("GET", _A + "/edges", _records("edges"), "read", "Lineage edges stored for the asset",
          "lineage", envelope="plain", query=(*_PAGE, ("source", "string", ""))),
    Route("DELETE", _A + "/edges/{parent_unique_id}/{child_unique_id}", delete_edge, "write",
          "Delete a manual edge", "lineage"),
    Route("DELETE", _A + "/source/{source}", delete_source, "write",
          "Delete all lineage of one source (dbt, manual or openlineage)", "lineage"),
]
