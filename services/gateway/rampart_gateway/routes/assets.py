"""Assets: the SDK family under `/api/v1/sdk/assets` and the public `/api/v1/assets`."""

from __future__ import annotations

import uuid
from typing import Any

from aiohttp import web

from rampart_contracts.commands import DiscoverAsset
from rampart_contracts.errors import AssetNotFound
from rampart_contracts.lineage import AssetContext
from rampart_contracts.queries import CreateAsset, GetAsset, ListAssets, TestConnection

from ..envelopes import page_params, public_list, sdk_list, sdk_object, str_param
from ..middleware import principal, read_json
from ..repository import GatewayRepository
from ..routing import Route
from ..schemas import AssetCreateBody, AssetOut, ConnectionTestOut, DiscoveryJobOut
from ..state import RUNTIME

TEST_CONNECTION_TIMEOUT_S = 75.0  # the connection's own timeout is at most 60 s
MAX_REF_LEN = 500  # GetAsset.ref's limit; the quality service resolves nothing longer either


def asset_out(view: dict[str, Any]) -> dict[str, Any]:
    """Add the seed's public field names to the SDK's asset shape."""
    return AssetOut(
        **view, source=view.get("source_type"), database=view.get("database_name")
    ).model_dump(mode="json")


async def _list(request: web.Request) -> tuple[list[dict[str, Any]], int, int, int]:
    limit, offset = page_params(request)
    page = await request.app[RUNTIME].bus.request(ListAssets(
        org_id=principal(request).org_id, limit=limit, offset=offset,
        source=str_param(request, "source"), asset_type=str_param(request, "asset_type"),
        search=str_param(request, "search"),
    ))
    return [asset_out(a) for a in page["items"]], page["total"], limit, offset


async def sdk_list_assets(request: web.Request) -> web.Response:
    return sdk_list(*await _list(request))


async def public_list_assets(request: web.Request) -> web.Response:
    return public_list(*await _list(request))


def asset_ref(request: web.Request) -> str:
    """The `{asset_id}` path value; one too long to name any asset is simply not found."""
    ref = request.match_info["asset_id"]
    if len(ref) > MAX_REF_LEN:
        raise AssetNotFound("Asset not found", {"asset_id": ref[:64] + "..."})
    return ref


async def asset_context(request: web.Request) -> AssetContext:
    """Resolve `{asset_id}` (any accepted form) to the asset a lineage request is about."""
    view = await request.app[RUNTIME].bus.request(
        GetAsset(org_id=principal(request).org_id, ref=asset_ref(request)))
    return AssetContext(asset_id=view["id"], qualified_name=view["qualified_name"],
                        source_type=view["source_type"], database_name=view["database_name"])


async def get_asset(request: web.Request) -> web.Response:
    view = await request.app[RUNTIME].bus.request(
        GetAsset(org_id=principal(request).org_id, ref=asset_ref(request))
    )
    return sdk_object(asset_out(view))


async def create_asset(request: web.Request) -> web.Response:
    body = await read_json(request, AssetCreateBody, allow_empty=False)
    view = await request.app[RUNTIME].bus.request(CreateAsset(
        org_id=principal(request).org_id, name=body.name, source_type=body.source_type,
        connection_config=body.connection_config, description=body.description,
    ))
    return sdk_object(asset_out(view), status=201)


async def test_connection(request: web.Request) -> web.Response:
    result = await request.app[RUNTIME].bus.request(
        TestConnection(org_id=principal(request).org_id, ref=asset_ref(request)),
        timeout=TEST_CONNECTION_TIMEOUT_S,
    )
    return sdk_object(ConnectionTestOut(**result).model_dump(mode="json"))


async def discover(request: web.Request) -> web.Response:
    """Queue a discovery job: the job row and the command commit together (outbox)."""
    runtime = request.app[RUNTIME]
    who = principal(request)
    view = await runtime.bus.request(GetAsset(org_id=who.org_id, ref=asset_ref(request)))
    job_id = str(uuid.uuid4())
    command = DiscoverAsset(org_id=who.org_id, asset_id=view["id"], job_id=job_id,
                            correlation_id=job_id)
    async with runtime.uow() as uow:
        job = await GatewayRepository(uow.conn).insert_job(
            who.org_id, job_id, "asset_discovery", view["id"]
        )
        await uow.publish(runtime.bus.subjects.command(command.SERVICE, command.VERB), command)
        await uow.commit()
    out = DiscoveryJobOut(job_id=job_id, asset_id=view["id"], started_at=job["created_at"])
    return sdk_object(out.model_dump(mode="json"), status=202)


_LIST_QUERY = (("limit", "integer", "1-100, default 50"), ("offset", "integer", ">= 0"),
               ("source", "string", "Source type, e.g. postgresql"),
               ("asset_type", "string", "Asset type filter"),
               ("search", "string", "Substring of name, qualified name or description"))

ROUTES = [
    Route("GET", "/api/v1/sdk/assets", sdk_list_assets, "read", "List assets", "assets",
          response=AssetOut, envelope="list", query=_LIST_QUERY),
    Route("POST", "/api/v1/sdk/assets", create_asset, "write", "Register a data source",
          "assets", body=AssetCreateBody, response=AssetOut, status=201),
    Route("GET", "/api/v1/sdk/assets/{asset_id}", get_asset, "read",
          "Get an asset by UUID, UUID prefix or qualified name", "assets", response=AssetOut),
    Route("POST", "/api/v1/sdk/assets/{asset_id}/test-connection", test_connection, "write",
          "Connect to the source (read-only, with a timeout) and report", "assets",
          response=ConnectionTestOut),
    Route("POST", "/api/v1/sdk/assets/{asset_id}/discover", discover, "write",
          "Start a discovery job", "assets", response=DiscoveryJobOut, status=202),
    Route("GET", "/api/v1/assets", public_list_assets, "read", "List assets (public REST)",
          "assets", response=AssetOut, envelope="plain", query=_LIST_QUERY),
    Route("POST", "/api/v1/assets", create_asset, "write", "Register a data source (public REST)",
          "assets", body=AssetCreateBody, response=AssetOut, status=201),
    Route("GET", "/api/v1/assets/{asset_id}", get_asset, "read", "Get an asset (public REST)",
          "assets", response=AssetOut),
]
