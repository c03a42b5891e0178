"""dbt manifest.json (schema v4-v12) parsed into lineage nodes and edges: `parse_manifest`."""

from __future__ import annotations

import gc
import hashlib
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import msgspec

from .manifest_types import (
    MANIFEST_DECODER,
    RAW_MAP_DECODER,
    Exposure,
    Layout,
    Manifest,
    Metadata,
    Node,
    Source,
    diagnose,
    layout_for,
    schema_version,
    section_ids,
)
from .model import ManifestError, ManifestMetadata, ParsedManifest, ParsedNode

__all__ = ["KEPT_NODE_TYPES", "find_cycle", "parse_manifest", "schema_version"]

# resource_type of `nodes` entries that become lineage nodes; others (operation, sql_operation,
# rpc, ...) are dropped but still count as "known" when parent_map mentions them.
KEPT_NODE_TYPES = frozenset({"model", "seed", "snapshot", "analysis", "test"})
_BOM = b"\xef\xbb\xbf"
# Top-level keys never searched for a parent_map id (they hold no graph vertices, or they are
# read already); every other top-level object is, before an id is declared unknown.
_NOT_REFERENCE = frozenset({"metadata", "nodes", "sources", "exposures", "parent_map", "child_map",
                            "group_map", "selectors", "macros", "docs"})


def parse_manifest(raw: bytes, *, disable_gc: bool = True) -> ParsedManifest:
    """Validate a manifest and turn it into nodes (file order: nodes, sources, exposures) and
    deduplicated (parent, child) edges between kept non-test nodes. Raises ManifestError.

    `metadata.project_name` exists from schema v10; for older manifests it is recovered from
    `metadata.project_id` (dbt writes md5(project_name)) by matching the nodes' package names,
    and is None when nothing matches. A missing or unrecognisable `dbt_schema_version` is
    reported as 0 and parsed like v12.

    The cyclic GC is off while the document is decoded and rebuilt (`disable_gc=False` is for
    benchmarks): the ~10^5 containers created would otherwise trigger dozens of collections.
    """
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    if not raw.isascii():
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ManifestError(
                f"manifest is not UTF-8 encoded (invalid byte at offset {exc.start})") from None
    with _gc_paused(disable_gc):
        try:
            manifest = MANIFEST_DECODER.decode(raw)
        except msgspec.ValidationError as exc:  # a subclass of DecodeError
            raise diagnose(raw, exc) from None
        except msgspec.DecodeError as exc:
            raise ManifestError(f"manifest is not valid JSON: {exc}") from None
        result = _build(manifest, raw)
        # Free the decoded tree before the GC is back on: the generation-0 pass that follows
        # then only walks the result, not the (larger) decoded document as well.
        del manifest
    return result


class _GcPause:
    """gc.disable() is process-wide and parses may run in worker threads (asyncio.to_thread):
    the first parse in switches the collector off, the last one out restores the prior state."""

    lock = threading.Lock()
    holders = 0
    restore = False


@contextmanager
def _gc_paused(active: bool) -> Iterator[None]:
    if not active:
        yield
        return
    with _GcPause.lock:
        if _GcPause.holders == 0:
            _GcPause.restore = gc.isenabled()
            gc.disable()
        _GcPause.holders += 1
    try:
        yield
    finally:
        with _GcPause.lock:
            _GcPause.holders -= 1
            if _GcPause.holders == 0 and _GcPause.restore:
                gc.enable()


