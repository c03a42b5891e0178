"""dbt Cloud client against a local fake of the v2 API (real HTTP on 127.0.0.1, no internet)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from support.fake_dbt_cloud import FakeDbtCloud, start_fake_dbt_cloud

from rampart_contracts.errors import (
    PayloadTooLarge,
    RampartError,
    UpstreamUnreachable,
    ValidationFailed,
)
from rampart_lineage.dbt_cloud import DEFAULT_ACCESS_URL, DbtCloudArtifact, fetch_latest_manifest

FIXTURE = Path("/work/shared/fixtures/dbt-manifests/v12_dbt-1.11_three-models.json")
TOKEN = "dbtc_S3cr3tS3rv1ceT0ken_9f8e7d6c5b4a"
ACCOUNT = "12345"
JOB = "67890"
RUNS_PATH = f"/api/v2/accounts/{ACCOUNT}/runs/"

TOKEN_MSG_401 = (
    "dbt Cloud rejected the API token (HTTP 401); use a service token with 'Read artifacts' permission"
)


@pytest.fixture(scope="module")
def manifest_bytes() -> bytes:
    return FIXTURE.read_bytes()


def runs_for(job: str = JOB) -> list[dict[str, Any]]:
    j = int(job)
    return [
        {"id": 100, "job_definition_id": j, "status": 10, "finished_at": "2024-05-01 10:00:00.123456+00:00"},
        {"id": 103, "job_definition_id": j, "status": 10, "finished_at": "2024-05-02 11:30:00.000000+00:00"},
        {"id": 105, "job_definition_id": j, "status": 20, "finished_at": "2024-05-03 09:00:00+00:00"},
        {"id": 106, "job_definition_id": j, "status": 3, "finished_at": None},
        {"id": 110, "job_definition_id": 11111, "status": 10, "finished_at": "2024-05-04 09:00:00+00:00"},
    ]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def fake(manifest_bytes: bytes) -> AsyncIterator[FakeDbtCloud]:
    artifacts = {100: b'{"metadata": {"old": true}}', 103: manifest_bytes}
    async with start_fake_dbt_cloud(TOKEN, runs_for(), artifacts) as f:
        yield f


def assert_token_free(obj: object, token: str = TOKEN) -> None:
    """Neither the token nor a long piece of it in str/repr of obj, its details or its causes."""
    texts = [str(obj), repr(obj)]
    if isinstance(obj, RampartError):
        texts += [repr(obj.details), json.dumps(obj.to_body(), default=str)]
    if isinstance(obj, BaseException):
        for linked in (obj.__cause__, obj.__context__):
            if linked is not None:
                texts += [str(linked), repr(linked)]
                request_info = getattr(linked, "request_info", None)
                if request_info is not None:
                    texts.append(repr(request_info))
    for text in texts:
        assert token not in text
        assert token[5:20] not in text


async def fetch(session: aiohttp.ClientSession, url: str, **kw: Any) -> DbtCloudArtifact:
    args: dict[str, Any] = {"access_url": url, "account_id": ACCOUNT, "job_id": JOB, "token": TOKEN}
    args.update(kw)
    return await fetch_latest_manifest(session, **args)


# -- happy path -------------------------------------------------------------------------------


async def test_fetches_newest_successful_runs_manifest(
    session: aiohttp.ClientSession, fake: FakeDbtCloud, manifest_bytes: bytes
) -> None:
    art = await fetch(session, fake.url)

    assert art.run_id == 103
    assert art.manifest == manifest_bytes
    assert json.loads(art.manifest)["metadata"]["dbt_schema_version"].endswith("/v12.json")
    assert art.finished_at is not None
    assert art.finished_at.isoformat() == "2024-05-02T11:30:00+00:00"
    assert_token_free(art)
    assert f"<{len(manifest_bytes)} bytes>" in repr(art)

    assert fake.paths() == [RUNS_PATH, f"{RUNS_PATH}103/artifacts/manifest.json"]
    runs_req, art_req = fake.requests
    assert dict(runs_req.query) == {
        "job_definition_id": JOB, "status__in": "[10]", "order_by": "-id", "limit": "1",
    }
    assert runs_req.raw_query == "job_definition_id=67890&status__in=%5B10%5D&order_by=-id&limit=1"
    for req in fake.requests:
        assert req.method == "GET"
        assert req.headers.getall("Authorization") == [f"Token {TOKEN}"]
        assert "Cookie" not in req.headers
    assert dict(art_req.query) == {}


async def test_access_url_with_trailing_slash_and_streamed_artifact(
    session: aiohttp.ClientSession, fake: FakeDbtCloud, manifest_bytes: bytes
) -> None:
    fake.chunked_artifacts = True
    art = await fetch(session, fake.url + "/", max_bytes=len(manifest_bytes))  # exactly at the cap
    assert art.manifest == manifest_bytes
    assert fake.paths()[0] == RUNS_PATH


async def test_token_is_stripped_and_bearer_prefix_dropped(
    session: aiohttp.ClientSession, fake: FakeDbtCloud
) -> None:
    await fetch(session, fake.url, token=f"  Token {TOKEN}\n")
    assert fake.requests[0].headers["Authorization"] == f"Token {TOKEN}"


async def test_finished_at_absent_is_none(session: aiohttp.ClientSession) -> None:
    runs = [{"id": 7, "job_definition_id": int(JOB), "status": 10}]
    async with start_fake_dbt_cloud(TOKEN, runs, {7: b' \n{"nodes": {}}'}) as f:
        art = await fetch(session, f.url)
    assert (art.run_id, art.finished_at, art.manifest) == (7, None, b' \n{"nodes": {}}')


def test_default_access_url_is_dbt_cloud() -> None:
    assert DEFAULT_ACCESS_URL == "https://cloud.getdbt.com"


# -- failures mapped to errors ----------------------------------------------------------------


async def test_wrong_token_is_validation_error(session: aiohttp.ClientSession, fake: FakeDbtCloud) -> None:
    wrong = "dbtc_wrong_but_also_secret_0123456789"
    with pytest.raises(ValidationFailed) as ei:
        await fetch(session, fake.url, token=wrong)
    assert ei.value.message == TOKEN_MSG_401
    assert type(ei.value) is ValidationFailed
    assert_token_free(ei.value, wrong)
    assert fake.paths() == [RUNS_PATH]


@pytest.mark.parametrize("where", ["runs", "artifact"])
async def test_forbidden_is_validation_error(
    session: aiohttp.ClientSession, fake: FakeDbtCloud, where: str
) -> None:
    setattr(fake, f"{where}_status", 403)
    with pytest.raises(ValidationFailed) as ei:
        await fetch(session, fake.url)
    assert ei.value.message == TOKEN_MSG_401.replace("401", "403")
    assert_token_free(ei.value)


async def test_unknown_account_is_not_found(session: aiohttp.ClientSession, fake: FakeDbtCloud) -> None:
    with pytest.raises(ValidationFailed) as ei:
        await fetch(session, fake.url, account_id="99999")
    assert ei.value.message == "dbt Cloud account 99999 or job 67890 not found"
    assert_token_free(ei.value)


async def test_no_successful_run(session: aiohttp.ClientSession, fake: FakeDbtCloud) -> None:
    fake.runs = [r for r in fake.runs if r["status"] != 10 or r["job_definition_id"] != int(JOB)]
    with pytest.raises(ValidationFailed) as ei:
        await fetch(session, fake.url)
    assert ei.value.message == "dbt Cloud job 67890 has no successful run yet"
    assert fake.paths() == [RUNS_PATH]


async def test_run_without_manifest_artifact(session: aiohttp.ClientSession, fake: FakeDbtCloud) -> None:
    del fake.artifacts[103]
    with pytest.raises(ValidationFailed) as ei:
        await fetch(session, fake.url)
    assert ei.value.message == "run 103 has no manifest.json artifact"
    assert_token_free(ei.value)


@pytest.mark.parametrize("where", ["runs", "artifact"])
async def test_server_error_is_upstream_unreachable(
    session: aiohttp.ClientSession, fake: FakeDbtCloud, where: str
) -> None:
    setattr(fake, f"{where}_status", 500)
    with pytest.raises(UpstreamUnreachable) as ei:
        await fetch(session, fake.url)
    host = fake.url.removeprefix("http://")
    assert ei.value.message == f"dbt Cloud could not be reached at {host}: HTTP 500"
    assert ei.value.retryable
    assert_token_free(ei.value)


async def test_connection_refused_is_upstream_unreachable(session: aiohttp.ClientSession) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    with pytest.raises(UpstreamUnreachable) as ei:
        await fetch(session, f"http://127.0.0.1:{port}")
    assert ei.value.message.startswith(f"dbt Cloud could not be reached at 127.0.0.1:{port}: ")
    assert ei.value.__cause__ is None
    assert_token_free(ei.value)


async def test_slow_server_times_out_within_bound(session: aiohttp.ClientSession, fake: FakeDbtCloud) -> None:
    fake.delay_s = 30
    started = time.monotonic()
    with pytest.raises(UpstreamUnreachable) as ei:
        await fetch(session, fake.url, timeout_s=0.5)
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 2.0
    host = fake.url.removeprefix("http://")
    assert ei.value.message == f"dbt Cloud could not be reached at {host}: no answer within 0.5s"
    assert_token_free(ei.value)


async def test_timeout_covers_the_whole_fetch(session: aiohttp.ClientSession, fake: FakeDbtCloud) -> None:
    fake.delay_s = 0.4  # each request alone fits in the bound, both together do not
    started = time.monotonic()
    with pytest.raises(UpstreamUnreachable, match=r"no answer within 0\.6s"):
        await fetch(session, fake.url, timeout_s=0.6)
    assert time.monotonic() - started < 1.5
    assert len(fake.requests) == 2


async def test_oversized_artifact_by_content_length(
    session: aiohttp.ClientSession, fake: FakeDbtCloud
) -> None:
    fake.serve_oversized(103, 5 * 1024 * 1024)
    with pytest.raises(PayloadTooLarge) as ei:
        await fetch(session, fake.url, max_bytes=1024 * 1024)
    assert ei.value.message == (
        "dbt Cloud manifest.json of run 103 is 5242880 bytes; the limit is 1048576 bytes"
    )
    assert ei.value.http_status == 413
    assert_token_free(ei.value)


async def test_oversized_artifact_counted_while_streaming(
    session: aiohttp.ClientSession, fake: FakeDbtCloud
) -> None:
    fake.chunked_artifacts = True  # no Content-Length: only counting can catch it
    fake.serve_oversized(103, 200 * 1024 * 1024)
    started = time.monotonic()
    with pytest.raises(PayloadTooLarge) as ei:
        await fetch(session, fake.url, max_bytes=1024 * 1024)
    assert ei.value.message == "dbt Cloud manifest.json of run 103 is larger; the limit is 1048576 bytes"
    assert time.monotonic() - started < 10  # gave up early rather than reading 200 MiB


async def test_one_byte_over_the_cap(session: aiohttp.ClientSession, fake: FakeDbtCloud,
                                     manifest_bytes: bytes) -> None:
    fake.chunked_artifacts = True
    with pytest.raises(PayloadTooLarge):
        await fetch(session, fake.url, max_bytes=len(manifest_bytes) - 1)


@pytest.mark.parametrize(("body", "ctype"), [
    (b"<html><body>Maintenance " + b"x" * 5000 + b"</body></html>", "text/html"),
    (b"", "application/json"),
])
async def test_non_json_runs_response(
    session: aiohttp.ClientSession, fake: FakeDbtCloud, body: bytes, ctype: str
) -> None:
    fake.runs_body = (body, ctype)
    with pytest.raises(UpstreamUnreachable) as ei:
        await fetch(session, fake.url)
    host = fake.url.removeprefix("http://")
    assert ei.value.message == f"dbt Cloud at {host} returned a non-JSON runs response ({ctype})"
    assert len(ei.value.message) < 120


async def test_runs_response_without_data_list(session: aiohttp.ClientSession, fake: FakeDbtCloud) -> None:
    fake.runs_body = (b'{"status": {"code": 200}, "data": {"id": 1}}', "application/json")
    with pytest.raises(UpstreamUnreachable, match="without a `data` list"):
        await fetch(session, fake.url)


async def test_artifact_that_is_not_json_object(session: aiohttp.ClientSession, fake: FakeDbtCloud) -> None:
    fake.artifacts[103] = b"<html>login</html>"
    with pytest.raises(UpstreamUnreachable, match=r"manifest\.json for run 103 that is not a JSON object"):
        await fetch(session, fake.url)


async def test_upstream_message_echoing_the_token_is_scrubbed(
    session: aiohttp.ClientSession, fake: FakeDbtCloud
) -> None:
    fake.runs_status = 400
    fake.user_message = f"Bad filter for token {TOKEN}\nsee docs " + "y" * 500
    with pytest.raises(ValidationFailed) as ei:
        await fetch(session, fake.url)
    msg = ei.value.message
    assert msg.startswith("dbt Cloud refused the runs request (HTTP 400): Bad filter for token *** see docs")
    assert len(msg) < 300
    assert "\n" not in msg
    assert_token_free(ei.value)


async def test_redirect_to_another_host_is_not_followed(
    session: aiohttp.ClientSession, fake: FakeDbtCloud, manifest_bytes: bytes
) -> None:
    async with start_fake_dbt_cloud(TOKEN, runs_for(), {103: manifest_bytes}) as elsewhere:
        fake.redirect_to = elsewhere.url
        with pytest.raises(ValidationFailed) as ei:
            await fetch(session, fake.url)
        assert elsewhere.requests == []
    assert "redirect (HTTP 302)" in ei.value.message
    assert "access_url" in ei.value.message
    assert fake.paths() == [RUNS_PATH]


async def test_session_raise_for_status_is_overridden(fake: FakeDbtCloud, manifest_bytes: bytes) -> None:
    """A caller's session that raises for status still gets Rampart errors, not aiohttp ones."""
    async with aiohttp.ClientSession(raise_for_status=True) as s:
        with pytest.raises(ValidationFailed, match=r"HTTP 401"):
            await fetch(s, fake.url, token="dbtc_other")
        art = await fetch(s, fake.url)
    assert art.manifest == manifest_bytes


