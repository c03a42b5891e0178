"""Every keyed route x every kind of caller, and tenant isolation between organizations."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from e2e_support import (
    Key,
    PgTarget,
    api_client,
    assert_error,
    bootstrap_key,
    create_asset,
    create_key_via_api,
    new_org,
    wait_until,
)
from support.infra import Stack

from rampart_gateway.routes import ALL_ROUTES
from rampart_gateway.routing import Route

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

KEYED = [r for r in ALL_ROUTES if r.need is not None]
RANK = {"read-only": 0, "read-write": 1, "admin": 2}
NEED_RANK = {"read": 0, "write": 1, "admin": 2}


@dataclass
class Tenant:
    org: str
    admin: Key
    rw: Key
    ro: Key
    revoked: Key
    victim: Key  # its id fills `{key_id}`; the admin DELETE in the matrix revokes it
    asset: dict[str, Any]
    job_id: str

    def key(self, scope: str) -> Key:
        return {"admin": self.admin, "read-write": self.rw, "read-only": self.ro}[scope]


def _tenant(stack: Stack, pg: PgTarget, label: str, with_asset: bool) -> Tenant:
    org = new_org(label)
    admin = bootstrap_key(stack, org, name=f"{label}-admin")
    rw = create_key_via_api(stack, admin, "read-write", f"{label}-rw")
    ro = create_key_via_api(stack, admin, "read-only", f"{label}-ro")
    revoked = create_key_via_api(stack, admin, "admin", f"{label}-revoked")
    victim = create_key_via_api(stack, admin, "read-only", f"{label}-victim")
    with api_client(stack, admin) as c:
        assert c.delete(f"/api-keys/{revoked.id}").status_code == 200
    asset: dict[str, Any] = {}
    job_id = ""
    if with_asset:
        asset = create_asset(stack, admin, f"{label} warehouse", pg.config())
        with api_client(stack, admin) as c:
            r = c.post(f"/sdk/assets/{asset['id']}/discover")
            assert r.status_code == 202, r.text
            job_id = r.json()["data"]["job_id"]
            wait_until(lambda: c.get(f"/sdk/jobs/{job_id}").json()["data"]["status"]
                       in ("completed", "failed"), 30, "the discovery job")
    return Tenant(org, admin, rw, ro, revoked, victim, asset, job_id)


@pytest.fixture(scope="module")
def tenant_a(e2e_stack: Stack, pg: PgTarget) -> Tenant:
    return _tenant(e2e_stack, pg, "tenant-a", with_asset=True)


@pytest.fixture(scope="module")
def tenant_b(e2e_stack: Stack, pg: PgTarget) -> Tenant:
    return _tenant(e2e_stack, pg, "tenant-b", with_asset=False)


def _url(route: Route, t: Tenant) -> str:
    ids = {"asset_id": t.asset["id"], "key_id": t.victim.id, "job_id": t.job_id,
           # lineage records need not exist: a 404 still proves auth and scope let it through
           "unique_id": "model.shop.orders", "parent_unique_id": "source.shop.raw_orders",
           "child_unique_id": "model.shop.orders", "source": "manual"}

    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        assert name in ids, f"no real id for path parameter {name} of {route.path}"
        return ids[name]

    path = re.sub(r"{(\w+)}", fill, route.path)
    assert path.startswith("/api/v1/")
    return path.removeprefix("/api/v1")


def _call(stack: Stack, route: Route, t: Tenant, headers: dict[str, str]) -> httpx.Response:
    with api_client(stack, headers=headers) as c:
        kwargs: dict[str, Any] = {}
        if route.method in ("POST", "PUT", "PATCH"):
            kwargs["json"] = {}  # a body is validated only after auth and scope
        return c.request(route.method, _url(route, t), **kwargs)


def _bearer(key: Key) -> dict[str, str]:
    return key.headers


def test_every_keyed_route_is_covered() -> None:
    assert KEYED, "no keyed routes?"
    methods = {(r.method, r.path) for r in KEYED}
    assert ("DELETE", "/api/v1/api-keys/{key_id}") in methods
    assert ("GET", "/api/v1/sdk/assets/{asset_id}") in methods
    assert ("GET", "/api/v1/sdk/jobs/{job_id}") in methods


@pytest.mark.parametrize("route", KEYED, ids=[f"{r.method} {r.path}" for r in KEYED])
def test_scope_matrix(e2e_stack: Stack, tenant_a: Tenant, route: Route) -> None:
    t = tenant_a
    # no key, malformed headers, a well-formed unknown key and a revoked key -> 401
    unauthenticated: list[dict[str, str]] = [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": f"Token {t.admin.key}"},
        {"Authorization": f"Bearer {t.admin.key} {t.admin.key}"},
        {"Authorization": f"Basic {t.admin.key}"},
        {"Authorization": t.admin.key},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer aa_live_" + "z" * 40},
        {"Authorization": f"Bearer {t.admin.key}x"},
        _bearer(t.revoked),
    ]
    for headers in unauthenticated:
        resp = _call(e2e_stack, route, t, headers)
        assert_error(resp, 401, "UNAUTHORIZED")
        assert t.admin.key not in resp.text

    for scope in ("read-only", "read-write", "admin"):
        resp = _call(e2e_stack, route, t, _bearer(t.key(scope)))
        if RANK[scope] < NEED_RANK[route.need or "read"]:
            err = assert_error(resp, 403, "FORBIDDEN")
            assert err["details"].get("scope") == scope
            assert "X-RateLimit-Limit" in resp.headers
        else:
            assert resp.status_code not in (401, 403), \
                f"{scope} on {route.method} {route.path}: {resp.status_code} {resp.text[:300]}"
            assert resp.status_code < 500, resp.text[:300]
            assert "X-RateLimit-Remaining" in resp.headers


def test_scope_checks_left_keys_and_assets_usable(e2e_stack: Stack, tenant_a: Tenant) -> None:
    """The admin DELETE of the matrix revoked only the victim key."""
    with api_client(e2e_stack, tenant_a.admin) as c:
        keys = c.get("/api-keys", params={"include_revoked": "true"}).json()["data"]["keys"]
    by_id = {k["id"]: k for k in keys}
    for alive in (tenant_a.admin, tenant_a.rw, tenant_a.ro):
        assert by_id[alive.id]["revoked_at"] is None


# ----------------------------------------------------------------------------- tenants


def test_other_org_gets_404_for_assets(e2e_stack: Stack, tenant_a: Tenant,
                                       tenant_b: Tenant) -> None:
    a = tenant_a.asset
    refs = [a["id"], a["id"][:8], a["qualified_name"], a["id"].upper()]
    with api_client(e2e_stack, tenant_b.admin) as c:
        for ref in refs:
            for path in (f"/sdk/assets/{ref}", f"/assets/{ref}"):
                err = assert_error(c.get(path), 404)  # the envelope only, never the object
                assert err["code"] == "ASSET_NOT_FOUND"
            for action in ("test-connection", "discover"):
                assert_error(c.post(f"/sdk/assets/{ref}/{action}"), 404, "ASSET_NOT_FOUND")
    # and the owner still sees it by each reference
    with api_client(e2e_stack, tenant_a.ro) as c:
        for ref in refs[:3]:
            assert c.get(f"/sdk/assets/{ref}").json()["data"]["id"] == a["id"]


def test_other_org_gets_404_for_api_keys(e2e_stack: Stack, tenant_a: Tenant,
                                         tenant_b: Tenant) -> None:
    with api_client(e2e_stack, tenant_b.admin) as c:
        for key in (tenant_a.ro, tenant_a.admin):
            assert_error(c.get(f"/api-keys/{key.id}"), 404, "API_KEY_NOT_FOUND")
            assert_error(c.delete(f"/api-keys/{key.id}"), 404, "API_KEY_NOT_FOUND")
    # B's DELETE did not revoke A's keys
    with api_client(e2e_stack, tenant_a.ro) as c:
        assert c.get("/api-keys/usage").status_code == 200
    with api_client(e2e_stack, tenant_a.admin) as c:
        assert c.get(f"/api-keys/{tenant_a.ro.id}").json()["data"]["revoked_at"] is None


def test_other_org_gets_404_for_jobs(e2e_stack: Stack, tenant_a: Tenant,
                                     tenant_b: Tenant) -> None:
    with api_client(e2e_stack, tenant_b.admin) as c:
        for path in (f"/sdk/jobs/{tenant_a.job_id}", f"/jobs/{tenant_a.job_id}"):
            assert_error(c.get(path), 404, "JOB_NOT_FOUND")
    with api_client(e2e_stack, tenant_a.ro) as c:
        assert c.get(f"/sdk/jobs/{tenant_a.job_id}").status_code == 200


def test_other_org_lists_exclude_foreign_objects(e2e_stack: Stack, tenant_a: Tenant,
                                                 tenant_b: Tenant, pg: PgTarget) -> None:
    own = create_asset(e2e_stack, tenant_b.admin, "b warehouse " + secrets.token_hex(3),
                       pg.config())
    assert own["qualified_name"] == tenant_a.asset["qualified_name"]  # same name, other org
    assert own["id"] != tenant_a.asset["id"]
    a_key_ids = {tenant_a.admin.id, tenant_a.rw.id, tenant_a.ro.id, tenant_a.victim.id,
                 tenant_a.revoked.id}
    with api_client(e2e_stack, tenant_b.admin) as c:
        sdk_ids = {x["id"] for x in c.get("/sdk/assets").json()["data"]["data"]}
        public_ids = {x["id"] for x in c.get("/assets").json()["data"]}
        assert own["id"] in sdk_ids and own["id"] in public_ids
        assert tenant_a.asset["id"] not in sdk_ids | public_ids
        searched = c.get("/sdk/assets", params={"search": "tenant-a"}).json()["data"]["data"]
        assert searched == []
        keys = c.get("/api-keys", params={"include_revoked": "true"}).json()["data"]["keys"]
        assert not a_key_ids & {k["id"] for k in keys}
        assert tenant_b.admin.id in {k["id"] for k in keys}
        # the qualified name now resolves to B's own asset, never A's
        got = c.get(f"/sdk/assets/{own['qualified_name']}").json()["data"]
        assert got["id"] == own["id"]