def _build(m: Manifest, raw: bytes) -> ParsedManifest:
    meta = m.metadata or Metadata()
    version = schema_version(meta.dbt_schema_version)
    layout = layout_for(version)

    out: list[ParsedNode] = []
    kept: dict[str, str] = {}  # unique_id -> resource_type
    present: set[str] = set()  # ids of entries seen but not kept (disabled, operations)
    nodes = m.nodes  # popped while converted: each decoded entry is freed as soon as it is
    for key in list(nodes):  # rebuilt, not at the end (~25 MB less peak at 10k models)
        node = nodes.pop(key)
        cfg = node.config
        if node.resource_type not in KEPT_NODE_TYPES or (cfg is not None and not cfg.enabled):
            present.add(node.unique_id)
            continue
        out.append(_from_node(node, layout))
        kept[node.unique_id] = node.resource_type
    for src in m.sources.values():
        if src.config is not None and not src.config.enabled:
            present.add(src.unique_id)
            continue
        out.append(_from_source(src))
        kept[src.unique_id] = "source"
    for exp in m.exposures.values():
        if exp.config is not None and not exp.config.enabled:
            present.add(exp.unique_id)
            continue
        out.append(_from_exposure(exp))
        kept[exp.unique_id] = "exposure"

    edges = _edges(m, kept, present, layout, raw)
    cycle = find_cycle(edges)
    if cycle is not None:
        raise ManifestError(f"lineage has a cycle: {' -> '.join(cycle)}")

    project_name = meta.project_name  # v10+
    if project_name is None and meta.project_id:
        project_name = _project_from_id(meta.project_id, out)
    metadata = ManifestMetadata(
        dbt_schema_version=version, dbt_version=meta.dbt_version, generated_at=meta.generated_at,
        project_name=project_name, invocation_id=meta.invocation_id,
    )
    return ParsedManifest(metadata=metadata, nodes=out, edges=edges)


def _owner_of(meta: dict[str, Any], config_meta: dict[str, Any] | None) -> str | None:
    owner = meta.get("owner") if meta else None
    if owner is None and config_meta:
        owner = config_meta.get("owner")
    if isinstance(owner, str):
        return owner or None
    if isinstance(owner, list) and owner and all(isinstance(o, str) for o in owner):
        return ", ".join(owner)
    return None


def _columns(columns: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: {"description": c.description or "", "data_type": c.data_type}
            for name, c in columns.items()}


def _from_node(n: Node, layout: Layout) -> ParsedNode:
    cfg = n.config
    cfg_meta = cfg.meta if cfg is not None else None
    test: dict[str, Any] | None = None
    if n.resource_type == "test":
        tm = n.test_metadata
        severity = cfg.severity if cfg is not None else None
        test = {
            "name": tm.name if tm is not None else None,
            "kwargs": tm.kwargs if tm is not None else {},
            "namespace": tm.namespace if tm is not None else None,
            "column_name": n.column_name,
            "attached_node": n.attached_node if layout.has_attached_node else None,
            "severity": severity.lower() if severity else None,
            "depends_on": n.depends_on.nodes if n.depends_on is not None else [],
        }
    meta = n.meta
    return ParsedNode(
        n.unique_id, n.name, n.resource_type, n.database, n.schema, n.alias, n.relation_name,
        cfg.materialized if cfg is not None else None, n.description or "", n.tags,
        _owner_of(meta, cfg_meta) if meta or cfg_meta else None,
        _columns(n.columns) if n.columns else {}, n.package_name, n.original_file_path,
        meta or cfg_meta or {}, test,
    )


def _from_source(s: Source) -> ParsedNode:
    cfg_meta = s.config.meta if s.config is not None else None
    return ParsedNode(
        s.unique_id, s.name, "source", s.database, s.schema, s.identifier, s.relation_name, None,
        s.description or "", s.tags, _owner_of(s.meta, cfg_meta) if s.meta or cfg_meta else None,
        _columns(s.columns) if s.columns else {}, s.package_name, s.original_file_path,
        s.meta or cfg_meta or {},
    )


def _from_exposure(e: Exposure) -> ParsedNode:
    owner = None
    if e.owner is not None:
        name, email = e.owner.name or None, e.owner.email or None
        owner = f"{name} <{email}>" if name and email else (name or email)
    return ParsedNode(
        e.unique_id, e.name, "exposure", description=e.description or "", tags=e.tags,
        owner=owner or _owner_of(e.meta, None), package_name=e.package_name,
        path=e.original_file_path, meta=e.meta,
    )


