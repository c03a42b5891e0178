"""dbt manifest parsing: real manifests v4-v12, bad inputs, tests/disabled/edges rules, checksums,
cycle detection and the synthetic manifest generator used by the lineage benchmarks.

Expected counts are computed here with plain `json`, independently of the parser. project_name:
v10+ manifests carry `metadata.project_name`; for older ones the parser recovers it from
`metadata.project_id` (= md5 of the project name), so every fixture has a project name.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from rampart_contracts.errors import ValidationFailed
from rampart_lineage.domain.manifest import find_cycle, parse_manifest, schema_version
from rampart_lineage.domain.model import ManifestError, ParsedManifest

FIXTURES = Path("/work/shared/fixtures/dbt-manifests")
FIXTURE_FILES = sorted(FIXTURES.glob("*.json"))
ROOT = Path(__file__).resolve().parents[2]
KEPT_IN_NODES = {"model", "seed", "snapshot", "analysis", "test"}
# Projects of pre-v10 fixtures (no metadata.project_name); md5(name) == metadata.project_id.
OLD_PROJECTS = {4: "test", 7: "jaffle_shop", 9: "test"}


def _load_gen() -> ModuleType:
    path = ROOT / "bench" / "lineage" / "gen_manifest.py"
    spec = importlib.util.spec_from_file_location("gen_manifest", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_manifest"] = module
    spec.loader.exec_module(module)
    return module


gen = _load_gen()


def fixture(prefix: str) -> bytes:
    (path,) = [p for p in FIXTURE_FILES if p.name.startswith(prefix)]
    return path.read_bytes()


def expected_counts(doc: dict[str, Any]) -> tuple[int, int]:
    """(kept nodes, lineage edges) by the rules, straight from the JSON."""
    def enabled(entry: dict[str, Any]) -> bool:
        return (entry.get("config") or {}).get("enabled", True) is not False

    kinds: dict[str, str] = {}
    for uid, node in doc["nodes"].items():
        if node["resource_type"] in KEPT_IN_NODES and enabled(node):
            kinds[uid] = node["resource_type"]
    for section, kind in (("sources", "source"), ("exposures", "exposure")):
        for uid, entry in (doc.get(section) or {}).items():
            if enabled(entry):
                kinds[uid] = kind
    edges = {
        (parent, child)
        for child, parents in doc["parent_map"].items()
        for parent in parents
        if kinds.get(child, "test") != "test" and kinds.get(parent, "test") != "test"
    }
    return len(kinds), len(edges)


def minimal(nodes: dict[str, Any] | None = None, parent_map: dict[str, Any] | None = None,
            **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json",
                     "dbt_version": "1.10.0", "project_name": "p"},
        "nodes": nodes if nodes is not None else {},
        "parent_map": parent_map if parent_map is not None else {},
    }
    doc.update(extra)
    return doc


def model(name: str, **fields: Any) -> dict[str, Any]:
    node = {"unique_id": f"model.p.{name}", "name": name, "resource_type": "model",
            "database": "db", "schema": "s", "alias": name, "config": {"materialized": "view"}}
    node.update(fields)
    return node


def graph(*edges: tuple[str, str], names: tuple[str, ...] = ("a", "b", "c")) -> bytes:
    nodes = {f"model.p.{n}": model(n) for n in names}
    parent_map: dict[str, list[str]] = {uid: [] for uid in nodes}
    for parent, child in edges:
        parent_map[f"model.p.{child}"].append(f"model.p.{parent}")
    return json.dumps(minimal(nodes, parent_map)).encode()


def parse_doc(doc: dict[str, Any]) -> ParsedManifest:
    return parse_manifest(json.dumps(doc).encode())


def error_of(raw: bytes) -> str:
    with pytest.raises(ManifestError) as info:
        parse_manifest(raw)
    return info.value.message


# -- real manifests -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=[p.name for p in FIXTURE_FILES])
def test_fixture_parses_with_expected_counts(path: Path) -> None:
    raw = path.read_bytes()
    doc = json.loads(raw)
    result = parse_manifest(raw)
    n_nodes, n_edges = expected_counts(doc)
    assert len(result.nodes) == n_nodes
    assert len(result.edges) == n_edges
    assert len(set(result.edges)) == len(result.edges)
    assert len({n.unique_id for n in result.nodes}) == n_nodes

    meta = doc["metadata"]
    version = int(meta["dbt_schema_version"].rsplit("/v", 1)[1].removesuffix(".json"))
    assert result.metadata.dbt_schema_version == version
    assert result.metadata.dbt_version == meta["dbt_version"]
    assert result.metadata.generated_at == meta["generated_at"]
    assert result.metadata.invocation_id == meta["invocation_id"]
    if version >= 10:
        assert result.metadata.project_name == meta["project_name"]
    else:
        assert "project_name" not in meta
        assert result.metadata.project_name == OLD_PROJECTS[version]


def test_fixture_versions_cover_v4_to_v12() -> None:
    versions = {parse_manifest(p.read_bytes()).metadata.dbt_schema_version for p in FIXTURE_FILES}
    assert versions == {4, 7, 9, 11, 12}


def test_node_fields_from_a_v12_model_and_source() -> None:
    result = parse_manifest(fixture("v12_dbt-1.10.15"))
    by_id = {n.unique_id: n for n in result.nodes}
    stg = by_id["model.dbt_test_project.stg_products"]
    assert (stg.name, stg.resource_type, stg.database, stg.schema, stg.identifier) == (
        "stg_products", "model", "duckdb", "raw_data", "stg_products")
    assert stg.relation_name == '"duckdb"."raw_data"."stg_products"'
    assert stg.materialization == "view"
    assert stg.description == "Cleaned product data with calculated profit margin"
    assert stg.path == "models/staging/stg_products.sql"
    assert stg.package_name == "dbt_test_project"
    assert stg.columns["product_id"] == {"description": "Unique product identifier", "data_type": None}
    assert stg.relation() == ("duckdb", "raw_data", "stg_products")
    src = by_id["source.dbt_test_project.raw_data.customers"]
    assert (src.resource_type, src.identifier, src.materialization) == ("source", "customers", None)
    assert src.columns["customer_id"]["description"] == "Unique customer identifier"
    assert ("seed.dbt_test_project.products", "model.dbt_test_project.stg_products") in result.edges


def test_generic_and_singular_tests_are_nodes_but_never_edge_ends() -> None:
    result = parse_manifest(fixture("v12_dbt-1.10.15"))
    by_id = {n.unique_id: n for n in result.nodes}
    not_null = next(n for n in result.nodes
                    if n.test and n.test["name"] == "not_null" and n.test["column_name"] == "customer_id")
    assert not_null.resource_type == "test"
    assert not_null.test is not None
    assert not_null.test["kwargs"]["column_name"] == "customer_id"
    assert not_null.test["namespace"] is None
    assert not_null.test["attached_node"] in by_id
    assert not_null.test["severity"] == "error"  # "ERROR" in the manifest
    assert not_null.test["depends_on"] == [not_null.test["attached_node"]]
    singular = by_id["test.dbt_test_project.error_orphaned_orders"]
    assert singular.test is not None
    assert singular.test["name"] is None and singular.test["kwargs"] == {}
    assert singular.test["severity"] == "error"
    assert sorted(singular.test["depends_on"]) == [
        "model.dbt_test_project.stg_customers", "model.dbt_test_project.stg_orders"]
    tests = {n.unique_id for n in result.nodes if n.resource_type == "test"}
    assert len(tests) == 101
    assert not any(p in tests or c in tests for p, c in result.edges)


def test_pre_v9_tests_have_no_attached_node() -> None:
    result = parse_manifest(fixture("v7_"))
    tests = [n for n in result.nodes if n.resource_type == "test"]
    assert tests and all(t.test is not None and t.test["attached_node"] is None for t in tests)
    assert all(t.test is not None and t.test["name"] for t in tests)


def test_exposure_owner_and_edges() -> None:
    result = parse_manifest(fixture("v11_"))
    exposure = next(n for n in result.nodes if n.resource_type == "exposure")
    assert exposure.unique_id == "exposure.test.simple_exposure"
    assert exposure.owner == "something@example.com"  # owner.name is null
    assert exposure.relation() is None
    assert ("model.test.my_model", "exposure.test.simple_exposure") in result.edges
    doc = json.loads(fixture("v11_"))
    doc["exposures"]["exposure.test.simple_exposure"]["owner"]["name"] = "Ann"
    assert next(n for n in parse_doc(doc).nodes if n.resource_type == "exposure").owner == \
        "Ann <something@example.com>"


def test_model_owner_from_meta_or_config_meta() -> None:
    doc = minimal({"model.p.a": model("a", meta={"owner": "alice"}),
                   "model.p.b": model("b", config={"meta": {"owner": "bob"}}),
                   "model.p.c": model("c")},
                  {"model.p.a": [], "model.p.b": [], "model.p.c": []})
    owners = {n.name: n.owner for n in parse_doc(doc).nodes}
    assert owners == {"a": "alice", "b": "bob", "c": None}


def test_edges_to_metrics_and_semantic_models_are_dropped_silently() -> None:
    for prefix in ("v4_", "v9_", "v11_"):
        result = parse_manifest(fixture(prefix))
        ends = {x for edge in result.edges for x in edge}
        assert not any(x.startswith(("metric.", "semantic_model.")) for x in ends)


def test_disabled_nodes_are_excluded() -> None:
    doc = json.loads(fixture("v11_"))
    assert "model.test.disabled_model" in doc["disabled"]
    result = parse_doc(doc)
    ids = {n.unique_id for n in result.nodes}
    assert "model.test.disabled_model" not in ids
    # A node switched off in `nodes` is dropped, and so are its edges, without an error.
    doc["nodes"]["model.test.my_model"]["config"]["enabled"] = False
    # parent_map mentioning a node that only lives under `disabled` is dropped silently too.
    doc["parent_map"]["snapshot.test.snapshot_seed"].append("model.test.disabled_model")
    after = parse_doc(doc)
    assert "model.test.my_model" not in {n.unique_id for n in after.nodes}
    assert len(after.nodes) == len(result.nodes) - 1
    assert not any("model.test.my_model" in e or "model.test.disabled_model" in e for e in after.edges)


def test_unit_tests_saved_queries_and_unknown_sections_are_known_but_not_kept() -> None:
    doc = minimal({"model.p.a": model("a")},
                  {"model.p.a": [], "unit_test.p.a.t1": ["model.p.a"],
                   "saved_query.p.q": ["model.p.a"], "widget.p.w": ["model.p.a"]},
                  unit_tests={"unit_test.p.a.t1": {"name": "t1"}},
                  saved_queries={"saved_query.p.q": {"name": "q"}},
                  widgets={"widget.p.w": {"name": "w"}})  # a section some newer dbt might add
    result = parse_doc(doc)
    assert [n.unique_id for n in result.nodes] == ["model.p.a"]
    assert result.edges == []


def test_duplicate_edges_are_deduplicated() -> None:
    raw = graph(("a", "b"), ("a", "b"), ("b", "c"))
    assert parse_manifest(raw).edges == [("model.p.a", "model.p.b"), ("model.p.b", "model.p.c")]


# -- checksums ----------------------------------------------------------------------------------


def test_reparse_gives_identical_checksums() -> None:
    raw = fixture("v12_dbt-1.10.15")
    first, second = parse_manifest(raw), parse_manifest(raw)
    assert [(n.unique_id, n.checksum()) for n in first.nodes] == [
        (n.unique_id, n.checksum()) for n in second.nodes]
    assert first.edges == second.edges


def test_changed_description_changes_only_that_checksum() -> None:
    doc = json.loads(fixture("v12_dbt-1.10.15"))
    before = {n.unique_id: n.checksum() for n in parse_doc(doc).nodes}
    doc["nodes"]["model.dbt_test_project.stg_products"]["description"] = "changed"
    after = {n.unique_id: n.checksum() for n in parse_doc(doc).nodes}
    assert before.keys() == after.keys()
    assert [uid for uid in before if before[uid] != after[uid]] == ["model.dbt_test_project.stg_products"]


# -- bad inputs ---------------------------------------------------------------------------------


def test_manifest_error_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_manifest(b"[]")
    assert info.value.http_status == 400


def test_invalid_utf8() -> None:
    assert "manifest is not UTF-8 encoded" in error_of(b'{"nodes": {}, "parent_map": {}, "x": "\xff\xfe"}')


def test_utf8_bom_and_non_ascii_are_accepted() -> None:
    doc = minimal({"model.p.a": model("a", description="Café ☕")}, {"model.p.a": []})
    result = parse_manifest(b"\xef\xbb\xbf" + json.dumps(doc, ensure_ascii=False).encode())
    assert result.nodes[0].description == "Café ☕"


@pytest.mark.parametrize("raw", [b'{"nodes": {', b'{"nodes": nope}', b"",
                                 b'{"nodes": {}, "parent_map": {}} x'])
def test_invalid_json(raw: bytes) -> None:
    message = error_of(raw)
    assert message.startswith("manifest is not valid JSON: ")
    assert len(message) > len("manifest is not valid JSON: ")  # msgspec's reason/position follows


def test_invalid_json_names_the_position() -> None:
    assert error_of(b'{"nodes": {}, "parent_map": {}, }') == \
        "manifest is not valid JSON: JSON is malformed: trailing comma in object (byte 32)"


@pytest.mark.parametrize(("raw", "kind"), [(b"[]", "array"), (b'"x"', "string"), (b"42", "number"),
                                           (b"null", "null")])
def test_top_level_not_an_object(raw: bytes, kind: str) -> None:
    assert error_of(raw) == f"manifest must be a JSON object at the top level, got {kind}"


def test_missing_nodes() -> None:
    assert error_of(b'{"parent_map": {}}') == "manifest is missing required key 'nodes'"


def test_missing_parent_map() -> None:
    assert error_of(b'{"nodes": {}}') == "manifest is missing required key 'parent_map'"


def test_nodes_is_a_list() -> None:
    assert error_of(b'{"nodes": [], "parent_map": {}}') == "manifest key 'nodes' must be an object, got array"


def test_node_missing_name() -> None:
    node = model("a")
    del node["name"]
    raw = json.dumps(minimal({"model.p.a": node}, {"model.p.a": []})).encode()
    assert error_of(raw) == "node 'model.p.a' in 'nodes' is missing required field 'name'"


def test_node_missing_unique_id() -> None:
    node = model("a")
    del node["unique_id"]
    raw = json.dumps(minimal({"model.p.a": node}, {})).encode()
    assert error_of(raw) == "node 'model.p.a' in 'nodes' is missing required field 'unique_id'"


def test_node_with_wrong_field_type_names_node_and_field() -> None:
    raw = json.dumps(minimal({"model.p.a": model("a", description=5)}, {})).encode()
    message = error_of(raw)
    assert message.startswith("node 'model.p.a' in 'nodes' has an invalid value: ")
    assert "description" in message


def test_source_missing_name() -> None:
    raw = json.dumps(minimal({}, {}, sources={"source.p.s.t": {"unique_id": "source.p.s.t"}})).encode()
    assert error_of(raw) == "source 'source.p.s.t' in 'sources' is missing required field 'name'"


def test_parent_map_value_not_a_list() -> None:
    raw = json.dumps(minimal({"model.p.a": model("a")}, {"model.p.a": {"x": 1}})).encode()
    assert error_of(raw) == "parent_map['model.p.a'] must be a list of unique ids, got object"


def test_parent_map_not_an_object() -> None:
    assert error_of(b'{"nodes": {}, "parent_map": []}') == \
        "manifest key 'parent_map' must be an object, got array"


def test_unknown_parent_in_parent_map() -> None:
    raw = json.dumps(minimal({"model.p.a": model("a")}, {"model.p.a": ["model.p.ghost"]})).encode()
    assert error_of(raw) == "parent_map references unknown node 'model.p.ghost' (parent of 'model.p.a')"


def test_unknown_child_in_parent_map() -> None:
    raw = json.dumps(minimal({"model.p.a": model("a")}, {"model.p.ghost": ["model.p.a"]})).encode()
    assert "parent_map references unknown node 'model.p.ghost'" in error_of(raw)


def test_unknown_parent_of_a_test_is_still_an_error() -> None:
    test_node = {"unique_id": "test.p.t", "name": "t", "resource_type": "test"}
    raw = json.dumps(minimal({"test.p.t": test_node}, {"test.p.t": ["model.p.ghost"]})).encode()
    assert error_of(raw) == "parent_map references unknown node 'model.p.ghost' (parent of 'test.p.t')"


def test_two_node_cycle() -> None:
    raw = graph(("a", "b"), ("b", "a"))
    assert error_of(raw) == "lineage has a cycle: model.p.a -> model.p.b -> model.p.a"


def test_longer_cycle_behind_an_acyclic_prefix() -> None:
    raw = graph(("a", "b"), ("b", "c"), ("c", "b"))
    assert error_of(raw) == "lineage has a cycle: model.p.b -> model.p.c -> model.p.b"


def test_self_loop() -> None:
    raw = graph(("a", "a"))
    assert error_of(raw) == "lineage has a cycle: model.p.a -> model.p.a"


def test_cycle_through_tests_is_not_a_lineage_cycle() -> None:
    nodes = {"model.p.a": model("a"),
             "test.p.t": {"unique_id": "test.p.t", "name": "t", "resource_type": "test"}}
    doc = minimal(nodes, {"model.p.a": ["test.p.t"], "test.p.t": ["model.p.a"]})
    assert parse_doc(doc).edges == []


def test_gc_state_is_restored() -> None:
    assert gc.isenabled()
    parse_manifest(fixture("v7_"))
    assert gc.isenabled()
    with pytest.raises(ManifestError):
        parse_manifest(graph(("a", "a")))
    assert gc.isenabled()
    gc.disable()
    try:
        parse_manifest(fixture("v7_"))
        assert not gc.isenabled()
    finally:
        gc.enable()


def test_gc_is_restored_after_concurrent_parses_in_threads() -> None:
    raw = gen.generate(300)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(parse_manifest, [raw] * 8))
    assert all(len(r.nodes) == len(results[0].nodes) for r in results)
    assert gc.isenabled()


# -- versions -----------------------------------------------------------------------------------


def test_schema_version_parsing() -> None:
    assert schema_version("https://schemas.getdbt.com/dbt/manifest/v12.json") == 12
    assert schema_version("https://schemas.getdbt.com/dbt/manifest/v4.json") == 4
    assert schema_version(None) == 0
    assert schema_version("something else") == 0


def test_older_than_v4_is_rejected_naming_the_version() -> None:
    doc = minimal()
    doc["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v3.json"
    with pytest.raises(ManifestError, match=r"manifest schema v3 is not supported"):
        parse_doc(doc)


def test_newer_version_is_parsed_with_the_v12_layout() -> None:
    doc = json.loads(fixture("v12_dbt-1.11"))
    doc["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v13.json"
    result = parse_doc(doc)
    assert result.metadata.dbt_schema_version == 13
    assert (len(result.nodes), len(result.edges)) == expected_counts(doc)


def test_newer_version_not_matching_the_v12_layout_names_the_version() -> None:
    doc = json.loads(fixture("v12_dbt-1.11"))
    doc["metadata"]["dbt_schema_version"] = "https://schemas.getdbt.com/dbt/manifest/v14.json"
    for node in doc["nodes"].values():
        node.pop("name")
    message = error_of(json.dumps(doc).encode())
    assert message.startswith("manifest schema v14 is newer than supported (v4-v12)")
    assert "missing required field 'name'" in message


def test_manifest_without_metadata_is_best_effort() -> None:
    result = parse_manifest(b'{"nodes": {}, "parent_map": {}}')
    assert result.metadata.dbt_schema_version == 0
    assert (result.nodes, result.edges) == ([], [])


# -- cycle detection at scale --------------------------------------------------------------------


def test_find_cycle_is_iterative_and_fast() -> None:
    n = 200_000  # far deeper than the recursion limit
    chain = [(f"n{i}", f"n{i + 1}") for i in range(n)]
    started = time.perf_counter()
    assert find_cycle(chain) is None
    cycle = find_cycle([*chain, (f"n{n}", "n0")])
    assert time.perf_counter() - started < 5
    assert cycle is not None and len(cycle) == n + 2 and cycle[0] == cycle[-1] == "n0"


def test_find_cycle_on_10k_nodes_25k_edges() -> None:
    g = gen.large_graph(10_000, 25_000, seed=1)
    started = time.perf_counter()
    assert find_cycle(g.edges) is None
    assert time.perf_counter() - started < 1.0


# -- generator ----------------------------------------------------------------------------------


def test_generated_manifest_parses_as_designed() -> None:
    raw = gen.generate(200)
    design = gen.design(200)
    doc = json.loads(raw)
    result = parse_manifest(raw)
    assert result.metadata.dbt_schema_version == 12
    assert result.metadata.project_name == "bench_project"
    assert len(result.nodes) == design.n_nodes == expected_counts(doc)[0]
    assert len(result.edges) == design.n_edges == expected_counts(doc)[1]
    kinds: dict[str, int] = {}
    for node in result.nodes:
        kinds[node.resource_type] = kinds.get(node.resource_type, 0) + 1
    assert kinds == {"model": 200, "source": design.n_sources, "test": design.n_tests,
                     "exposure": design.n_exposures}
    assert design.n_sources == 20 and 400 <= design.n_tests <= 600
    assert 2.3 <= design.n_edges / 200 <= 2.8  # ~2.5 parents per model
    assert find_cycle(result.edges) is None
    assert not any(n.unique_id.startswith("model.bench_project.legacy_disabled") for n in result.nodes)
    assert doc["macros"] and abs(len(raw) - 200 * gen.BYTES_PER_MODEL) < 0.05 * len(raw)
    tests = [n for n in result.nodes if n.resource_type == "test"]
    assert {t.test["name"] for t in tests if t.test} == {
        "not_null", "unique", "accepted_values", "relationships"}


def test_generator_is_deterministic_per_seed() -> None:
    assert gen.generate(100, seed=3) == gen.generate(100, seed=3)
    assert gen.generate(100, seed=3) != gen.generate(100, seed=4)


def test_generated_10k_design_matches_the_benchmark_shape() -> None:
    design = gen.design(10_000)
    assert design.n_sources == 1_000
    assert 24_000 <= design.n_edges <= 26_000


def test_large_graph_is_acyclic_and_exact() -> None:
    g = gen.large_graph(2_000, 6_000, seed=2)
    assert len(g.nodes) == 2_000 and len(g.edges) == 6_000 == len(set(g.edges))
    index = {uid: i for i, uid in enumerate(g.nodes)}
    assert all(index[p] < index[c] for p, c in g.edges)
    result = parse_manifest(g.manifest())
    assert len(result.nodes) == 2_000
    assert sorted(result.edges) == sorted(g.edges)
