"""dbt manifest parse benchmark: `parse_manifest` on a generated 10,000-model (~50 MB) v12 manifest,
best of 3, with the GC disabled during the parse (the default) and left on, next to plain
`orjson.loads` and untyped `msgspec.json.decode` of the same bytes; peak Python memory of the
parse (tracemalloc). Also a "full nodes" variant (every v12 key, ~75 MB) and the 100k-node /
300k-edge `large_graph` manifest.

The parse time includes freeing the decoded document and the generation-0 GC pass over the
result that follows re-enabling the collector (~70 ms at 10k models: it happens inside
`parse_manifest`, so it cannot hide after the timer). Target: the 50 MB / 10k-model manifest
parsed in <= 0.5 s. Prints a table and writes
bench/results/lineage_parse.json (`--no-save` to skip). Helpers (`best_of`, `peak_memory`,
`manifest_10k`) are importable by the end-to-end lineage benchmark.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
import tracemalloc
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_manifest import generate, large_graph  # noqa: E402

from rampart_lineage.domain.manifest import parse_manifest  # noqa: E402

MODELS = 10_000
TARGET_S = 0.5
RUNS = 3


@cache
def manifest_10k(full_nodes: bool = False) -> bytes:
    return bytes(generate(MODELS, seed=0, full_nodes=full_nodes))


def best_of(fn: Callable[[], Any], runs: int = RUNS, *, gc_enabled: bool = True) -> float:
    """Fastest of `runs` calls, in seconds. The result of each call is dropped outside the timed
    region; with gc_enabled=False the collector is off around the call (as `gc.disable()`)."""
    times = []
    for _ in range(runs):
        gc.collect()
        if not gc_enabled:
            gc.disable()
        try:
            started = time.perf_counter()
            result = fn()
            times.append(time.perf_counter() - started)
        finally:
            gc.enable()
        del result
    return min(times)


def peak_memory(fn: Callable[[], Any]) -> int:
    """Peak bytes allocated through Python's allocators while `fn` runs (input excluded)."""
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    del result
    return peak


def measure(data: bytes) -> dict[str, Any]:
    parsed = parse_manifest(data)
    row: dict[str, Any] = {
        "bytes": len(data), "nodes": len(parsed.nodes), "edges": len(parsed.edges),
        "parse_s": best_of(lambda: parse_manifest(data)),
        "parse_gc_on_s": best_of(lambda: parse_manifest(data, disable_gc=False)),
        "orjson_s": best_of(lambda: orjson.loads(data)),
        "orjson_gc_off_s": best_of(lambda: orjson.loads(data), gc_enabled=False),
        "msgspec_s": best_of(lambda: msgspec.json.decode(data)),
        "msgspec_gc_off_s": best_of(lambda: msgspec.json.decode(data), gc_enabled=False),
        "parse_peak_bytes": peak_memory(lambda: parse_manifest(data)),
    }
    del parsed
    return row


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.0f} ms"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description="dbt manifest parse benchmark")
    ap.add_argument("--no-save", action="store_true", help="do not write bench/results/lineage_parse.json")
    ap.add_argument("--quick", action="store_true", help="only the 10k-model lean manifest")
    args = ap.parse_args(argv)

    cases = {"10k models (lean nodes)": manifest_10k(False)}
    if not args.quick:
        cases["10k models (full v12 nodes)"] = manifest_10k(True)
        cases["large_graph 100k/300k"] = bytes(large_graph(100_000, 300_000, seed=0).manifest())
    results: dict[str, Any] = {}
    for name, data in cases.items():
        results[name] = measure(data)

    print(f"{'manifest':30} {'MB':>5} {'nodes':>7} {'edges':>7} | {'parse':>10} {'parse/gc':>10} | "
          f"{'orjson':>10} {'orjson/nogc':>11} | {'msgspec':>10} {'msgspec/nogc':>12} | {'peak MB':>7}")
    for name, r in results.items():
        print(f"{name:30} {r['bytes'] / 1e6:5.1f} {r['nodes']:7d} {r['edges']:7d} | "
              f"{ms(r['parse_s']):>10} {ms(r['parse_gc_on_s']):>10} | {ms(r['orjson_s']):>10} "
              f"{ms(r['orjson_gc_off_s']):>11} | {ms(r['msgspec_s']):>10} {ms(r['msgspec_gc_off_s']):>12} | "
              f"{r['parse_peak_bytes'] / 1e6:7.1f}")
    print("parse = parse_manifest (GC disabled inside, the default); parse/gc = disable_gc=False; "
          "orjson/msgspec = untyped decode only, GC on unless 'nogc'; peak = tracemalloc peak of parse")
    main_row = results["10k models (lean nodes)"]
    ok = main_row["parse_s"] <= TARGET_S
    print(f"target: 10k-model manifest parsed in <= {TARGET_S} s: "
          f"{main_row['parse_s']:.3f} s -> {'PASS' if ok else 'FAIL'}")
    summary = {"target_s": TARGET_S, "target_met": ok, "cases": results}
    if not args.no_save:
        out = HERE.parent / "results" / "lineage_parse.json"
        out.parent.mkdir(exist_ok=True)
        out.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    main()
