"""Getting lineage in: dbt manifest upload, dbt Cloud sync (seed 000) and OpenLineage events."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from aiohttp import BodyPartReader, web

from rampart_contracts.commands import DiscoverAsset
from rampart_contracts.envelope import Command
from rampart_contracts.errors import PayloadTooLarge, ValidationFailed, from_wire
from rampart_contracts.lineage import AssetContext, IngestManifest, IngestOpenLineage, SyncDbtCloud
from rampart_runtime.blobs import put_blob

from ..envelopes import bool_param, json_response, sdk_object
from ..middleware import principal, read_json
from ..repository import GatewayRepository
from ..routing import Route
from ..schemas_lineage import DbtCloudSyncBody, LineageJobOut, LineageSyncOut
from ..state import BOX, RUNTIME, SETTINGS, WAITER
from .assets import asset_context

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


async def _read_upload(request: web.Request, limit: int) -> tuple[bytes, bool]:
    """The `file` part (at most `limit` bytes) and `sync_to_catalog` of a multipart form."""
    if not request.content_type.startswith("multipart/"):
        raise ValidationFailed("send the manifest as multipart/form-data with a 'file' field "
                               "(curl -F file=@target/manifest.json)")
    if request.content_length is not None and request.content_length > limit + 64 * 1024:
        raise PayloadTooLarge(f"manifest larger than the {limit // (1024 * 1024)} MB limit")
    reader = await request.multipart()
    data: bytes | None = None
    sync = True
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue
        if part.name == "file":
            buf = bytearray()
            while chunk := await part.read_chunk(1024 * 1024):
                buf += chunk
                if len(buf) > limit:
                    raise PayloadTooLarge(
                        f"manifest larger than the {limit // (1024 * 1024)} MB limit",
                        {"limit_bytes": limit})
            data = bytes(buf)
        elif part.name == "sync_to_catalog":
            value = (await part.text()).strip().lower()
            if value not in _TRUE | _FALSE:
                raise ValidationFailed("sync_to_catalog must be true or false")
            sync = value in _TRUE
    if data is None:
        raise ValidationFailed("the form has no 'file' field with the manifest")
    if not data.strip():
        raise ValidationFailed("the uploaded manifest is empty")
    return data, sync


async def _start(request: web.Request, asset: AssetContext, command: Command, workflow: str,
                 sync_to_catalog: bool) -> web.Response:
    """Commit the job(s) and command(s) together, then wait for the answer (or answer 202)."""
    runtime, waiter = request.app[RUNTIME], request.app[WAITER]
    who = principal(request)
    job_id = command.job_id  # type: ignore[attr-defined]
    catalog_job = str(uuid.uuid4()) if sync_to_catalog else None
    waiter.expect(job_id)
    try:
        async with runtime.uow() as uow:
            repo = GatewayRepository(uow.conn)
            await repo.insert_job(who.org_id, job_id, workflow, asset.asset_id)
            await uow.publish(runtime.bus.subjects.command(command.SERVICE, command.VERB), command)
            if catalog_job is not None:
                await repo.insert_job(who.org_id, catalog_job, "asset_discovery", asset.asset_id)
                discover = DiscoverAsset(org_id=who.org_id, asset_id=asset.asset_id,
                                         job_id=catalog_job, correlation_id=job_id)
                await uow.publish(runtime.bus.subjects.command("quality", "discover"), discover)
            await uow.commit()
    except BaseException:
        waiter.forget(job_id)
        raise
    wait_s = 0.0 if bool_param(request, "async") else request.app[SETTINGS].sync_wait_s
    event = await waiter.wait(job_id, wait_s) if wait_s > 0 else None
    if event is None:
        waiter.forget(job_id)
        out = LineageJobOut(job_id=job_id, status="running", asset_id=asset.asset_id,
                            catalog_sync_job_id=catalog_job)
        return sdk_object(out.model_dump(mode="json"), status=202)
    await _record_outcome(request, event)
    if event.get("type") == "job_failed":
        raise from_wire(event.get("error_code", "INTERNAL_ERROR"), event.get("error", ""),
                        {**event.get("details", {}), "job_id": job_id})
    result: dict[str, Any] = event.get("result") or {}
    out_ok = LineageSyncOut(**{**result, "catalog_sync_job_id": catalog_job, "job_id": job_id})
    return sdk_object(out_ok.model_dump(mode="json"))


async def _record_outcome(request: web.Request, event: dict[str, Any]) -> None:
    """Apply the job's final event to the jobs table now, so GET /sdk/jobs agrees with this
    answer at once (the durable job consumer applies it again; that is idempotent)."""
    try:
        await GatewayRepository(request.app[RUNTIME].pool).apply_job_event(
            org_id=principal(request).org_id, job_id=str(event["job_id"]), kind=event["type"],
            at=datetime.fromisoformat(str(event["occurred_at"]).replace("Z", "+00:00")),
            asset_id=event.get("asset_id"), result=event.get("result"),
            error=event.get("error"))
    except (KeyError, ValueError):
        return


async def upload(request: web.Request) -> web.Response:
    """`POST /assets/{asset_id}/lineage/upload` with `-F file=@manifest.json`."""
    asset = await asset_context(request)
    data, sync = await _read_upload(request, request.app[SETTINGS].max_manifest_bytes)
    runtime = request.app[RUNTIME]
    blob = await put_blob(runtime.bus.js, runtime.bus.subjects, data)
    del data
    job_id = str(uuid.uuid4())
    command = IngestManifest(org_id=principal(request).org_id, asset_id=asset.asset_id,
                             job_id=job_id, asset=asset, blob=blob, correlation_id=job_id)
    return await _start(request, asset, command, "lineage_manifest_upload", sync)


async def dbt_cloud_sync(request: web.Request) -> web.Response:
    """Pull the newest successful run's manifest; the token travels sealed and is not kept."""
    asset = await asset_context(request)
    body = await read_json(request, DbtCloudSyncBody, allow_empty=False)
    for name in ("account_id", "job_id"):
        if not str(getattr(body, name)).isdigit():
            raise ValidationFailed(f"{name} must be the numeric dbt Cloud id", {"field": name})
    token = body.api_token.get_secret_value().strip()
    if not token:
        raise ValidationFailed("api_token must not be empty")
    sealed = request.app[BOX].seal(token.encode()).decode()
    job_id = str(uuid.uuid4())
    command = SyncDbtCloud(org_id=principal(request).org_id, asset_id=asset.asset_id,
                           job_id=job_id, asset=asset, account_id=body.account_id,
                           dbt_job_id=body.job_id, access_url=body.access_url,
                           sealed_token=sealed, correlation_id=job_id)
    sync = request.query.get("sync_to_catalog", "false").lower() in _TRUE
    return await _start(request, asset, command, "lineage_dbt_cloud_sync", sync)


