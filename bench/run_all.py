"""Run every benchmark (`bench/<area>/bench_*.py`) in turn; each prints its own table and
writes `bench/results/<area>.json`. Exit status 1 when any benchmark crashed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> int:
    scripts = sorted(HERE.glob("*/bench_*.py"))
    only = set(sys.argv[1:])
    failed = []
    for script in scripts:
        if only and script.parent.name not in only:
            continue
        print(f"\n=== {script.relative_to(HERE.parent)}", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nbenchmarks that crashed: {', '.join(failed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
