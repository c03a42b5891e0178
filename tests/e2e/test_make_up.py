"""`python -m rampart_runtime.devstack up|status|down` (what `make up` runs), on test infra."""

from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
import sys

import httpx
import pytest
from e2e_support import HTTP_TIMEOUT, wait_until
from support.infra import SERVICES, free_port, new_bus_prefix, temp_dir

from rampart_runtime.devstack import REPO_ROOT, port_open

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

KEY = re.compile(r"aa_live_[A-Za-z0-9_-]{32,64}")


def _devstack(cmd: str, env: dict[str, str], timeout: float = 45
              ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "rampart_runtime.devstack", cmd], env=env,
                          cwd=REPO_ROOT, capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def _free_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        if (p := free_port()) not in ports:
            ports.append(p)
    return ports


def test_up_status_down(database_url: str, nats_url: str) -> None:
    state = temp_dir("rampart-test-up-")
    ports = dict(zip(SERVICES, _free_ports(len(SERVICES)), strict=True))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAMPART_", "ARMOR_"))}
    env.update(RAMPART_STATE_DIR=str(state), RAMPART_DATABASE_URL=database_url,
               RAMPART_NATS_URL=nats_url, RAMPART_BUS_PREFIX=new_bus_prefix())
    env.update({f"RAMPART_{s.upper()}_PORT": str(p) for s, p in ports.items()})
    try:
        up = _devstack("up", env)
        assert up.returncode == 0, up.stdout + up.stderr
        api = f"http://127.0.0.1:{ports['gateway']}/api/v1"
        assert api in up.stdout, up.stdout
        printed = KEY.findall(up.stdout)
        assert printed, up.stdout
        key_file = state / "admin-key"
        key = key_file.read_text().strip()
        assert set(printed) == {key}
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

        with httpx.Client(timeout=HTTP_TIMEOUT) as c:
            resp = c.get(f"{api}/api-keys/usage", headers={"Authorization": f"Bearer {key}"})
            assert resp.status_code == 200, resp.text
            assert resp.json()["data"]["scope"] == "admin"
            assert c.get(f"{api}/api-keys/usage").status_code == 401

        status = _devstack("status", env)
        assert status.returncode == 0, status.stdout + status.stderr
        for service, port in ports.items():
            line = next((ln for ln in status.stdout.splitlines() if ln.startswith(service)), "")
            assert f"port {port}" in line and "readyz 200" in line, status.stdout
            assert port_open("127.0.0.1", port)

        down = _devstack("down", env)
        assert down.returncode == 0, down.stdout + down.stderr
        wait_until(lambda: not any(port_open("127.0.0.1", p) for p in ports.values()), 15,
                   "every service port to close after `down`")
        after = _devstack("status", env)
        assert after.returncode == 1
        assert after.stdout.count("readyz down") == len(SERVICES), after.stdout
    finally:
        _devstack("down", env)  # idempotent; cleans up when an assertion failed midway
        shutil.rmtree(state, ignore_errors=True)
