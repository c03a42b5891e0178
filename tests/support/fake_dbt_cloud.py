"""A local fake of the two dbt Cloud v2 endpoints the lineage service uses, for tests.

    async with start_fake_dbt_cloud("dbtc_x", runs=[{"id": 7, "job_definition_id": 67890,
            "status": 10, "finished_at": "2024-05-01 10:00:00+00:00"}],
            artifacts={7: b"{...}"}) as fake:
        ... fetch from fake.url ...
        assert fake.requests[0].path == "/api/v2/accounts/12345/runs/"

Implements `GET /api/v2/accounts/{account_id}/runs/` (filters `job_definition_id`,
`status__in`, `order_by` on `id`, `limit`, `offset`) and
`GET /api/v2/accounts/{account_id}/runs/{run_id}/artifacts/manifest.json` (the raw bytes), with
dbt Cloud's error envelope. `Authorization: Token <t>` or `Bearer <t>` must carry the configured
token, else 401. Knobs (plain attributes, changeable while running): `delay_s`, `runs_status`,
`artifact_status`, `runs_body`, `redirect_to`, `chunked_artifacts`, and `serve_oversized()`.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from multidict import CIMultiDict, MultiDict

RUNS_PATH = "/api/v2/accounts/{account_id}/runs/"
ARTIFACT_PATH = "/api/v2/accounts/{account_id}/runs/{run_id}/artifacts/manifest.json"


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    query: MultiDict[str]  # decoded
    raw_query: str  # as sent, still percent-encoded
    headers: CIMultiDict[str]


@dataclass
class FakeDbtCloud:
    token: str
    runs: list[dict[str, Any]]
    artifacts: dict[int, bytes]
    account_id: str = "12345"
    url: str = ""  # http://127.0.0.1:<port>, set once started
    requests: list[RecordedRequest] = field(default_factory=list)
    # Knobs.
    delay_s: float = 0.0  # sleep before answering any request
    runs_status: int | None = None  # answer the runs endpoint with this status (error envelope)
    artifact_status: int | None = None  # same for the artifact endpoint
    runs_body: tuple[bytes, str] | None = None  # (body, content type) served with runs_status or 200
    user_message: str | None = None  # user_message of forced errors
    redirect_to: str | None = None  # answer every request with 302 to this URL + path
    chunked_artifacts: bool = False  # stream artifacts without Content-Length
    oversized: dict[int, int] = field(default_factory=dict)  # run id -> bytes streamed
    _closing: asyncio.Event = field(default_factory=asyncio.Event)

    def serve_oversized(self, run_id: int, size: int) -> None:
        """Make run `run_id`'s artifact a JSON-looking stream of `size` bytes, never held whole
        in memory; sent chunked unless `chunked_artifacts` is False and then with Content-Length."""
        self.oversized[run_id] = size

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]

    # -- handlers ---------------------------------------------------------------------------

    async def _before(self, request: web.Request) -> web.StreamResponse | None:
        self.requests.append(RecordedRequest(
            method=request.method,
            path=request.path,
            query=MultiDict(request.query),
            raw_query=request.raw_path.partition("?")[2],
            headers=CIMultiDict(request.headers),
        ))
        if self.delay_s > 0:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), self.delay_s)
        if self.redirect_to is not None:
            raise web.HTTPFound(self.redirect_to.rstrip("/") + request.path_qs)
        auth = request.headers.get("Authorization", "")
        scheme, _, value = auth.partition(" ")
        if scheme.lower() not in ("token", "bearer") or value != self.token:
            return _envelope(401, "Invalid token")
        if request.match_info["account_id"] != self.account_id:
            return _envelope(404, "Resource not found")
        return None

    async def _runs(self, request: web.Request) -> web.StreamResponse:
        early = await self._before(request)
        if early is not None:
            return early
        if self.runs_body is not None:
            body, content_type = self.runs_body
            return web.Response(status=self.runs_status or 200, body=body, content_type=content_type)
        if self.runs_status is not None:
            return _envelope(self.runs_status, self.user_message or "Forced error")
        q = request.query
        try:
            selected = [r for r in self.runs if _matches(r, q)]
            order = q.get("order_by", "id")
            selected.sort(key=lambda r: r["id"], reverse=order == "-id")
            offset = int(q.get("offset", "0"))
            limit = int(q.get("limit", "100"))
        except (ValueError, TypeError) as exc:
            return _envelope(400, f"Invalid filter: {exc}")
        page = selected[offset: offset + limit]
        return web.json_response({
            "status": {"code": 200, "is_success": True, "user_message": "Success!",
                       "developer_message": ""},
            "data": page,
            "extra": {
                "filters": dict(q),
                "order_by": q.get("order_by"),
                "pagination": {"count": len(page), "total_count": len(selected)},
            },
        })

    async def _artifact(self, request: web.Request) -> web.StreamResponse:
        early = await self._before(request)
        if early is not None:
            return early
        if self.artifact_status is not None:
            return _envelope(self.artifact_status, self.user_message or "Forced error")
        run_id = int(request.match_info["run_id"])
        if run_id in self.oversized:
            return await self._stream_filler(request, self.oversized[run_id])
        body = self.artifacts.get(run_id)
        if body is None:
            return _envelope(404, "Resource not found")
        if not self.chunked_artifacts:
            return web.Response(body=body, content_type="application/json")
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        for i in range(0, len(body), 65536):
            await resp.write(body[i: i + 65536])
        await resp.write_eof()
        return resp

    async def _stream_filler(self, request: web.Request, size: int) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        if self.chunked_artifacts:
            resp.enable_chunked_encoding()
        else:
            resp.content_length = size
        await resp.prepare(request)
        head = b'{"filler": "'
        sent = 0
        with suppress(ConnectionError):  # the client hangs up once it has seen enough
            await resp.write(head)
            sent = len(head)
            while sent < size - 2:
                n = min(65536, size - 2 - sent)
                await resp.write(b"x" * n)
                sent += n
            await resp.write(b'"}')
            await resp.write_eof()
        return resp


def _matches(run: Mapping[str, Any], q: Mapping[str, str]) -> bool:
    if "job_definition_id" in q and str(run.get("job_definition_id")) != q["job_definition_id"]:
        return False
    if "status__in" in q:
        wanted = json.loads(q["status__in"])
        if not isinstance(wanted, list):
            raise ValueError("status__in must be a list such as [10]")
        if run.get("status") not in wanted:
            return False
    return True


def _envelope(code: int, message: str) -> web.Response:
    """dbt Cloud's error body: `{"status": {"code", "is_success", "user_message"}, "data": null}`."""
    return web.json_response(
        {"status": {"code": code, "is_success": False, "user_message": message,
                    "developer_message": None}, "data": None},
        status=code,
    )


@asynccontextmanager
async def start_fake_dbt_cloud(
    token: str,
    runs: Iterable[Mapping[str, Any]] = (),
    artifacts: Mapping[int, bytes] | None = None,
    *,
    account_id: str = "12345",
) -> AsyncIterator[FakeDbtCloud]:
    """Serve a FakeDbtCloud on 127.0.0.1 (a free port) for the body of the `async with`."""
    fake = FakeDbtCloud(token=token, runs=[dict(r) for r in runs], artifacts=dict(artifacts or {}),
                        account_id=account_id)
    app = web.Application()
    app.router.add_get(RUNS_PATH, fake._runs)
    app.router.add_get(ARTIFACT_PATH.replace("{run_id}", "{run_id:[0-9]+}"), fake._artifact)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.url = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        fake._closing.set()
        await runner.cleanup()
