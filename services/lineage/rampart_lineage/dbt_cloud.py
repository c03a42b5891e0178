"""dbt Cloud v2 API client: the manifest.json of a job's newest successful run."""

from __future__ import annotations

import asyncio
import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NoReturn
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from rampart_contracts.errors import PayloadTooLarge, UpstreamUnreachable, ValidationFailed

# The token is a secret. It is sent only in the Authorization header and is never put in a
# returned object or in the message, details or cause of a raised error: text that comes back
# from dbt Cloud is scrubbed of it, and aiohttp exceptions (whose request_info carries the
# headers) are never chained. tests/integration/test_dbt_cloud_client.py checks str(), repr()
# and to_body() of everything this module returns or raises.

DEFAULT_ACCESS_URL = "https://cloud.getdbt.com"
MAX_TOKEN_CHARS = 4096
RUN_STATUS_SUCCESS = 10  # dbt Cloud run statuses: 1 queued ... 10 success, 20 error, 30 cancelled
_RUNS_BODY_LIMIT = 1024 * 1024  # the runs answer is one run object; anything larger is wrong
_CHUNK = 64 * 1024
_DIGITS = re.compile(r"[0-9]{1,20}")
_TOKEN_CHARS = re.compile(r"[\x21-\x7e]+")  # visible ASCII: nothing a header could be split on
_TEXT_LIMIT = 200


@dataclass(frozen=True, slots=True, repr=False)
class DbtCloudArtifact:
    """The raw manifest.json of one dbt Cloud run."""

    run_id: int
    finished_at: datetime | None
    manifest: bytes

    def __repr__(self) -> str:
        finished = self.finished_at.isoformat() if self.finished_at else None
        return (
            f"DbtCloudArtifact(run_id={self.run_id}, finished_at={finished!r}, "
            f"manifest=<{len(self.manifest)} bytes>)"
        )


@dataclass(frozen=True, slots=True)
class _Target:
    base: str  # scheme://netloc[/prefix], no trailing slash
    host: str  # netloc, for messages


async def fetch_latest_manifest(
    session: aiohttp.ClientSession,
    *,
    access_url: str = DEFAULT_ACCESS_URL,
    account_id: str,
    job_id: str,
    token: str,
    max_bytes: int = 50 * 1024 * 1024,
    timeout_s: float = 60,
) -> DbtCloudArtifact:
    """Fetch manifest.json of the newest successful run of `job_id` in `account_id`.

    Raises ValidationFailed (bad input, token refused, account/job/run/artifact missing),
    PayloadTooLarge (manifest over `max_bytes`) or UpstreamUnreachable (connection error,
    timeout over the whole fetch, 5xx, answer that is not what the API returns).
    """
    target = _check_access_url(access_url)
    account_id = _check_id("account_id", account_id)
    job_id = _check_id("job_id", job_id)
    token = _check_token(token)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes <= 0:
        raise ValidationFailed("max_bytes must be a positive integer")
    if not isinstance(timeout_s, int | float) or not math.isfinite(timeout_s) or timeout_s <= 0:
        raise ValidationFailed("timeout_s must be a positive number of seconds")

    client = _Client(session, target, token, account_id, job_id, max_bytes, float(timeout_s))
    try:
        async with asyncio.timeout(timeout_s):
            run_id, finished_at = await client.latest_successful_run()
            manifest = await client.manifest(run_id)
    except TimeoutError:
        raise UpstreamUnreachable(
            f"dbt Cloud could not be reached at {target.host}: no answer within {timeout_s:g}s",
            {"host": target.host},
        ) from None
    except aiohttp.ClientError as exc:
        raise UpstreamUnreachable(
            f"dbt Cloud could not be reached at {target.host}: {_describe(exc, token)}",
            {"host": target.host},
        ) from None
    return DbtCloudArtifact(run_id=run_id, finished_at=finished_at, manifest=manifest)


