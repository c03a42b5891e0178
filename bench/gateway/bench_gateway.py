"""Gateway benchmark: authenticated, rate-limited GET /api/v1/sdk/assets/{id} on the full path
(gateway -> NATS request/reply -> quality -> PostgreSQL) against a bare aiohttp route.

Targets (issue 2): >= 3,000 req/s, and p99 <= 20 ms at 1,000 req/s, with one gateway process
and one quality process. Prints a table and writes bench/results/gateway.json.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from loadtools import wrk, wrk_paced  # noqa: E402

from rampart_runtime import devstack  # noqa: E402

SECONDS = 10
CONNECTIONS = 50
FIXED_RATE = 1000


def _post(url: str, key: str, body: dict[str, object]) -> dict[str, object]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read())  # type: ignore[no-any-return]


def _bench_key(env: dict[str, str]) -> str:
    """A key whose limits sit far above the load, so every request runs the limiter's path."""
    out = subprocess.run(
        [sys.executable, "-m", "rampart.cli", "api-keys", "create", "--org", "bench",
         "--name", "bench", "--scope", "admin", "--tier", "enterprise",
         "--rate-limit-per-min", "100000000", "--burst", "1000000", "--json"],
        env=env, capture_output=True, text=True, check=True, stdin=subprocess.DEVNULL,
    )
    return str(devstack.parse_json_object(out.stdout)["key"])


def main() -> dict[str, object]:
    state = Path(tempfile.mkdtemp(prefix="rampart-bench-gw-"))
    nats_url = devstack.ensure_nats(state)
    admin_dsn = devstack.ensure_postgres(state)
    db_url = devstack.with_database(admin_dsn, f"rampart_bench_{secrets.token_hex(4)}")
    devstack.create_database(db_url)
    ports = {"gateway": devstack.free_port(), "quality": devstack.free_port()}
    env = devstack.stack_env(db_url, nats_url, f"bench{secrets.token_hex(4)}",
                             secrets.token_urlsafe(48), ports=ports)
    env["RAMPART_LOG_LEVEL"] = "warning"
    bare_port = devstack.free_port()
    bare = subprocess.Popen([sys.executable, str(HERE / "bare_server.py"), str(bare_port)])
    try:
        devstack.start_services(env, state, services=["gateway", "quality"])
        key = _bench_key(env)
        base = f"http://127.0.0.1:{ports['gateway']}/api/v1"
        asset = _post(f"{base}/sdk/assets", key, {
            "name": "bench", "source_type": "postgresql",
            "connection_config": {"host": "127.0.0.1", "database": "postgres", "user": "postgres"},
        })["data"]
        asset_url = f"{base}/sdk/assets/{asset['id']}"  # type: ignore[index]
        auth = {"Authorization": f"Bearer {key}"}
        devstack.wait_for(lambda: devstack.port_open("127.0.0.1", bare_port), 10, "bare server")
        wrk(asset_url, seconds=2, connections=CONNECTIONS, headers=auth)  # warm-up
        full = wrk(asset_url, seconds=SECONDS, connections=CONNECTIONS, headers=auth)
        base_line = wrk(f"http://127.0.0.1:{bare_port}/hello", seconds=SECONDS,
                        connections=CONNECTIONS, headers={})
        time.sleep(1)
        fixed = wrk_paced(asset_url, rate=FIXED_RATE, seconds=SECONDS, headers=auth)
    finally:
        bare.terminate()
        devstack.stop_procs(state)
        devstack.stop_services(state, infra=True)
    result = {
        "full_path": full, "bare_aiohttp": base_line, "fixed_rate_1000": fixed,
        "ratio_to_bare": full["rps"] / base_line["rps"],
        "targets": {"rps_min": 3000, "p99_ms_at_1000_max": 20},
        "pass": full["rps"] >= 3000 and fixed["p99_ms"] <= 20 and full["non_2xx"] == 0
        and fixed["non_2xx"] == 0,
    }
    print_table(result)
    return result


def print_table(r: dict[str, object]) -> None:
    full, bare, fixed = r["full_path"], r["bare_aiohttp"], r["fixed_rate_1000"]
    assert isinstance(full, dict) and isinstance(bare, dict) and isinstance(fixed, dict)
    print("\nbench/gateway — GET /api/v1/sdk/assets/{id}, authenticated + rate-limited, "
          f"{CONNECTIONS} connections, {SECONDS} s, wrk -t1")
    print(f"{'figure':<38}{'measured':>14}{'target':>12}{'bare aiohttp':>16}")
    print(f"{'throughput (req/s)':<38}{full['rps']:>14.0f}{'>= 3000':>12}{bare['rps']:>16.0f}")
    print(f"{'p50 at max load (ms)':<38}{full['p50_ms']:>14.2f}{'':>12}{bare['p50_ms']:>16.2f}")
    print(f"{'p99 at max load (ms)':<38}{full['p99_ms']:>14.2f}{'':>12}{bare['p99_ms']:>16.2f}")
    print(f"{'p50 at 1000 req/s (ms, paced wrk)':<38}{fixed['p50_ms']:>14.2f}")
    print(f"{'p99 at 1000 req/s (ms, paced wrk)':<38}{fixed['p99_ms']:>14.2f}{'<= 20':>12}")
    print(f"{'achieved rate in fixed-rate run':<38}{fixed['rps']:>14.0f}{'1000':>12}")
    print(f"{'ratio full path / bare':<38}{r['ratio_to_bare']:>14.3f}")
    print(f"{'non-2xx responses':<38}{full['non_2xx'] + fixed['non_2xx']:>14.0f}"
          f"{'0':>12}")
    print(f"result: {'PASS' if r['pass'] else 'SHORT OF TARGET'}")


if __name__ == "__main__":
    out = main()
    results = HERE.parent / "results"
    results.mkdir(exist_ok=True)
    (results / "gateway.json").write_text(json.dumps(out, indent=2))
