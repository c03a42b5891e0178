"""The published client (`anomalyarmor-cli` 0.6.0, SDK and `armor` CLI) against the live stack."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from anomalyarmor.exceptions import AuthenticationError, NotFoundError
from e2e_support import (
    Key,
    PgTarget,
    api_client,
    armor_env,
    bootstrap_key,
    new_org,
    run_armor,
    sdk_client,
    service_logs,
    wait_until,
)
from support.infra import Stack, free_port

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

CLOSED_PASSWORD = "pw-" + secrets.token_hex(16)  # must never be echoed or logged


@pytest.fixture(scope="module")
def org() -> str:
    return new_org("sdk")


@pytest.fixture(scope="module")
def admin(e2e_stack: Stack, org: str) -> Key:
    return bootstrap_key(e2e_stack, org, name="sdk-admin-" + secrets.token_hex(3))


class Recorder:
    """Every response body the SDK's httpx client received."""

    def __init__(self) -> None:
        self.bodies: list[str] = []

    def __call__(self, response: Any) -> None:
        response.read()
        self.bodies.append(response.text)


@pytest.fixture(scope="module")
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def client(e2e_stack: Stack, admin: Key, recorder: Recorder) -> Iterator[Any]:
    c = sdk_client(e2e_stack, admin)
    c._http.event_hooks["response"].append(recorder)
    yield c
    c.close()


@pytest.fixture(scope="module")
def asset(client: Any, pg: PgTarget) -> Any:
    """A postgresql asset pointing at the test database (created through the SDK)."""
    return client.assets.create(
        name="Warehouse " + secrets.token_hex(3), source_type="postgresql",
        connection_config=pg.config(), description="the e2e test database",
    )


@pytest.fixture(scope="module")
def closed_asset(client: Any, pg: PgTarget) -> Any:
    """An asset whose port has no listener, configured with a password."""
    return client.assets.create(
        name="Closed " + secrets.token_hex(3), source_type="postgresql",
        connection_config=pg.config(port=free_port(), database="closed_" + secrets.token_hex(4),
                                    password=CLOSED_PASSWORD, connect_timeout_s=3),
    )


# ----------------------------------------------------------------------------- api_keys


def test_api_keys_create_list_get_usage_revoke(e2e_stack: Stack, client: Any) -> None:
    created = client.api_keys.create(name="ci-" + secrets.token_hex(3), scope="read-only")
    assert created.key.startswith("aa_live_")
    assert created.scope == "read-only" and created.is_active
    assert created.display_key == f"{created.key_prefix}...{created.key_suffix}"
    assert created.key.startswith(created.key_prefix) and created.key.endswith(created.key_suffix)
    assert created.rate_limit_per_min > 0 and created.burst_limit > 0

    listed = {k.id: k for k in client.api_keys.list()}
    assert created.id in listed
    assert listed[created.id].name == created.name
    assert all(not hasattr(k, "key") for k in listed.values())

    got = client.api_keys.get(created.id)
    assert (got.id, got.name, got.scope, got.display_key) == (
        created.id, created.name, "read-only", created.display_key)
    assert got.revoked_at is None

    usage = client.api_keys.usage()
    for field in ("current_count", "max_keys", "rate_limit_per_min", "burst_limit",
                  "can_create"):
        assert field in usage, usage
    assert usage["current_count"] >= 2 and usage["can_create"] is True

    other = sdk_client(e2e_stack, created.key)
    try:
        mine = other.api_keys.usage()
        assert mine["scope"] == "read-only" and mine["can_create"] is False

        revoked = client.api_keys.revoke(created.id)
        assert revoked.id == created.id
        assert revoked.revoked_at is not None
        assert revoked.is_active is False

        assert created.id not in {k.id for k in client.api_keys.list()}
        assert created.id in {k.id for k in client.api_keys.list(include_revoked=True)}
        with pytest.raises(AuthenticationError):
            other.api_keys.usage()
    finally:
        other.close()


# ----------------------------------------------------------------------------- assets


def test_assets_create_and_get_by_uuid_prefix_and_name(client: Any, asset: Any,
                                                       pg: PgTarget) -> None:
    assert uuid.UUID(asset.id)
    assert asset.qualified_name == f"postgresql.{pg.database}"
    assert asset.source_type == "postgresql"
    assert asset.database_name == pg.database
    assert asset.description == "the e2e test database"
    for ref in (asset.id, asset.id[:8], asset.qualified_name):
        got = client.assets.get(ref)
        assert got.id == asset.id, ref
        assert got.qualified_name == asset.qualified_name
        assert got.name == asset.name