async def openlineage(request: web.Request) -> web.Response:
    """OpenLineage 2-0-2 RunEvent, DatasetEvent or JobEvent (gzip bodies are accepted)."""
    event = await read_json(request, None, allow_empty=False,
                            limit=request.app[SETTINGS].max_openlineage_bytes)
    if not isinstance(event, dict):
        raise ValidationFailed("an OpenLineage event must be a JSON object")
    result = await request.app[RUNTIME].bus.request(
        IngestOpenLineage(org_id=principal(request).org_id, event=event))
    return json_response({"data": result}, status=201)


ROUTES = [
    Route("POST", "/api/v1/assets/{asset_id}/lineage/upload", upload, "write",
          "Upload a dbt manifest.json (multipart: file, sync_to_catalog)", "lineage",
          response=LineageSyncOut, errors=(400, 401, 403, 404, 413, 429, 503)),
    Route("POST", "/api/v1/assets/{asset_id}/lineage/dbt-cloud/sync", dbt_cloud_sync, "write",
          "Ingest the manifest of a dbt Cloud job's newest successful run", "lineage",
          body=DbtCloudSyncBody, response=LineageSyncOut),
    Route("POST", "/api/v1/lineage", openlineage, "write",
          "Ingest an OpenLineage event (RunEvent, DatasetEvent, JobEvent)", "lineage",
          status=201, errors=(400, 401, 403, 413, 429, 503)),
]
