"""`/api/v1/api-keys`: list, create, usage, get, revoke (wire contract §2, api_keys)."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from rampart_contracts.errors import Conflict

from ..domain import TIERS, display_key, generate_key, key_prefix, key_suffix
from ..envelopes import bool_param, json_response, page_params, pagination, sdk_object
from ..middleware import principal, read_json
from ..repository import GatewayRepository
from ..routing import Route
from ..schemas import ApiKeyCreateBody, ApiKeyOut, CreatedApiKeyOut, UsageOut
from ..state import GUARD, HASHER, RUNTIME


def key_out(row: asyncpg.Record) -> dict[str, Any]:
    return ApiKeyOut(
        id=str(row["id"]), name=row["name"], key_prefix=row["key_prefix"],
        key_suffix=row["key_suffix"], display_key=display_key(row["key_prefix"], row["key_suffix"]),
        scope=row["scope"], rate_limit_per_min=row["rate_limit_per_min"],
        burst_limit=row["burst_limit"], created_at=row["created_at"],
        last_used_at=row["last_used_at"], revoked_at=row["revoked_at"],
        is_active=row["revoked_at"] is None,
    ).model_dump(mode="json")


async def create_key(
    repo: GatewayRepository, hasher: Any, *, org_id: str, name: str, scope: str,
    per_min: int | None = None, burst: int | None = None, environment: str = "live",
) -> tuple[str, asyncpg.Record]:
    """Create a key for `org_id` with its tier's limits (or explicit ones); returns the secret."""
    tier = TIERS[await repo.org_tier(org_id) or "free_trial"]
    if await repo.count_active_keys(org_id) >= tier.max_keys:
        raise Conflict(f"The {tier.name} tier allows {tier.max_keys} active keys; revoke one first",
                       {"max_keys": tier.max_keys})
    secret = generate_key("test" if environment == "test" else "live")
    row = await repo.insert_key(
        org_id=org_id, name=name, key_hash=hasher.hash(secret), key_prefix=key_prefix(secret),
        key_suffix=key_suffix(secret), scope=scope,
        rate_limit_per_min=per_min or tier.rate_limit_per_min,
        burst_limit=burst or tier.burst_limit,
    )
    return secret, row


async def list_keys(request: web.Request) -> web.Response:
    who = principal(request)
    limit, offset = page_params(request)
    rows, total = await GatewayRepository(request.app[RUNTIME].pool).list_keys(
        who.org_id, limit, offset, bool_param(request, "include_revoked")
    )
    return json_response({"data": {"keys": [key_out(r) for r in rows],
                                   "pagination": pagination(total, limit, offset)}})


async def create(request: web.Request) -> web.Response:
    who = principal(request)
    body = await read_json(request, ApiKeyCreateBody, allow_empty=False)
    secret, row = await create_key(
        GatewayRepository(request.app[RUNTIME].pool), request.app[HASHER],
        org_id=who.org_id, name=body.name, scope=body.scope,
    )
    out = CreatedApiKeyOut(**key_out(row), key=secret)
    return sdk_object(out.model_dump(mode="json"), status=201)


async def usage(request: web.Request) -> web.Response:
    who = principal(request)
    repo = GatewayRepository(request.app[RUNTIME].pool)
    tier = TIERS[await repo.org_tier(who.org_id) or "free_trial"]
    count = await repo.count_active_keys(who.org_id)
    out = UsageOut(
        current_count=count, max_keys=tier.max_keys, rate_limit_per_min=who.rate_limit_per_min,
        burst_limit=who.burst_limit, can_create=count < tier.max_keys and who.scope == "admin",
        tier=tier.name, scope=who.scope,
    )
    return sdk_object(out.model_dump(mode="json"))


async def get(request: web.Request) -> web.Response:
    row = await GatewayRepository(request.app[RUNTIME].pool).get_key(
        principal(request).org_id, request.match_info["key_id"]
    )
    return sdk_object(key_out(row))


async def revoke(request: web.Request) -> web.Response:
    """Revoke and answer with the revoked key; every replica drops it from its cache."""
    runtime = request.app[RUNTIME]
    row = await GatewayRepository(runtime.pool).revoke_key(
        principal(request).org_id, request.match_info["key_id"]
    )
    key_id = str(row["id"])
    authenticator = request.app[GUARD].authenticator
    if authenticator is not None:
        authenticator.forget(key_id)
    await runtime.bus.broadcast(runtime.bus.subjects.key_revoked, key_id.encode())
    return sdk_object(key_out(row))


ROUTES = [
    Route("GET", "/api/v1/api-keys/usage", usage, "read", "Key quota and the caller's limits",
          "api-keys", response=UsageOut),
    Route("GET", "/api/v1/api-keys", list_keys, "admin", "List API keys", "api-keys",
          response=ApiKeyOut, envelope="list", list_key="keys",
          query=(("limit", "integer", "1-100"), ("offset", "integer", ">= 0"),
                 ("include_revoked", "boolean", "Include revoked keys"))),
    Route("POST", "/api/v1/api-keys", create, "admin", "Create an API key (shown once)",
          "api-keys", body=ApiKeyCreateBody, response=CreatedApiKeyOut, status=201),
    Route("GET", "/api/v1/api-keys/{key_id}", get, "admin", "Get an API key", "api-keys",
          response=ApiKeyOut),
    Route("DELETE", "/api/v1/api-keys/{key_id}", revoke, "admin",
          "Revoke an API key; answers with the revoked key", "api-keys", response=ApiKeyOut),
]