# -- input validation (no request is made) ----------------------------------------------------


@pytest.fixture
async def counting_session() -> AsyncIterator[tuple[aiohttp.ClientSession, list[str]]]:
    started: list[str] = []

    async def on_start(_s: Any, _ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        started.append(str(params.url))

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    async with aiohttp.ClientSession(trace_configs=[trace]) as s:
        yield s, started


@pytest.mark.parametrize(("access_url", "fragment"), [
    ("file:///etc/passwd", "http or https"),
    ("ftp://cloud.getdbt.com", "http or https"),
    ("javascript:alert(1)", "http or https"),
    ("cloud.getdbt.com", "http or https"),
    ("//cloud.getdbt.com", "http or https"),
    ("", "http(s) URL"),
    ("https://", "host"),
    ("https:///api", "host"),
    ("https://user:pw@cloud.getdbt.com", "user name or password"),
    ("https://dbtc_secret@cloud.getdbt.com", "user name or password"),
    ("https://cloud.getdbt.com?x=1", "query or fragment"),
    ("https://cloud.getdbt.com/?", "query or fragment"),
    ("https://cloud.getdbt.com#top", "query or fragment"),
    ("https://cloud.getdbt.com:99999", "port"),
    ("https://cloud.getdbt.com:0", "port"),
    ("https://cloud.getdbt.com\n.evil", "spaces"),
    ("https://cloud.getdbt.com\\@evil.example", "backslash"),
    ("https://cloud .getdbt.com", "spaces"),
])
async def test_access_url_is_validated(
    counting_session: tuple[aiohttp.ClientSession, list[str]], access_url: str, fragment: str
) -> None:
    session, started = counting_session
    with pytest.raises(ValidationFailed) as ei:
        await fetch(session, access_url)
    assert "access_url" in ei.value.message
    assert fragment in ei.value.message
    assert "secret" not in ei.value.message and "pw" not in ei.value.message
    assert started == []


@pytest.mark.parametrize(("field", "value"), [
    ("account_id", ""), ("account_id", "12a"), ("account_id", "../1"), ("account_id", "1/2"),
    ("account_id", " 12345"), ("account_id", "١٢٣"), ("account_id", "-1"),
    ("job_id", ""), ("job_id", "67890?x=1"), ("job_id", "6789%30"), ("job_id", "1.5"),
])
async def test_ids_must_be_digits(
    counting_session: tuple[aiohttp.ClientSession, list[str]], field: str, value: str
) -> None:
    session, started = counting_session
    with pytest.raises(ValidationFailed) as ei:
        await fetch(session, "https://cloud.getdbt.com", **{field: value})
    assert ei.value.message.startswith(f"{field} must be")
    assert ei.value.details == {"field": field}
    assert started == []


@pytest.mark.parametrize("token", [
    "", "   ", "x" * 4097, f"{TOKEN}\r\nX-Injected: 1", f"{TOKEN} extra", "dbtc_é_token",
])
async def test_token_is_validated_and_never_echoed(
    counting_session: tuple[aiohttp.ClientSession, list[str]], token: str
) -> None:
    session, started = counting_session
    with pytest.raises(ValidationFailed) as ei:
        await fetch(session, "https://cloud.getdbt.com", token=token)
    assert ei.value.message.startswith("api_token must")
    if token.strip():
        assert token.strip() not in str(ei.value) and token.strip() not in repr(ei.value)
    assert_token_free(ei.value)
    assert started == []


async def test_longest_token_is_accepted(session: aiohttp.ClientSession, fake: FakeDbtCloud) -> None:
    fake.token = "t" * 4096
    art = await fetch(session, fake.url, token="t" * 4096)
    assert art.run_id == 103


@pytest.mark.parametrize(("kw", "fragment"), [
    ({"max_bytes": 0}, "max_bytes"), ({"max_bytes": -5}, "max_bytes"),
    ({"timeout_s": 0}, "timeout_s"), ({"timeout_s": float("nan")}, "timeout_s"),
    ({"timeout_s": float("inf")}, "timeout_s"),
])
async def test_limits_are_validated(
    counting_session: tuple[aiohttp.ClientSession, list[str]], kw: dict[str, Any], fragment: str
) -> None:
    session, started = counting_session
    with pytest.raises(ValidationFailed, match=fragment):
        await fetch(session, "https://cloud.getdbt.com", **kw)
    assert started == []
