"""Run wrk (maximum throughput, and paced to a fixed rate) and read its figures."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise SystemExit(f"{tool} is not installed (apt-get install -y {tool}); `make bench` does it")
    return path


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text.strip())
    if not match:
        raise ValueError(f"unreadable latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def wrk(url: str, *, seconds: int, connections: int, headers: dict[str, str]) -> dict[str, float]:
    """Closed-loop maximum throughput with `connections` in flight."""
    args = [require("wrk"), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sock = re.search(r"Socket errors:.*", out)
    return {
        "rps": rps, "p50_ms": _ms(lat["50"]), "p99_ms": _ms(lat["99"]),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
        "socket_errors": 1.0 if sock else 0.0,
    }


def wrk_paced(url: str, *, rate: int, seconds: int, headers: dict[str, str],
              connections: int = 25) -> dict[str, float]:
    """About `rate` req/s: each connection sleeps a random think time (paced.lua) between
    requests. Latency excludes the think time; the achieved rate is reported beside it."""
    mean_delay_ms = max(0.5, connections * 1000 / rate - 1.5)  # minus a typical latency
    args = [require("wrk"), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency",
            "-s", str(Path(__file__).with_name("paced.lua")), url]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    env = {**os.environ, "WRK_MEAN_DELAY_MS": f"{mean_delay_ms:.1f}"}
    out = subprocess.run(args, capture_output=True, text=True, check=True, env=env).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    lat = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.M))
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50_ms": _ms(lat["50"]), "p90_ms": _ms(lat["90"]),
            "p99_ms": _ms(lat["99"]), "non_2xx": float(errors.group(1)) if errors else 0.0}
