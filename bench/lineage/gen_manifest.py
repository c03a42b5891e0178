"""Synthetic dbt manifests (schema v12) for the lineage benchmarks and tests.

`generate(n_models, seed=0)` builds a realistic project: sources (~10 % of the model count), a
staging -> intermediate -> mart layering with ~2.5 parents per model (10,000 models ~ 25,000
edges), 2-3 generic tests per model with `test_metadata`, documented columns, a few exposures,
two disabled models and `macros` padding so that the file weighs ~5 KB per model (10,000 models
~ 50 MB). At 3.5 nodes per model (1 model + 2.5 tests) the nodes themselves take most of that
budget even in the default lean shape (~1.7 KB per model, ~0.75 KB per test: 38 MB of nodes,
9 MB of parent/child maps, ~1.5 MB of macros; `full_nodes=True` writes every v12 key and ~77 MB).
Counts are a pure function of `n_models` (see `design`); the seed only changes which parents
are picked and the filler text.

`large_graph(n_nodes, n_edges, seed)` is a bare acyclic graph (edges only from a lower to a
higher index) for query benchmarks, with `.manifest()` rendering it as a minimal v12 manifest.

CLI: `python bench/lineage/gen_manifest.py --models 10000 --out /tmp/m.json`
"""

from __future__ import annotations

import argparse
import hashlib
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SCHEMA_URL = "https://schemas.getdbt.com/dbt/manifest/v12.json"
PROJECT = "bench_project"
DATABASE = "analytics"
BYTES_PER_MODEL = 5_000
N_DISABLED = 2

_ENTITIES = (
    "customer", "order", "payment", "product", "invoice", "shipment", "session", "account",
    "subscription", "refund", "campaign", "lead", "ticket", "warehouse", "supplier", "employee",
)
_STATUSES = ("active", "pending", "cancelled", "completed", "returned", "archived")
_TYPES = ("bigint", "varchar", "timestamp", "numeric(18,2)", "boolean", "date")
_WORDS = (
    "relation", "adapter", "config", "target", "column", "quote", "schema", "database", "sql",
    "statement", "materialization", "incremental", "snapshot", "strategy", "identifier", "temp",
    "grant", "persist", "docs", "contract", "constraint", "hook", "compile", "render", "batch",
)


@dataclass(frozen=True, slots=True)
class Design:
    """What `generate(n_models)` contains; every count here is exact."""

    n_models: int
    n_sources: int
    n_staging: int
    n_intermediate: int
    n_marts: int
    n_tests: int
    n_exposures: int
    n_edges: int  # lineage edges between kept non-test nodes (what the parser returns)

    @property
    def n_nodes(self) -> int:
        """Kept nodes: models, sources, tests and exposures (disabled models excluded)."""
        return self.n_models + self.n_sources + self.n_tests + self.n_exposures


def _intermediate_fan_in(j: int) -> int:
    return 2 + (j % 2)  # 2 or 3, average 2.5


def _mart_fan_in(m: int) -> int:
    return 3 + (m % 2)  # 3 or 4, average 3.5


def _tests_for(i: int) -> int:
    return 2 + (i % 2)  # 2 or 3 generic tests per model


