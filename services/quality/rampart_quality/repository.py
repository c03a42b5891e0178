"""Every SQL statement of the quality service."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from rampart_contracts.errors import AlreadyExists, ValidationFailed

from .domain.refs import AssetRef, like_escape

_ASSET_COLUMNS = (
    "id, org_id, name, source_type, database_name, qualified_name, description, is_active,"
    " table_count, view_count, total_size_bytes, last_discovered_at, created_at, updated_at"
)


class AssetRepository:
    def __init__(self, conn: asyncpg.Connection | asyncpg.Pool) -> None:
        self._db = conn

    async def insert(
        self,
        *,
        org_id: str,
        name: str,
        source_type: str,
        database_name: str,
        qualified_name: str,
        description: str | None,
        sealed: bytes,
    ) -> asyncpg.Record:
        try:
            row = await self._db.fetchrow(
                "INSERT INTO quality.assets (id, org_id, name, source_type, database_name,"
                " qualified_name, description, connection_sealed)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
                f" RETURNING {_ASSET_COLUMNS}",
                uuid.uuid4(), org_id, name, source_type, database_name, qualified_name,
                description, sealed,
            )
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(
                f"an asset named {qualified_name} already exists",
                {"qualified_name": qualified_name},
            ) from None
        assert row is not None
        return row

    async def find(self, org_id: str, ref: AssetRef) -> asyncpg.Record | None:
        if ref.kind == "uuid":
            return await self._db.fetchrow(
                f"SELECT {_ASSET_COLUMNS} FROM quality.assets WHERE org_id = $1 AND id = $2",
                org_id, uuid.UUID(ref.value),
            )
        if ref.kind == "name":
            return await self._db.fetchrow(
                f"SELECT {_ASSET_COLUMNS} FROM quality.assets"
                " WHERE org_id = $1 AND qualified_name = $2",
                org_id, ref.value,
            )
        rows = await self._db.fetch(
            f"SELECT {_ASSET_COLUMNS} FROM quality.assets"
            " WHERE org_id = $1 AND id::text LIKE $2 LIMIT 2",
            org_id, like_escape(ref.value) + "%",
        )
        if len(rows) > 1:
            raise ValidationFailed(
                f"id prefix {ref.value!r} matches more than one asset; give more characters",
                {"asset_id": ref.value},
            )
        return rows[0] if rows else None

    async def sealed_connection(self, org_id: str, asset_id: uuid.UUID) -> bytes | None:
        value = await self._db.fetchval(
            "SELECT connection_sealed FROM quality.assets WHERE org_id = $1 AND id = $2",
            org_id, asset_id,
        )
        return bytes(value) if value is not None else None

    async def page(
        self,
        org_id: str,
        *,
        limit: int,
        offset: int,
        source: str | None,
        asset_type: str | None,
        search: str | None,
    ) -> tuple[list[asyncpg.Record], int]:
        where = ["org_id = $1"]
        args: list[Any] = [org_id]
        if source:
            args.append(source.lower())
            where.append(f"source_type = ${len(args)}")
        if asset_type and asset_type.lower() not in ("database", "connection", "source"):
            # Only data-source connections are assets here; tables arrive with the catalog.
            return [], 0
        if search:
            args.append("%" + like_escape(search) + "%")
            n = len(args)
            where.append(
                f"(name ILIKE ${n} OR qualified_name ILIKE ${n} OR description ILIKE ${n})"
            )
        clause = " AND ".join(where)
        total = await self._db.fetchval(
            f"SELECT count(*) FROM quality.assets WHERE {clause}", *args
        )
        args += [limit, offset]
        rows = await self._db.fetch(
            f"SELECT {_ASSET_COLUMNS} FROM quality.assets WHERE {clause}"
            f" ORDER BY created_at, id LIMIT ${len(args) - 1} OFFSET ${len(args)}",
            *args,
        )
        return list(rows), int(total)

    async def sync_catalog(self, org_id: str, asset_id: uuid.UUID, source_type: str,
                           database: str, tables: list[Any]) -> None:
        """Upsert what discovery found and mark what it no longer finds as removed."""
        records = [(uuid.uuid4(), org_id, asset_id, t.schema, t.name, t.kind,
                    f"{source_type}.{database}.{t.schema}.{t.name}", t.row_estimate,
                    t.size_bytes) for t in tables]
        await self._db.execute(
            "CREATE TEMP TABLE IF NOT EXISTS tmp_catalog (id uuid, org_id text, asset_id uuid,"
            " schema_name text, table_name text, kind text, qualified_name text,"
            " row_estimate bigint, size_bytes bigint) ON COMMIT DROP")
        await self._db.execute("TRUNCATE tmp_catalog")
        await self._db.copy_records_to_table("tmp_catalog", records=records)
        await self._db.execute(
            "INSERT INTO quality.catalog_tables (id, org_id, asset_id, schema_name, table_name,"
            " kind, qualified_name, row_estimate, size_bytes) SELECT * FROM tmp_catalog"
            " ON CONFLICT (asset_id, schema_name, table_name) DO UPDATE SET kind = EXCLUDED.kind,"
            " row_estimate = EXCLUDED.row_estimate, size_bytes = EXCLUDED.size_bytes,"
            " last_seen_at = now(), removed_at = NULL")
        await self._db.execute(
            "UPDATE quality.catalog_tables c SET removed_at = now() WHERE c.asset_id = $1"
            " AND c.removed_at IS NULL AND NOT EXISTS (SELECT 1 FROM tmp_catalog t"
            " WHERE t.schema_name = c.schema_name AND t.table_name = c.table_name)", asset_id)

    async def catalog_lookup(self, org_id: str, names: list[str]) -> dict[str, str]:
        rows = await self._db.fetch(
            "SELECT qualified_name, id FROM quality.catalog_tables WHERE org_id = $1"
            " AND qualified_name = ANY($2::text[]) AND removed_at IS NULL", org_id, names)
        return {r["qualified_name"]: str(r["id"]) for r in rows}

    async def record_discovery(
        self, org_id: str, asset_id: uuid.UUID, tables: int, views: int, size: int | None,
        at: datetime,
    ) -> None:
        await self._db.execute(
            "UPDATE quality.assets SET table_count = $3, view_count = $4, total_size_bytes = $5,"
            " last_discovered_at = $6, updated_at = now() WHERE org_id = $1 AND id = $2",
            org_id, asset_id, tables, views, size, at,
        )