class _Client:
    def __init__(
        self, session: aiohttp.ClientSession, target: _Target, token: str,
        account_id: str, job_id: str, max_bytes: int, timeout_s: float,
    ) -> None:
        self.session = session
        self.target = target
        self.token = token
        self.account_id = account_id
        self.job_id = job_id
        self.max_bytes = max_bytes
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.headers = {
            "Authorization": f"Token {token}",
            "Accept": "application/json",
            "User-Agent": "rampart-lineage",
        }

    def _get(self, url: URL) -> Any:
        # No redirects: a redirect could carry the token to another host; the caller is told to
        # set access_url to the account's own access URL instead.
        return self.session.get(
            url, headers=self.headers, allow_redirects=False, raise_for_status=False,
            timeout=self.timeout,
        )

    async def latest_successful_run(self) -> tuple[int, datetime | None]:
        url = URL(f"{self.target.base}/api/v2/accounts/{self.account_id}/runs/").with_query({
            "job_definition_id": self.job_id,
            "status__in": f"[{RUN_STATUS_SUCCESS}]",
            "order_by": "-id",
            "limit": "1",
        })
        async with self._get(url) as resp:
            if resp.status == 404:
                raise ValidationFailed(
                    f"dbt Cloud account {self.account_id} or job {self.job_id} not found",
                    {"account_id": self.account_id, "job_id": self.job_id},
                )
            if resp.status != 200:
                await self._refuse(resp, "runs")
            body = await self._read(resp, _RUNS_BODY_LIMIT, None)
            content_type = resp.content_type
        try:
            doc = json.loads(body)
        except ValueError:
            raise self._unexpected(f"a non-JSON runs response ({content_type or 'no content type'})") \
                from None
        runs = doc.get("data") if isinstance(doc, dict) else None
        if not isinstance(runs, list):
            raise self._unexpected("a runs response without a `data` list")
        best: dict[str, Any] | None = None
        for run in runs:
            if not isinstance(run, dict):
                raise self._unexpected("a runs response whose `data` holds a non-object")
            run_id = run.get("id")
            if isinstance(run_id, bool) or not isinstance(run_id, int) or run_id <= 0:
                raise self._unexpected("a run without a numeric `id`")
            status = run.get("status", RUN_STATUS_SUCCESS)
            if status != RUN_STATUS_SUCCESS:  # the filter was asked for; do not trust it blindly
                continue
            if best is None or run_id > best["id"]:
                best = run
        if best is None:
            raise ValidationFailed(
                f"dbt Cloud job {self.job_id} has no successful run yet",
                {"account_id": self.account_id, "job_id": self.job_id},
            )
        return best["id"], _parse_time(best.get("finished_at"))

    async def manifest(self, run_id: int) -> bytes:
        url = URL(
            f"{self.target.base}/api/v2/accounts/{self.account_id}/runs/{run_id}"
            "/artifacts/manifest.json"
        )
        async with self._get(url) as resp:
            if resp.status == 404:
                raise ValidationFailed(
                    f"run {run_id} has no manifest.json artifact", {"run_id": run_id}
                )
            if resp.status != 200:
                await self._refuse(resp, "manifest.json")
            body = await self._read(resp, self.max_bytes, run_id)
        head = body[:16].lstrip(b"\xef\xbb\xbf \t\r\n")
        if not head.startswith(b"{"):
            raise self._unexpected(f"a manifest.json for run {run_id} that is not a JSON object")
        return body

    async def _read(self, resp: aiohttp.ClientResponse, limit: int, run_id: int | None) -> bytes:
        """The body, refusing it as soon as it is known to exceed `limit` bytes."""
        if resp.content_length is not None and resp.content_length > limit:
            self._too_large(limit, run_id, resp.content_length)
        buf = bytearray()
        async for chunk in resp.content.iter_chunked(_CHUNK):
            buf += chunk
            if len(buf) > limit:
                self._too_large(limit, run_id, None)
        return bytes(buf)

    def _too_large(self, limit: int, run_id: int | None, announced: int | None) -> NoReturn:
        if run_id is None:
            raise self._unexpected(f"a runs response larger than {limit} bytes")
        size = f"{announced} bytes" if announced is not None else "larger"
        raise PayloadTooLarge(
            f"dbt Cloud manifest.json of run {run_id} is {size}; the limit is {limit} bytes",
            {"run_id": run_id, "max_bytes": limit},
        )

    async def _refuse(self, resp: aiohttp.ClientResponse, what: str) -> NoReturn:
        status = resp.status
        if status in (401, 403):
            raise ValidationFailed(
                f"dbt Cloud rejected the API token (HTTP {status}); "
                "use a service token with 'Read artifacts' permission",
                {"http_status": status},
            )
        if status >= 500 or status in (408, 429):
            raise UpstreamUnreachable(
                f"dbt Cloud could not be reached at {self.target.host}: HTTP {status}",
                {"host": self.target.host, "http_status": status},
            )
        if 300 <= status < 400:
            raise ValidationFailed(
                f"dbt Cloud at {self.target.host} answered the {what} request with a redirect "
                f"(HTTP {status}); set access_url to your account's access URL",
                {"http_status": status},
            )
        reason = await self._user_message(resp)
        raise ValidationFailed(
            f"dbt Cloud refused the {what} request (HTTP {status})" + (f": {reason}" if reason else ""),
            {"http_status": status},
        )

    async def _user_message(self, resp: aiohttp.ClientResponse) -> str:
        """`status.user_message` of a dbt Cloud error body, shortened and scrubbed."""
        try:
            doc = json.loads(await self._read(resp, 64 * 1024, None))
        except (ValueError, UpstreamUnreachable, aiohttp.ClientError):
            return ""
        status = doc.get("status") if isinstance(doc, dict) else None
        message = status.get("user_message") if isinstance(status, dict) else None
        return _clean(message, self.token) if isinstance(message, str) else ""

    def _unexpected(self, what: str) -> UpstreamUnreachable:
        return UpstreamUnreachable(
            f"dbt Cloud at {self.target.host} returned {what}", {"host": self.target.host}
        )