def design(n_models: int) -> Design:
    """Layer sizes and exact counts for `generate(n_models)`."""
    if n_models < 10:
        raise ValueError("n_models must be at least 10")
    n_sources = max(1, n_models // 10)
    n_staging = n_models * 25 // 100
    n_intermediate = n_models * 35 // 100
    n_marts = n_models - n_staging - n_intermediate
    n_exposures = max(2, n_models // 1000)
    edges = n_staging  # one source per staging model
    edges += sum(min(_intermediate_fan_in(j), n_staging + j) for j in range(n_intermediate))
    edges += sum(min(_mart_fan_in(m), n_staging + n_intermediate + m) for m in range(n_marts))
    edges += n_exposures * min(3, n_marts)
    n_tests = sum(_tests_for(i) for i in range(n_models))
    return Design(n_models, n_sources, n_staging, n_intermediate, n_marts, n_tests, n_exposures, edges)


def _column(name: str, description: str, data_type: str | None, full: bool) -> dict[str, Any]:
    if not full:
        return {"name": name, "description": description, "meta": {}, "data_type": data_type, "tags": []}
    return {
        "name": name, "description": description, "meta": {}, "data_type": data_type,
        "constraints": [], "quote": None, "config": {"meta": {}, "tags": []}, "tags": [],
        "granularity": None, "doc_blocks": [],
    }


def _checksum(text: str) -> dict[str, str]:
    return {"name": "sha256", "checksum": hashlib.sha256(text.encode()).hexdigest()}


def _model_config(materialized: str, full: bool = True) -> dict[str, Any]:
    if not full:
        return {"enabled": True, "tags": [], "meta": {}, "materialized": materialized,
                "on_schema_change": "ignore", "access": "protected"}
    return {
        "enabled": True, "alias": None, "schema": None, "database": None, "tags": [], "meta": {},
        "group": None, "materialized": materialized, "incremental_strategy": None,
        "persist_docs": {}, "post-hook": [], "pre-hook": [], "quoting": {}, "column_types": {},
        "full_refresh": None, "unique_key": None, "on_schema_change": "ignore",
        "on_configuration_change": "apply", "grants": {}, "packages": [],
        "docs": {"show": True, "node_color": None},
        "contract": {"enforced": False, "alias_types": True}, "access": "protected",
    }


class _Builder:
    def __init__(self, n_models: int, seed: int, full: bool) -> None:
        self.d = design(n_models)
        self.rng = random.Random(seed)
        self.full = full
        self.nodes: dict[str, Any] = {}
        self.sources: dict[str, Any] = {}
        self.exposures: dict[str, Any] = {}
        self.parent_map: dict[str, list[str]] = {}
        self.model_ids: list[str] = []
        self.model_names: list[str] = []

    # -- sources -------------------------------------------------------------------------------
    def build_sources(self) -> list[str]:
        ids, full = [], self.full
        for s in range(self.d.n_sources):
            group = f"raw_{_ENTITIES[(s // 10) % len(_ENTITIES)]}_{s // 10}"
            table = f"{_ENTITIES[s % len(_ENTITIES)]}s_{s}"
            uid = f"source.{PROJECT}.{group}.{table}"
            cols = {
                "id": _column("id", f"Primary key of {table}", "bigint", full),
                "loaded_at": _column("loaded_at", "When the loader wrote the row", "timestamp", full),
                "payload": _column("payload", "Raw JSON payload", None, full),
            }
            node: dict[str, Any] = {
                "database": "raw", "schema": group, "name": table, "resource_type": "source",
                "package_name": PROJECT, "path": f"models/staging/{group}.yml",
                "original_file_path": f"models/staging/{group}.yml", "unique_id": uid,
                "fqn": [PROJECT, "staging", group, table], "source_name": group,
                "source_description": f"Landing tables of {group}", "loader": "fivetran",
                "identifier": table, "loaded_at_field": "loaded_at", "freshness": {
                    "warn_after": {"count": 12, "period": "hour"},
                    "error_after": {"count": 24, "period": "hour"}, "filter": None},
                "description": f"Raw {table} as loaded", "columns": cols,
                "meta": {"owner": "data-platform"} if s % 3 == 0 else {},
                "tags": ["raw"], "config": {"enabled": True, "meta": {}, "tags": []},
                "relation_name": f'"raw"."{group}"."{table}"',
            }
            if full:
                node.update({
                    "quoting": {"database": None, "schema": None, "identifier": None, "column": None},
                    "external": None, "source_meta": {}, "patch_path": None, "unrendered_config": {},
                    "created_at": 1767225600.0 + s,
                })
            self.sources[uid] = node
            self.parent_map[uid] = []
            ids.append(uid)
        return ids

    # -- models --------------------------------------------------------------------------------
    def add_model(self, layer: str, name: str, parents: list[str], materialized: str, i: int) -> str:
        uid, full = f"model.{PROJECT}.{name}", self.full
        entity = _ENTITIES[i % len(_ENTITIES)]
        n_cols = 3 + (i % 4) + (2 if full else 0)
        cols: dict[str, Any] = {
            "id": _column("id", f"Surrogate key of the {entity}", "bigint", full),
            "status": _column("status", f"Lifecycle status of the {entity}", "varchar", full),
            "parent_id": _column("parent_id", "Key of the upstream record", "bigint", full),
        }
        for c in range(3, n_cols):
            cname = f"{entity}_{_WORDS[(i + c) % len(_WORDS)]}_{c}"
            cols[cname] = _column(cname, f"The {entity}'s {_WORDS[c % len(_WORDS)]} value",
                                  _TYPES[(i + c) % len(_TYPES)] if c % 2 else None, full)
        refs = "\n".join(f"    select * from {{{{ ref('{p.rsplit('.', 1)[-1]}') }}}}"
                         if p.startswith("model.") else
                         f"    select * from {{{{ source('{p.split('.')[2]}', '{p.split('.')[3]}') }}}}"
                         for p in parents)
        raw = f"{{{{ config(materialized='{materialized}') }}}}\nwith upstream as (\n{refs}\n)\n" \
              f"select id, status, parent_id from upstream"
        meta: dict[str, Any] = {"owner": f"team-{entity}"} if i % 4 == 0 else {}
        config = _model_config(materialized, full)
        if i % 4 == 1:
            config["meta"] = {"owner": f"{entity}-owners@example.com"}
        node: dict[str, Any] = {
            "database": DATABASE, "schema": layer, "name": name, "resource_type": "model",
            "package_name": PROJECT, "path": f"{layer}/{name}.sql",
            "original_file_path": f"models/{layer}/{name}.sql", "unique_id": uid,
            "fqn": [PROJECT, layer, name], "alias": name, "checksum": _checksum(raw),
            "config": config, "tags": [layer] if i % 3 else [layer, "pii"],
            "description": f"{layer.title()} model for {entity} data (#{i}).", "columns": cols,
            "meta": meta, "relation_name": f'"{DATABASE}"."{layer}"."{name}"', "raw_code": raw,
            "language": "sql", "depends_on": {"macros": [], "nodes": parents},
        }
        if full:
            node.update({
                "group": None, "docs": {"show": True, "node_color": None},
                "patch_path": f"{PROJECT}://models/{layer}/schema.yml", "build_path": None,
                "unrendered_config": {"materialized": materialized}, "created_at": 1767225600.0 + i,
                "doc_blocks": [],
                "refs": [{"name": p.rsplit(".", 1)[-1], "package": None, "version": None}
                         for p in parents if p.startswith("model.")],
                "sources": [p.split(".")[2:4] for p in parents if p.startswith("source.")],
                "metrics": [], "compiled_path": None,
                "contract": {"enforced": False, "alias_types": True, "checksum": None},
                "access": "protected", "constraints": [], "version": None, "latest_version": None,
                "deprecation_date": None, "primary_key": ["id"], "time_spine": None,
            })
        self.nodes[uid] = node
        self.parent_map[uid] = list(parents)
        self.model_ids.append(uid)
        self.model_names.append(name)
        return uid

    def add_test(self, kind: str, model_idx: int, parent: str | None) -> None:
        model_uid, model_name = self.model_ids[model_idx], self.model_names[model_idx]
        column = {"not_null": "id", "unique": "id", "accepted_values": "status",
                  "relationships": "parent_id"}[kind]
        kwargs: dict[str, Any] = {"column_name": column,
                                  "model": f"{{{{ get_where_subquery(ref('{model_name}')) }}}}"}
        depends = [model_uid]
        if kind == "accepted_values":
            kwargs["values"] = list(_STATUSES[:4])
        elif kind == "relationships" and parent is not None:
            kwargs["to"] = f"ref('{parent.rsplit('.', 1)[-1]}')"
            kwargs["field"] = "id"
            depends = [parent, model_uid] if parent.startswith("model.") else [model_uid]
        name = f"{kind}_{model_name}_{column}"
        digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()[:10]
        uid = f"test.{PROJECT}.{name}.{digest}"
        node: dict[str, Any] = {
            "database": DATABASE, "schema": "dbt_test__audit", "name": name, "resource_type": "test",
            "package_name": PROJECT, "original_file_path": "models/schema.yml",
            "unique_id": uid, "alias": name,
            "config": {"enabled": True, "materialized": "test",
                       "severity": "warn" if kind == "accepted_values" else "ERROR"},
            "tags": [], "description": "", "columns": {}, "meta": {},
            "depends_on": {"macros": [f"macro.dbt.test_{kind}"], "nodes": depends},
            "column_name": column, "attached_node": model_uid,
            "test_metadata": {"name": kind, "kwargs": kwargs, "namespace": None},
        }
        if self.full:
            node["config"].update({"schema": "dbt_test__audit", "tags": [], "meta": {},
                                   "fail_calc": "count(*)", "warn_if": "!= 0", "error_if": "!= 0"})
            node.update({
                "path": f"{name}.sql", "fqn": [PROJECT, name],
                "checksum": {"name": "none", "checksum": ""},
                "raw_code": f"{{{{ test_{kind}(**_dbt_generic_test_kwargs) }}}}", "language": "sql",
                "file_key_name": f"models.{model_name}",
            })
        self.nodes[uid] = node
        self.parent_map[uid] = depends

    def build_models(self, source_ids: list[str]) -> None:
        d, rng = self.d, self.rng
        i = 0
        for s in range(d.n_staging):
            src = source_ids[s % len(source_ids)]
            self.add_model("staging", f"stg_{src.rsplit('.', 1)[-1]}_{s}", [src], "view", i)
            i += 1
        for j in range(d.n_intermediate):
            pool = d.n_staging + j  # staging models and earlier intermediates
            k = min(_intermediate_fan_in(j), pool)
            parents = [self.model_ids[x] for x in sorted(rng.sample(range(pool), k))]
            entity = _ENTITIES[j % len(_ENTITIES)]
            materialized = "ephemeral" if j % 5 == 0 else "view"
            self.add_model("intermediate", f"int_{entity}_{j}", parents, materialized, i)
            i += 1
        for m in range(d.n_marts):
            pool = d.n_staging + d.n_intermediate + m
            k = min(_mart_fan_in(m), pool)
            # Marts read mostly from intermediates and earlier marts: bias to the recent half.
            lo = d.n_staging // 2 if pool - d.n_staging // 2 >= k else 0
            parents = [self.model_ids[x] for x in sorted(rng.sample(range(lo, pool), k))]
            entity = _ENTITIES[m % len(_ENTITIES)]
            prefix = "fct" if m % 2 else "dim"
            self.add_model("marts", f"{prefix}_{entity}_{m}", parents,
                           "incremental" if m % 7 == 0 else "table", i)
            i += 1

    def build_tests(self) -> None:
        kinds = ("not_null", "unique", "accepted_values", "relationships")
        for i in range(self.d.n_models):
            uid = self.model_ids[i]
            parents = self.parent_map[uid]
            for t in range(_tests_for(i)):
                kind = kinds[t] if t < 2 else kinds[2 + (i // 2) % 2]
                self.add_test(kind, i, parents[0] if parents else None)

    def build_exposures(self) -> None:
        d, rng = self.d, self.rng
        mart_ids = self.model_ids[d.n_staging + d.n_intermediate:]
        for e in range(d.n_exposures):
            name = f"{_ENTITIES[e % len(_ENTITIES)]}_dashboard_{e}"
            uid = f"exposure.{PROJECT}.{name}"
            parents = sorted(rng.sample(mart_ids, min(3, len(mart_ids))))
            owner = {"email": f"bi-{e}@example.com", "name": f"BI Team {e}" if e % 2 == 0 else None}
            self.exposures[uid] = {
                "name": name, "resource_type": "exposure", "package_name": PROJECT,
                "path": "exposures.yml", "original_file_path": "models/exposures.yml",
                "unique_id": uid, "fqn": [PROJECT, name], "type": "dashboard", "owner": owner,
                "description": f"Dashboard {e}", "label": None, "maturity": "high", "meta": {},
                "tags": [], "config": {"enabled": True, "tags": [], "meta": {}}, "unrendered_config": {},
                "url": f"https://bi.example.com/d/{e}",
                "depends_on": {"macros": [], "nodes": parents},
                "refs": [{"name": p.rsplit(".", 1)[-1], "package": None, "version": None} for p in parents],
                "sources": [], "metrics": [], "created_at": 1767225600.0,
            }
            self.parent_map[uid] = parents

    def disabled(self) -> dict[str, list[dict[str, Any]]]:
        out = {}
        for k in range(N_DISABLED):
            name = f"legacy_disabled_{k}"
            uid = f"model.{PROJECT}.{name}"
            config = _model_config("view", self.full)
            config["enabled"] = False
            out[uid] = [{
                "database": DATABASE, "schema": "legacy", "name": name, "resource_type": "model",
                "package_name": PROJECT, "path": f"legacy/{name}.sql",
                "original_file_path": f"models/legacy/{name}.sql", "unique_id": uid,
                "fqn": [PROJECT, "legacy", name], "alias": name, "checksum": _checksum(name),
                "config": config, "tags": [], "description": "", "columns": {}, "meta": {},
                "raw_code": "{{ config(enabled=False) }}\nselect 1 as id",
                "depends_on": {"macros": [], "nodes": []},
            }]
        return out

    def macros(self, budget: int) -> dict[str, Any]:
        """Macro entries until their JSON reaches `budget` bytes (roughly)."""
        rng, out, size, k = self.rng, {}, 0, 0
        packages = ("dbt", "dbt_postgres", "dbt_utils", "dbt_expectations", "audit_helper", PROJECT)
        while size < budget:
            pkg = packages[k % len(packages)]
            words = rng.choices(_WORDS, k=3)
            name = f"{'_'.join(words)}_{k}"
            body_lines = [f"{{% macro {name}({', '.join(words[:2])}) %}}"]
            for ln in range(12 + k % 30):
                w = rng.choices(_WORDS, k=4)
                body_lines.append(
                    f"    {{% set {w[0]}_{ln} = adapter.dispatch('{w[1]}', '{pkg}')({w[2]}, {w[3]}) %}}"
                    if ln % 3 else f"    {{{{ return({w[0]}.{w[1]}_{w[2]}({w[3]})) }}}}")
            body_lines.append("{% endmacro %}")
            uid = f"macro.{pkg}.{name}"
            entry = {
                "name": name, "resource_type": "macro", "package_name": pkg,
                "path": f"macros/{words[0]}/{name}.sql",
                "original_file_path": f"macros/{words[0]}/{name}.sql",
                "unique_id": uid, "macro_sql": "\n".join(body_lines),
                "depends_on": {"macros": [f"macro.dbt.{w}" for w in words]},
                "description": "", "meta": {}, "docs": {"show": True, "node_color": None},
                "patch_path": None,
                "arguments": [{"name": w, "type": None, "description": ""} for w in words[:2]],
                "created_at": 1767225600.0 + k, "supported_languages": None,
            }
            out[uid] = entry
            size += len(orjson.dumps(entry)) + len(uid) + 4
            k += 1
        return out


def _child_map(parent_map: dict[str, list[str]]) -> dict[str, list[str]]:
    children: dict[str, list[str]] = {k: [] for k in parent_map}
    for child, parents in parent_map.items():
        for p in parents:
            children.setdefault(p, []).append(child)
    return children


def generate(n_models: int, *, seed: int = 0, bytes_per_model: int = BYTES_PER_MODEL,
             full_nodes: bool = False) -> bytes:
    """A v12 manifest of `n_models` models (see module docstring and `design`).

    Nodes are lean by default (the keys dbt always writes, fewer null/empty extras) so that the
    ~5 KB/model budget leaves room for `macros`; `full_nodes=True` writes every v12 key like
    `dbt parse` does (~3.4 KB per model, ~1.1 KB per test), which makes 10,000 models ~75 MB
    before any padding.
    """
    b = _Builder(n_models, seed, full_nodes)
    source_ids = b.build_sources()
    b.build_models(source_ids)
    b.build_tests()
    b.build_exposures()
    manifest: dict[str, Any] = {
        "metadata": {
            "dbt_schema_version": SCHEMA_URL, "dbt_version": "1.10.15",
            "generated_at": "2026-01-01T00:00:00.000000Z",
            "invocation_id": f"00000000-0000-4000-8000-{seed:012d}",
            "env": {}, "project_name": PROJECT, "project_id": hashlib.md5(
                PROJECT.encode(), usedforsecurity=False).hexdigest(),
            "user_id": None, "send_anonymous_usage_stats": False, "adapter_type": "postgres",
        },
        "nodes": b.nodes, "sources": b.sources, "macros": {},
        "docs": {"doc.dbt.__overview__": {
            "name": "__overview__", "resource_type": "doc", "package_name": "dbt",
            "path": "overview.md", "original_file_path": "docs/overview.md",
            "unique_id": "doc.dbt.__overview__", "block_contents": "### Welcome!"}},
        "exposures": b.exposures, "metrics": {}, "groups": {}, "selectors": {},
        "disabled": b.disabled(), "parent_map": b.parent_map, "child_map": _child_map(b.parent_map),
        "group_map": {}, "saved_queries": {}, "semantic_models": {}, "unit_tests": {},
    }
    without_macros = len(orjson.dumps(manifest))
    manifest["macros"] = b.macros(max(0, n_models * bytes_per_model - without_macros))
    return orjson.dumps(manifest)


@dataclass(slots=True)
class LargeGraph:
    """A bare DAG: `nodes[i]` unique ids, `edges` (parent, child) with parent index < child."""

    nodes: list[str]
    edges: list[tuple[str, str]]
    n_sources: int

    def manifest(self) -> bytes:
        """The graph as a minimal v12 manifest (no macros, compact nodes)."""
        parent_map: dict[str, list[str]] = {uid: [] for uid in self.nodes}
        for parent, child in self.edges:
            parent_map[child].append(parent)
        nodes: dict[str, Any] = {}
        sources: dict[str, Any] = {}
        for i, uid in enumerate(self.nodes):
            name = uid.rsplit(".", 1)[-1]
            if i < self.n_sources:
                sources[uid] = {
                    "unique_id": uid, "name": name, "resource_type": "source", "database": "raw",
                    "schema": "landing", "identifier": name, "source_name": "landing",
                    "package_name": PROJECT, "original_file_path": "models/sources.yml",
                    "description": "", "columns": {}, "meta": {}, "tags": [], "config": {"enabled": True},
                }
            else:
                nodes[uid] = {
                    "unique_id": uid, "name": name, "resource_type": "model", "database": DATABASE,
                    "schema": f"layer_{i % 10}", "alias": name, "package_name": PROJECT,
                    "original_file_path": f"models/{name}.sql", "description": "", "columns": {},
                    "meta": {}, "tags": [], "config": {"enabled": True, "materialized": "table"},
                    "depends_on": {"nodes": parent_map[uid]},
                }
        return orjson.dumps({
            "metadata": {"dbt_schema_version": SCHEMA_URL, "dbt_version": "1.10.15",
                         "project_name": PROJECT, "generated_at": "2026-01-01T00:00:00.000000Z"},
            "nodes": nodes, "sources": sources, "exposures": {}, "parent_map": parent_map,
        })


def large_graph(n_nodes: int = 100_000, n_edges: int = 300_000, seed: int = 0) -> LargeGraph:
    """An acyclic graph: the first 10 % of nodes are sources, every edge goes from a lower to a
    higher index and mostly stays local (a window of 2,000 predecessors), with 10 % long-range
    edges; no duplicates."""
    n_sources = max(1, n_nodes // 10)
    n_models = n_nodes - n_sources
    max_edges = sum(range(n_sources, n_nodes))  # every (lower, higher) pair with a model child
    if n_models <= 0 or n_edges > max_edges:
        raise ValueError("n_edges too large for n_nodes")
    rng = random.Random(seed)
    width = len(str(n_nodes))
    ids = [f"source.{PROJECT}.landing.t{i:0{width}d}" if i < n_sources
           else f"model.{PROJECT}.m{i:0{width}d}" for i in range(n_nodes)]
    seen: set[tuple[int, int]] = set()
    # Every model gets at least one parent (so nothing but sources is a root) ...
    for child in range(n_sources, n_nodes):
        if len(seen) >= n_edges:
            break
        seen.add((child - 1 - int(rng.random() * min(child, 50)), child))
    # ... then random extra edges, local with a long-range minority.
    randrange, rand = rng.randrange, rng.random
    while len(seen) < n_edges:
        child = randrange(n_sources, n_nodes)
        span = child if rand() < 0.1 else min(child, 2_000)
        seen.add((child - 1 - int(rand() * span), child))
    pairs = sorted(seen, key=lambda e: (e[1], e[0]))
    return LargeGraph(ids, [(ids[p], ids[c]) for p, c in pairs], n_sources)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--models", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--large-graph", action="store_true",
                    help="write large_graph(--nodes, --edges) as a manifest instead")
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--edges", type=int, default=300_000)
    args = ap.parse_args(argv)
    if args.large_graph:
        data = large_graph(args.nodes, args.edges, args.seed).manifest()
    else:
        data = generate(args.models, seed=args.seed)
        d = design(args.models)
        print(f"models={d.n_models} sources={d.n_sources} tests={d.n_tests} "
              f"exposures={d.n_exposures} edges={d.n_edges}", file=sys.stderr)
    args.out.write_bytes(data)
    print(f"wrote {args.out} ({len(data) / 1e6:.1f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
