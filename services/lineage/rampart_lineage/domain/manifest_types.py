"""msgspec Structs and per-version layouts for what lineage reads of a dbt manifest; error diagnosis."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import Raw, Struct

from .model import ManifestError

# Every Struct here is gc=False: instances hold only strings, containers of strings and other
# Structs, so they can never be part of a reference cycle and need no GC tracking. Fields not
# declared (raw_code, compiled_code, fqn, checksum, docs, refs, ...) are skipped by the decoder.


class Column(Struct, gc=False):
    description: str | None = None
    data_type: str | None = None


class DependsOn(Struct, gc=False):
    nodes: list[str] = []


class NodeConfig(Struct, gc=False):
    enabled: bool = True
    materialized: str | None = None
    severity: str | None = None
    meta: dict[str, Any] = {}


class TestMetadata(Struct, gc=False):
    name: str | None = None
    kwargs: dict[str, Any] = {}
    namespace: str | None = None


class Node(Struct, gc=False):
    """An entry of `nodes`: model, seed, snapshot, analysis, test (and operations, which are
    not kept). `attached_node` exists from v9; earlier manifests leave it None."""

    unique_id: str
    name: str
    resource_type: str
    database: str | None = None
    schema: str | None = None
    alias: str | None = None
    relation_name: str | None = None
    description: str | None = None
    tags: list[str] = []
    meta: dict[str, Any] = {}
    columns: dict[str, Column] = {}
    package_name: str | None = None
    original_file_path: str | None = None
    config: NodeConfig | None = None
    depends_on: DependsOn | None = None
    test_metadata: TestMetadata | None = None
    column_name: str | None = None
    attached_node: str | None = None


class SourceConfig(Struct, gc=False):
    enabled: bool = True
    meta: dict[str, Any] = {}


class Source(Struct, gc=False):
    unique_id: str
    name: str
    database: str | None = None
    schema: str | None = None
    identifier: str | None = None
    relation_name: str | None = None
    description: str | None = None
    tags: list[str] = []
    meta: dict[str, Any] = {}
    columns: dict[str, Column] = {}
    package_name: str | None = None
    original_file_path: str | None = None
    config: SourceConfig | None = None


class ExposureOwner(Struct, gc=False):
    name: str | None = None
    email: str | None = None


class Exposure(Struct, gc=False):
    unique_id: str
    name: str
    description: str | None = None
    tags: list[str] = []
    meta: dict[str, Any] = {}
    owner: ExposureOwner | None = None
    package_name: str | None = None
    original_file_path: str | None = None
    config: SourceConfig | None = None


class Metadata(Struct, gc=False):
    dbt_schema_version: str | int | None = None
    dbt_version: str | None = None
    generated_at: str | None = None
    project_name: str | None = None
    project_id: str | None = None
    invocation_id: str | None = None


_ABSENT = Raw()  # an empty Raw: the section is not in the document


class Manifest(Struct, gc=False):
    """The top level. Sections lineage only needs the keys of (to tell "exists elsewhere in the
    manifest" from "unknown") stay Raw: skipped at decode, read only when parent_map needs them."""

    nodes: dict[str, Node]
    parent_map: dict[str, list[str]]
    metadata: Metadata | None = None
    sources: dict[str, Source] = {}
    exposures: dict[str, Exposure] = {}
    metrics: Raw = _ABSENT
    semantic_models: Raw = _ABSENT
    saved_queries: Raw = _ABSENT
    unit_tests: Raw = _ABSENT
    groups: Raw = _ABSENT
    functions: Raw = _ABSENT
    disabled: Raw = _ABSENT


@dataclass(frozen=True, slots=True)
class Layout:
    """What one manifest schema version holds, as far as lineage is concerned."""

    version: int
    # Sections (besides nodes/sources/exposures) whose unique ids may appear in parent_map.
    reference_sections: tuple[str, ...]
    has_attached_node: bool  # tests' attached_node (v9+)


MIN_VERSION, MAX_VERSION = 4, 12


def _layout(version: int) -> Layout:
    sections = ["metrics", "disabled"]
    if version >= 9:
        sections.append("groups")
    if version >= 10:
        sections.append("semantic_models")
    if version >= 11:
        sections.append("saved_queries")
    if version >= 12:
        sections += ["unit_tests", "functions"]
    return Layout(version, tuple(sections), version >= 9)


LAYOUTS: dict[int, Layout] = {v: _layout(v) for v in range(MIN_VERSION, MAX_VERSION + 1)}

MANIFEST_DECODER = msgspec.json.Decoder(Manifest)
RAW_MAP_DECODER = msgspec.json.Decoder(dict[str, Raw])

_VERSION_RE = re.compile(r"manifest/v(\d+)(?:\.json)?/?$")
_JSON_KINDS = {ord("["): "array", ord('"'): "string", ord("t"): "boolean", ord("f"): "boolean",
               ord("n"): "null", ord("{"): "object"}


def schema_version(dbt_schema_version: str | int | None) -> int:
    """N from `https://schemas.getdbt.com/dbt/manifest/vN.json`; 0 when absent or unrecognised."""
    if isinstance(dbt_schema_version, int):
        return dbt_schema_version
    if dbt_schema_version:
        m = _VERSION_RE.search(dbt_schema_version.strip())
        if m:
            return int(m.group(1))
    return 0


def layout_for(version: int) -> Layout:
    """The layout to read a manifest of this schema version with (ManifestError before v4)."""
    if version in LAYOUTS:
        return LAYOUTS[version]
    if 0 < version < MIN_VERSION:
        raise ManifestError(f"manifest schema v{version} is not supported "
                            f"(supported: v{MIN_VERSION}-v{MAX_VERSION}); re-generate it with dbt >= 1.0")
    return LAYOUTS[MAX_VERSION]  # newer or unknown: best effort with the latest layout


def section_ids(raw: msgspec.Raw) -> Iterable[str]:
    """Unique ids of a section: an object's keys (or, pre-v4 `disabled`, a list's unique_ids)."""
    text = bytes(raw)
    if text[:1] == b"{":
        return RAW_MAP_DECODER.decode(text).keys()
    if text[:1] == b"[":  # pre-v4 `disabled` was a list of nodes
        return (n["unique_id"] for n in msgspec.json.decode(text)
                if isinstance(n, dict) and isinstance(n.get("unique_id"), str))
    return ()


# -- diagnosis (error path only): re-read the document to name the offending key or node ---------

_MISSING_RE = re.compile(r"^Object missing required field `([^`]+)`(?: - at `\$`)?$")


def _kind(raw: bytes) -> str:
    first = raw.lstrip()[:1]
    if not first:
        return "nothing"
    return _JSON_KINDS.get(first[0], "number")


def diagnose(raw: bytes, exc: msgspec.ValidationError) -> ManifestError:
    """Why a well-formed document failed the typed decode, naming the key or node at fault."""
    try:
        whole = msgspec.json.decode(raw, type=msgspec.Raw)
    except msgspec.DecodeError as err:
        return ManifestError(f"manifest is not valid JSON: {err}")
    if _kind(bytes(whole)) != "object":
        return ManifestError(f"manifest must be a JSON object at the top level, got {_kind(bytes(whole))}")
    top = RAW_MAP_DECODER.decode(raw)
    version = 0
    if "metadata" in top:
        try:
            version = schema_version(msgspec.json.decode(top["metadata"], type=Metadata).dbt_schema_version)
        except msgspec.ValidationError as err:
            return ManifestError(f"manifest key 'metadata' is invalid: {err}")
    prefix = ""
    if version > MAX_VERSION:
        prefix = (f"manifest schema v{version} is newer than supported (v{MIN_VERSION}-v{MAX_VERSION}) "
                  f"and does not match the v{MAX_VERSION} layout: ")
    elif 0 < version < MIN_VERSION:
        return ManifestError(f"manifest schema v{version} is not supported "
                             f"(supported: v{MIN_VERSION}-v{MAX_VERSION}); re-generate it with dbt >= 1.0")
    return ManifestError(prefix + _problem(top, exc))


def _problem(top: dict[str, msgspec.Raw], exc: msgspec.ValidationError) -> str:
    for key in ("nodes", "parent_map"):
        if key not in top:
            return f"manifest is missing required key '{key}'"
    for key, item_type, what in (("nodes", Node, "node"), ("sources", Source, "source"),
                                 ("exposures", Exposure, "exposure")):
        if key not in top:
            continue
        section = bytes(top[key])
        if _kind(section) != "object":
            return f"manifest key '{key}' must be an object, got {_kind(section)}"
        for uid, item in RAW_MAP_DECODER.decode(section).items():
            body = bytes(item)
            if _kind(body) != "object":
                return f"{what} '{uid}' in '{key}' must be an object, got {_kind(body)}"
            try:
                msgspec.json.decode(body, type=item_type)
            except msgspec.ValidationError as err:
                missing = _MISSING_RE.match(str(err))
                if missing:
                    return f"{what} '{uid}' in '{key}' is missing required field '{missing.group(1)}'"
                return f"{what} '{uid}' in '{key}' has an invalid value: {err}"
    section = bytes(top["parent_map"])
    if _kind(section) != "object":
        return f"manifest key 'parent_map' must be an object, got {_kind(section)}"
    for child, parents in RAW_MAP_DECODER.decode(section).items():
        body = bytes(parents)
        if _kind(body) != "array":
            return f"parent_map['{child}'] must be a list of unique ids, got {_kind(body)}"
        try:
            msgspec.json.decode(body, type=list[str])
        except msgspec.ValidationError as err:
            return f"parent_map['{child}'] must be a list of unique ids: {err}"
    return f"manifest does not match the dbt manifest layout: {exc}"
