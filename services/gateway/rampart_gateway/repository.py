"""Every SQL statement of the gateway: organizations, API keys, rate buckets and jobs."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from rampart_contracts.errors import ApiKeyNotFound, JobNotFound

KEY_COLUMNS = (
    "id, org_id, name, key_prefix, key_suffix, scope, rate_limit_per_min, burst_limit,"
    " created_at, last_used_at, revoked_at"
)
JOB_COLUMNS = (
    "id, org_id, workflow_name, asset_id, status, progress, message, error, result,"
    " created_at, started_at, updated_at, completed_at"
)
_TERMINAL = "('completed', 'failed')"


def _uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


class GatewayRepository:
    def __init__(self, db: asyncpg.Pool | asyncpg.Connection) -> None:
        self._db = db

    # -- organizations -------------------------------------------------------------------
    async def ensure_org(self, org_id: str, name: str, tier: str) -> None:
        await self._db.execute(
            "INSERT INTO gateway.organizations (id, name, tier) VALUES ($1, $2, $3)"
            " ON CONFLICT (id) DO NOTHING",
            org_id, name, tier,
        )

    async def org_tier(self, org_id: str) -> str | None:
        value = await self._db.fetchval("SELECT tier FROM gateway.organizations WHERE id = $1",
                                        org_id)
        return str(value) if value is not None else None

    # -- API keys ------------------------------------------------------------------------
    async def insert_key(
        self, *, org_id: str, name: str, key_hash: str, key_prefix: str, key_suffix: str,
        scope: str, rate_limit_per_min: int, burst_limit: int,
    ) -> asyncpg.Record:
        row = await self._db.fetchrow(
            "INSERT INTO gateway.api_keys (id, org_id, name, key_hash, key_prefix, key_suffix,"
            " scope, rate_limit_per_min, burst_limit) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)"
            f" RETURNING {KEY_COLUMNS}",
            uuid.uuid4(), org_id, name, key_hash, key_prefix, key_suffix, scope,
            rate_limit_per_min, burst_limit,
        )
        assert row is not None
        return row

    async def key_by_hash(self, key_hash: str) -> asyncpg.Record | None:
        return await self._db.fetchrow(
            f"SELECT {KEY_COLUMNS} FROM gateway.api_keys WHERE key_hash = $1", key_hash
        )

    async def get_key(self, org_id: str, key_id: str) -> asyncpg.Record:
        parsed = _uuid_or_none(key_id)
        row = None
        if parsed is not None:
            row = await self._db.fetchrow(
                f"SELECT {KEY_COLUMNS} FROM gateway.api_keys WHERE org_id = $1 AND id = $2",
                org_id, parsed,
            )
        if row is None:
            raise ApiKeyNotFound("API key not found", {"key_id": key_id})
        return row

    async def list_keys(
        self, org_id: str, limit: int, offset: int, include_revoked: bool
    ) -> tuple[list[asyncpg.Record], int]:
        clause = "org_id = $1" + ("" if include_revoked else " AND revoked_at IS NULL")
        total = await self._db.fetchval(f"SELECT count(*) FROM gateway.api_keys WHERE {clause}",
                                        org_id)
        rows = await self._db.fetch(
            f"SELECT {KEY_COLUMNS} FROM gateway.api_keys WHERE {clause}"
            " ORDER BY created_at, id LIMIT $2 OFFSET $3",
            org_id, limit, offset,
        )
        return list(rows), int(total)

    async def count_active_keys(self, org_id: str) -> int:
        return int(await self._db.fetchval(
            "SELECT count(*) FROM gateway.api_keys WHERE org_id = $1 AND revoked_at IS NULL",
            org_id,
        ))

    async def revoke_key(self, org_id: str, key_id: str) -> asyncpg.Record:
        parsed = _uuid_or_none(key_id)
        row = None
        if parsed is not None:
            row = await self._db.fetchrow(
                "UPDATE gateway.api_keys SET revoked_at = coalesce(revoked_at, now())"
                f" WHERE org_id = $1 AND id = $2 RETURNING {KEY_COLUMNS}",
                org_id, parsed,
            )
        if row is None:
            raise ApiKeyNotFound("API key not found", {"key_id": key_id})
        return row

    async def touch_key(self, key_id: uuid.UUID) -> None:
        await self._db.execute(
            "UPDATE gateway.api_keys SET last_used_at = now() WHERE id = $1", key_id
        )

    # -- rate buckets --------------------------------------------------------------------
    async def take_tokens(
        self, key_id: uuid.UUID, per_min: int, burst: int, wanted: int
    ) -> tuple[int, float, float]:
        """Atomically refill both buckets and take up to `wanted` whole tokens.

        Returns (granted, minute tokens left, second tokens left). One statement, one row
        lock: every gateway replica draws from the same buckets.
        """
        row = await self._db.fetchrow(_TAKE_SQL, key_id, float(per_min), float(burst), wanted)
        if row is None:
            await self._db.execute(
                "INSERT INTO gateway.rate_buckets (key_id, minute_tokens, second_tokens,"
                " updated_at) VALUES ($1, $2, $3, clock_timestamp())"
                " ON CONFLICT (key_id) DO NOTHING",
                key_id, float(per_min), float(burst),
            )
            row = await self._db.fetchrow(_TAKE_SQL, key_id, float(per_min), float(burst), wanted)
        assert row is not None
        return int(row["granted"]), float(row["minute_tokens"]), float(row["second_tokens"])

    # -- jobs ----------------------------------------------------------------------------
    async def insert_job(self, org_id: str, job_id: str, workflow: str, asset_id: str | None
                         ) -> asyncpg.Record:
        row = await self._db.fetchrow(
            "INSERT INTO gateway.jobs (id, org_id, workflow_name, asset_id, status)"
            f" VALUES ($1, $2, $3, $4, 'pending') RETURNING {JOB_COLUMNS}",
            uuid.UUID(job_id), org_id, workflow, asset_id,
        )
        assert row is not None
        return row

    async def get_job(self, org_id: str, job_id: str) -> asyncpg.Record:
        parsed = _uuid_or_none(job_id)
        row = None
        if parsed is not None:
            row = await self._db.fetchrow(
                f"SELECT {JOB_COLUMNS} FROM gateway.jobs WHERE org_id = $1 AND id = $2",
                org_id, parsed,
            )
        if row is None:
            raise JobNotFound("Job not found", {"job_id": job_id})
        return row

    async def apply_job_event(
        self, *, org_id: str, job_id: str, kind: str, at: datetime, asset_id: str | None,
        workflow: str | None = None, progress: int | None = None, message: str | None = None,
        error: str | None = None, result: dict[str, Any] | None = None,
    ) -> None:
        """Move a job forward; a terminal job never moves back (events may arrive late)."""
        status = {"job_started": "running", "job_progress": "running",
                  "job_completed": "completed", "job_failed": "failed"}[kind]
        terminal = status in ("completed", "failed")
        await self._db.execute(
            "INSERT INTO gateway.jobs AS j (id, org_id, workflow_name, asset_id, status, progress,"
            " message, error, result, started_at, updated_at, completed_at)"
            " VALUES ($1, $2, coalesce($3, 'unknown'), $4, $5,"
            "  CASE WHEN $5 = 'completed' THEN 100 ELSE coalesce($6, 0) END, $7, $8, $9,"
            "  CASE WHEN $5 = 'running' THEN $10::timestamptz END, $10,"
            "  CASE WHEN $11 THEN $10::timestamptz END)"
            " ON CONFLICT (id) DO UPDATE SET"
            "  status = CASE WHEN j.status IN " + _TERMINAL + " THEN j.status ELSE $5 END,"
            "  progress = CASE WHEN j.status IN " + _TERMINAL + " THEN j.progress"
            "   WHEN $11 AND $5 = 'completed' THEN 100 ELSE greatest(j.progress, coalesce($6, 0)) END,"
            "  message = coalesce($7, j.message),"
            "  error = CASE WHEN j.status IN " + _TERMINAL + " THEN j.error ELSE coalesce($8, j.error) END,"
            "  result = coalesce($9, j.result),"
            "  workflow_name = CASE WHEN j.workflow_name = 'unknown' THEN coalesce($3, j.workflow_name)"
            "   ELSE j.workflow_name END,"
            "  started_at = CASE WHEN $5 = 'running'"
            "   THEN least(coalesce(j.started_at, $10::timestamptz), $10::timestamptz)"
            "   ELSE j.started_at END,"
            "  completed_at = CASE WHEN j.status IN " + _TERMINAL + " THEN j.completed_at"
            "   WHEN $11 THEN $10::timestamptz ELSE j.completed_at END,"
            "  updated_at = greatest(j.updated_at, $10)"
            " WHERE j.org_id = $2",
            uuid.UUID(job_id), org_id, workflow, asset_id, status, progress, message, error,
            orjson.dumps(result).decode() if result is not None else None, at, terminal,
        )


_TAKE_SQL = """
WITH cur AS (
    SELECT key_id,
           least($2::float8, minute_tokens
                 + extract(epoch FROM clock_timestamp() - updated_at) * $2::float8 / 60.0) AS m,
           least($3::float8, second_tokens
                 + extract(epoch FROM clock_timestamp() - updated_at) * $3::float8) AS s
    FROM gateway.rate_buckets WHERE key_id = $1 FOR UPDATE
), g AS (
    SELECT key_id, m, s, greatest(0, least($4::int, floor(m)::int, floor(s)::int)) AS granted
    FROM cur
)
UPDATE gateway.rate_buckets b
SET minute_tokens = g.m - g.granted, second_tokens = g.s - g.granted,
    updated_at = clock_timestamp()
FROM g WHERE b.key_id = g.key_id
RETURNING g.granted, b.minute_tokens, b.second_tokens
"""