def _check_access_url(access_url: str) -> _Target:
    if not isinstance(access_url, str) or not access_url:
        raise ValidationFailed("access_url must be an http(s) URL such as https://cloud.getdbt.com")
    if any(c.isspace() or not c.isprintable() or c == "\\" for c in access_url):
        raise ValidationFailed("access_url must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(access_url)
    except ValueError:
        raise ValidationFailed("access_url is not a valid URL") from None
    try:
        port = parts.port
    except ValueError:
        raise ValidationFailed("access_url has an invalid port") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationFailed("access_url must use http or https")
    if "@" in parts.netloc:
        # The URL is not echoed: the user part may hold a credential.
        raise ValidationFailed("access_url must not contain a user name or password")
    if not parts.hostname:
        raise ValidationFailed("access_url must name a host")
    if "?" in access_url or "#" in access_url:
        raise ValidationFailed("access_url must not have a query or fragment")
    if port == 0:
        raise ValidationFailed("access_url has an invalid port")
    base = f"{parts.scheme.lower()}://{parts.netloc}{parts.path.rstrip('/')}"
    try:
        url = URL(base)
    except ValueError:
        raise ValidationFailed("access_url is not a valid URL") from None
    if not url.host:
        raise ValidationFailed("access_url must name a host")
    return _Target(base=base, host=parts.netloc.lower())


def _check_id(field: str, value: str) -> str:
    if not isinstance(value, str) or not _DIGITS.fullmatch(value):
        raise ValidationFailed(f"{field} must be a number (digits only)", {"field": field})
    return value


def _check_token(token: str) -> str:
    if not isinstance(token, str):
        raise ValidationFailed("api_token must be a string", {"field": "api_token"})
    token = token.strip()
    if token.lower().startswith(("token ", "bearer ")):
        token = token.split(None, 1)[1].strip()
    if not token:
        raise ValidationFailed("api_token must not be empty", {"field": "api_token"})
    if len(token) > MAX_TOKEN_CHARS:
        raise ValidationFailed(
            f"api_token must be at most {MAX_TOKEN_CHARS} characters", {"field": "api_token"}
        )
    if not _TOKEN_CHARS.fullmatch(token):
        raise ValidationFailed(
            "api_token must be printable ASCII without spaces", {"field": "api_token"}
        )
    return token


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _clean(text: str, token: str) -> str:
    """Upstream text fit for a message: the token removed, one line, bounded."""
    text = " ".join(text.replace(token, "***").split())
    if len(text) > _TEXT_LIMIT:
        text = text[: _TEXT_LIMIT - 1] + "…"
    return text


def _describe(exc: BaseException, token: str) -> str:
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or str(exc.os_error) or "connection failed"
        return _clean(reason, token)
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    return _clean(str(exc) or type(exc).__name__, token)
