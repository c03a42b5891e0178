"""Jobs: status of long-running work, kept current from `job_*` events."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp import web

from ..envelopes import sdk_object
from ..middleware import principal
from ..repository import GatewayRepository
from ..routing import Route
from ..schemas import JobOut
from ..state import RUNTIME


def job_out(row: asyncpg.Record) -> dict[str, Any]:
    import orjson

    return JobOut(
        job_id=str(row["id"]), status=row["status"], workflow_name=row["workflow_name"],
        asset_id=row["asset_id"], progress=row["progress"], message=row["message"],
        error=row["error"], result=orjson.loads(row["result"]) if row["result"] else None,
        created_at=row["created_at"], started_at=row["started_at"],
        completed_at=row["completed_at"],
    ).model_dump(mode="json")


async def get_job(request: web.Request) -> web.Response:
    row = await GatewayRepository(request.app[RUNTIME].pool).get_job(
        principal(request).org_id, request.match_info["job_id"]
    )
    return sdk_object(job_out(row))


ROUTES = [
    Route("GET", "/api/v1/sdk/jobs/{job_id}", get_job, "read", "Status of an async job", "jobs",
          response=JobOut),
    Route("GET", "/api/v1/jobs/{job_id}", get_job, "read", "Status of an async job (public)",
          "jobs", response=JobOut),
]
