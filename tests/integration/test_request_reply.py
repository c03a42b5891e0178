"""Bus request/reply on a real NATS: answers, errors across the wire, timeouts, no responders."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar, Literal

import pytest
from pydantic import Field

from rampart_contracts.envelope import Query
from rampart_contracts.errors import (
    AssetNotFound,
    InternalError,
    RateLimited,
    ServiceUnavailable,
    ValidationFailed,
)
from rampart_runtime.bus import Bus

ORG = "org-rr"
LEAK = "password=hunter2 at db.internal"


class Ask(Query):
    SERVICE: ClassVar[str] = "answerer"
    NAME: ClassVar[str] = "ask"
    type: Literal["ask"] = "ask"
    mode: str = "echo"
    text: str = ""


class StrictAsk(Ask):
    """The answerer's view of the same query: it insists on a short `text`."""

    text: str = Field("", max_length=5)


class Nobody(Query):
    SERVICE: ClassVar[str] = "nobody"
    NAME: ClassVar[str] = "ask"
    type: Literal["nobody"] = "nobody"


class Answerer:
    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def handle(self, q: StrictAsk) -> Any:
        if q.mode == "echo":
            return {"text": q.text, "org": q.org_id}
        if q.mode == "slow":
            await self.release.wait()
            return {"late": True}
        if q.mode == "missing":
            raise AssetNotFound("Asset not found", {"asset_id": q.text, "suggestion": "check"})
        if q.mode == "limited":
            raise RateLimited(7, "slow down")
        raise RuntimeError(LEAK)


@pytest.fixture
async def answerer(nats_url: str, bus_prefix: str) -> AsyncIterator[Answerer]:
    service = Answerer()
    bus = Bus("answerer", nats_url, bus_prefix)
    bus.query_handler(StrictAsk, service.handle)
    await bus.connect()
    await bus.start()
    yield service
    service.release.set()
    await bus.close()


@pytest.fixture
async def client(nats_url: str, bus_prefix: str) -> AsyncIterator[Bus]:
    bus = Bus("gateway", nats_url, bus_prefix, request_timeout_s=5.0)
    await bus.connect()
    yield bus
    await bus.close()


class TestAnswers:
    async def test_reply_data_reaches_the_caller(self, answerer: Answerer, client: Bus) -> None:
        assert await client.request(Ask(org_id=ORG, text="hi")) == {"text": "hi", "org": ORG}

    async def test_concurrent_requests_get_their_own_answers(self, answerer: Answerer,
                                                             client: Bus) -> None:
        texts = [str(n) for n in range(20)]
        replies = await asyncio.gather(*(client.request(Ask(org_id=ORG, text=t)) for t in texts))
        assert [r["text"] for r in replies] == texts


class TestUnavailable:
    async def test_no_responders_is_service_unavailable_at_once(self, client: Bus) -> None:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable) as caught:
            await client.request(Nobody(org_id=ORG), timeout=5.0)
        assert time.monotonic() - started < 2.0
        assert caught.value.http_status == 503
        assert caught.value.details == {"service": "nobody"}
        assert "not running" in caught.value.message

    async def test_slow_handler_is_service_unavailable_after_the_timeout(
        self, answerer: Answerer, client: Bus
    ) -> None:
        started = time.monotonic()
        with pytest.raises(ServiceUnavailable, match="did not answer in time"):
            await client.request(Ask(org_id=ORG, mode="slow"), timeout=0.3)
        elapsed = time.monotonic() - started
        assert 0.25 <= elapsed < 3.0


class TestErrorsCrossTheWire:
    async def test_domain_error_arrives_as_the_same_class_with_details(
        self, answerer: Answerer, client: Bus
    ) -> None:
        with pytest.raises(AssetNotFound) as caught:
            await client.request(Ask(org_id=ORG, mode="missing", text="abc"))
        assert caught.value.http_status == 404
        assert caught.value.message == "Asset not found"
        assert caught.value.details == {"asset_id": "abc", "suggestion": "check"}

    async def test_rate_limited_keeps_its_wait(self, answerer: Answerer, client: Bus) -> None:
        with pytest.raises(RateLimited) as caught:
            await client.request(Ask(org_id=ORG, mode="limited"))
        assert caught.value.retry_after == 7

    async def test_unexpected_exception_is_internal_error_without_its_text(
        self, answerer: Answerer, client: Bus
    ) -> None:
        with pytest.raises(InternalError) as caught:
            await client.request(Ask(org_id=ORG, mode="crash"))
        assert caught.value.http_status == 500
        assert "hunter2" not in caught.value.message
        assert "hunter2" not in str(caught.value.to_body())

    async def test_invalid_query_is_a_validation_error_naming_the_field(
        self, answerer: Answerer, client: Bus
    ) -> None:
        with pytest.raises(ValidationFailed, match="text"):
            await client.request(Ask(org_id=ORG, text="far too long"))

    async def test_answerer_keeps_serving_after_errors(self, answerer: Answerer,
                                                       client: Bus) -> None:
        with pytest.raises(InternalError):
            await client.request(Ask(org_id=ORG, mode="crash"))
        assert await client.request(Ask(org_id=ORG, text="ok")) == {"text": "ok", "org": ORG}
