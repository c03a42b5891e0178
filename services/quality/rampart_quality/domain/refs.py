"""How an `{asset_id}` path value is read: UUID, unique UUID prefix, or a qualified name."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Literal

_PREFIX = re.compile(r"^[0-9a-f]{4,31}(-[0-9a-f]{0,12}){0,4}$")
_NAME_PART = re.compile(r"^[A-Za-z0-9_$\-]+$")

SUGGESTION = "Check the qualified name format: source.database.schema.table"


@dataclass(frozen=True)
class AssetRef:
    """A parsed reference. `table_path` is `schema.table` when a table name was given."""

    kind: Literal["uuid", "prefix", "name"]
    value: str
    table_path: str | None = None


def parse_ref(ref: str) -> AssetRef | None:
    """Classify a reference; None when it cannot name any asset."""
    ref = ref.strip()
    if not ref or len(ref) > 500:
        return None
    try:
        return AssetRef("uuid", str(uuid.UUID(ref)))
    except ValueError:
        pass
    lowered = ref.lower()
    if "." not in ref:
        return AssetRef("prefix", lowered) if _PREFIX.match(lowered) else None
    parts = ref.split(".")
    if any(not p or not _NAME_PART.match(p) for p in parts):
        return None
    asset_name = f"{parts[0].lower()}.{parts[1]}"
    if len(parts) == 2:
        return AssetRef("name", asset_name)
    # source.database.schema.table (a table inside the asset); more parts are not addressable.
    if len(parts) == 4:
        return AssetRef("name", asset_name, table_path=f"{parts[2]}.{parts[3]}")
    if len(parts) == 3:
        return AssetRef("name", asset_name, table_path=parts[2])
    return None


def qualified_name(source_type: str, database: str) -> str:
    return f"{source_type}.{database}"


def like_escape(text: str) -> str:
    """Escape LIKE wildcards so user search text matches literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