def _edges(m: Manifest, kept: dict[str, str], present: set[str], layout: Layout,
           raw: bytes) -> list[tuple[str, str]]:
    """(parent, child) pairs of parent_map between kept non-test nodes, first occurrence order."""
    edges: list[tuple[str, str]] = []
    append, kind_of = edges.append, kept.get
    elsewhere = _Elsewhere(m, layout, raw)
    for child, parents in m.parent_map.items():
        ctype = kind_of(child)
        if ctype is None and child not in present and child not in elsewhere:
            raise ManifestError(f"parent_map references unknown node '{child}' (a parent_map key)")
        if ctype is None or ctype == "test":  # no edges, but every parent must still be known
            for parent in parents:
                if parent not in kept and parent not in present and parent not in elsewhere:
                    raise ManifestError(
                        f"parent_map references unknown node '{parent}' (parent of '{child}')")
            continue
        for parent in parents:
            ptype = kind_of(parent)
            if ptype is None:
                if parent not in present and parent not in elsewhere:
                    raise ManifestError(
                        f"parent_map references unknown node '{parent}' (parent of '{child}')")
            elif ptype != "test":
                append((parent, child))
    if len(set(edges)) != len(edges):
        edges = list(dict.fromkeys(edges))
    return edges


class _Elsewhere:
    """Ids that exist in the manifest outside nodes/sources/exposures, read only when asked:
    first the layout's sections (metrics, disabled, unit_tests, ...), then, for an id still not
    found, every other top-level object (sections a newer dbt may add)."""

    def __init__(self, m: Manifest, layout: Layout, raw: bytes) -> None:
        self._m, self._layout, self._raw = m, layout, raw
        self._ids: set[str] | None = None
        self._all = False

    def __contains__(self, uid: str) -> bool:
        if self._ids is None:
            self._ids = set()
            for section in self._layout.reference_sections:
                body = getattr(self._m, section, None)
                if body:  # an empty Raw means the section is absent
                    self._ids.update(section_ids(body))
        if uid in self._ids:
            return True
        if not self._all:
            self._all = True
            skip = _NOT_REFERENCE | set(self._layout.reference_sections)
            for key, body in RAW_MAP_DECODER.decode(self._raw).items():
                if key not in skip:
                    self._ids.update(section_ids(body))
        return uid in self._ids


def find_cycle(edges: list[tuple[str, str]]) -> list[str] | None:
    """A cycle of the directed graph as [a, b, ..., a] (starting at its smallest id), or None.
    Kahn's algorithm (iterative, O(V+E)); a cycle is then read off the nodes it leaves."""
    children: dict[str, list[str]] = {}
    indegree: dict[str, int] = {}
    for parent, child in edges:
        children.setdefault(parent, []).append(child)
        indegree[child] = indegree.get(child, 0) + 1
    ready = [n for n in children if n not in indegree]
    while ready:
        node = ready.pop()
        for child in children.get(node, ()):
            left = indegree[child] - 1
            indegree[child] = left
            if left == 0:
                ready.append(child)
    stuck = {n for n, d in indegree.items() if d > 0}
    if not stuck:
        return None
    # Every stuck node has a stuck parent: walk parents until a node repeats.
    parents: dict[str, list[str]] = {}
    for parent, child in edges:
        if parent in stuck and child in stuck:
            parents.setdefault(child, []).append(parent)
    walk, seen = [min(stuck)], {}
    while walk[-1] not in seen:
        seen[walk[-1]] = len(walk) - 1
        walk.append(min(parents[walk[-1]]))
    loop = walk[seen[walk[-1]]:]  # child, its parent, ..., back to child: reverse for data flow
    loop.reverse()
    ring = loop[:-1]
    start = ring.index(min(ring))
    ring = ring[start:] + ring[:start]
    return [*ring, ring[0]]


def _project_from_id(project_id: str, nodes: list[ParsedNode]) -> str | None:
    """The package whose md5 is metadata.project_id (how dbt derives project_id)."""
    for package in sorted({n.package_name for n in nodes if n.package_name}):
        if hashlib.md5(package.encode(), usedforsecurity=False).hexdigest() == project_id:
            return package
    return None