def test_assets_list_filters_and_limit(client: Any, asset: Any, closed_asset: Any) -> None:
    everything = client.assets.list()
    ids = {a.id for a in everything}
    assert {asset.id, closed_asset.id} <= ids

    assert asset.id in {a.id for a in client.assets.list(source="postgresql")}
    assert client.assets.list(source="mysql") == []

    found = client.assets.list(search=asset.name.split()[-1])
    assert [a.id for a in found] == [asset.id]
    assert client.assets.list(search="no-such-asset-" + secrets.token_hex(4)) == []

    one = client.assets.list(limit=1)
    assert len(one) == 1
    second = client.assets.list(limit=1, offset=1)
    assert len(second) == 1 and second[0].id != one[0].id


def test_connection_success(client: Any, asset: Any) -> None:
    result = client.assets.test_connection(asset.id)
    assert result.success is True, result
    assert result.tested_at is not None
    assert result.error_code is None
    assert result.latency_ms is None or result.latency_ms >= 0


def test_connection_failure_never_reveals_the_password(
    e2e_stack: Stack, client: Any, closed_asset: Any, recorder: Recorder
) -> None:
    result = client.assets.test_connection(closed_asset.id)
    assert result.success is False
    assert result.error_code, result
    assert result.error_message

    # a discovery job on the same asset fails, also without leaking the secret
    job = client.assets.trigger_discovery(closed_asset.id)
    status = wait_until(
        lambda: (s := client.jobs.status(job.job_id))["status"] in ("completed", "failed") and s,
        30, "the discovery job of the unreachable asset to finish")
    assert status["status"] == "failed", status
    assert status.get("error")

    with api_client(e2e_stack, client._api_key) as c:
        raw = [c.get(f"/sdk/assets/{closed_asset.id}").text, c.get("/sdk/assets").text,
               c.get("/assets").text, c.get(f"/sdk/jobs/{job.job_id}").text]
    bodies = recorder.bodies + raw
    assert bodies and all(CLOSED_PASSWORD not in b for b in bodies)
    for name, text in service_logs(e2e_stack).items():
        assert CLOSED_PASSWORD not in text, f"password leaked into {name}"


async def test_password_is_not_stored_in_clear(e2e_stack: Stack, closed_asset: Any) -> None:
    conn = await asyncpg.connect(e2e_stack.database_url)
    try:
        sealed = await conn.fetchval(
            "SELECT connection_sealed FROM quality.assets WHERE id = $1",
            uuid.UUID(closed_asset.id))
    finally:
        await conn.close()
    assert sealed and CLOSED_PASSWORD.encode() not in bytes(sealed)


def test_discovery_job_completes_and_sets_table_count(client: Any, asset: Any) -> None:
    job = client.assets.trigger_discovery(asset.id)
    assert job.asset_id == asset.id
    assert job.job_id and job.started_at is not None

    def finished() -> dict[str, Any] | None:
        status: dict[str, Any] = client.jobs.status(job.job_id)
        assert status["status"] in ("pending", "running", "completed"), status
        return status if status["status"] == "completed" else None

    status = wait_until(finished, 30, "the discovery job to complete")
    assert status["job_id"] == job.job_id
    assert status["asset_id"] == asset.id
    assert status["completed_at"]
    got = client.assets.get(asset.id)
    assert isinstance(got.table_count, int) and got.table_count >= 1


def test_not_found_errors(client: Any) -> None:
    with pytest.raises(NotFoundError):
        client.assets.get(str(uuid.uuid4()))
    with pytest.raises(NotFoundError):
        client.assets.get("postgresql.no_such_db_" + secrets.token_hex(3))
    with pytest.raises(NotFoundError):
        client.jobs.status(str(uuid.uuid4()))
    with pytest.raises(NotFoundError):
        client.api_keys.get(str(uuid.uuid4()))


def test_bad_key_raises_authentication_error(e2e_stack: Stack) -> None:
    for bad in ("aa_live_" + "x" * 40, "aa_live_short", "not-a-key"):
        c = sdk_client(e2e_stack, bad)
        try:
            with pytest.raises(AuthenticationError):
                c.api_keys.usage()
            with pytest.raises(AuthenticationError):
                c.assets.list()
        finally:
            c.close()


# ----------------------------------------------------------------------------- CLI


def test_armor_cli_login_and_list_keys(e2e_stack: Stack, admin: Key, client: Any,
                                       tmp_path: Path) -> None:
    env = armor_env(tmp_path)
    env["ARMOR_API_URL"] = e2e_stack.url("gateway", "/api/v1")

    bad = run_armor(["auth", "login", "--api-key", "aa_live_" + "y" * 40], env)
    assert bad.returncode == 2, bad.stdout + bad.stderr

    login = run_armor(["auth", "login", "--api-key", admin.key], env)
    assert login.returncode == 0, login.stdout + login.stderr
    assert "Successfully authenticated" in login.stdout
    assert admin.key in (tmp_path / ".armor" / "config.yaml").read_text()

    listed = run_armor(["api-keys", "list"], env)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    me = client.api_keys.get(admin.id)
    assert me.name in listed.stdout
    assert me.display_key in listed.stdout
