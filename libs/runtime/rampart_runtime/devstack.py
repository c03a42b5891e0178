"""Local stack for `make up` and tests: NATS, PostgreSQL and the five services as processes."""
# ruff: noqa: S603  -- a developer tool whose job is running fixed local commands

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .devinfra import (
    REPO_ROOT,
    SCRIPTS,
    ensure_nats,
    free_port,
    nats_binary,
    pid_alive,
    port_open,
    read_pid,
    say,
    spawn,
    start_nats,
    tail,
    terminate,
    wait_for,
    write_pid,
)
from .devpg import (
    DEFAULT_DSN,
    build_dsn,
    create_database,
    deps,
    dsn_reachable,
    ensure_postgres,
    pg_bindir,
    pg_root,
    start_postgres,
    stop_postgres,
    with_database,
)

__all__ = [
    "DEFAULT_DSN", "PORTS", "REPO_ROOT", "SCRIPTS", "SERVICES", "Proc", "Stack", "build_dsn",
    "clean", "create_api_key", "create_database", "default_state_dir", "deps", "down",
    "dsn_reachable", "ensure_admin_key", "ensure_nats", "ensure_postgres", "ensure_secret_key",
    "free_port", "http_status", "infra", "launch", "logs", "main", "nats_binary",
    "parse_json_object", "pg_bindir", "pg_root", "pid_alive", "port_env", "port_open", "read_pid",
    "say", "service_procs", "spawn", "stack_env", "start_nats", "start_postgres", "start_services",
    "status", "stop_postgres", "stop_procs", "stop_services", "tail", "terminate", "up",
    "wait_for", "wait_ready", "with_database", "write_pid", "write_private",
]

SERVICES = ("gateway", "lineage", "quality", "alerting", "investigator")
PORTS = {"gateway": 8080, "lineage": 8091, "quality": 8092, "alerting": 8093, "investigator": 8094}


def port_env(service: str) -> str:
    """Name of the env var holding a service's HTTP port, e.g. RAMPART_LINEAGE_PORT."""
    return f"RAMPART_{service.upper()}_PORT"


# ---------------------------------------------------------------- services


@dataclass
class Proc:
    """One service process: unique name, python module, HTTP port, extra env."""

    name: str
    module: str
    port: int
    env: dict[str, str] = field(default_factory=dict)


def service_procs(env: Mapping[str, str], services: Iterable[str] = SERVICES) -> list[Proc]:
    """Standard service processes with ports from RAMPART_<SERVICE>_PORT or the defaults."""
    return [Proc(s, f"rampart_{s}", int(env.get(port_env(s)) or PORTS[s])) for s in services]


def stack_env(database_url: str, nats_url: str, bus_prefix: str, secret_key: str,
              ports: Mapping[str, int] | None = None,
              base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for service processes (on top of `base`, default os.environ)."""
    env = dict(os.environ if base is None else base)
    env.update(RAMPART_DATABASE_URL=database_url, RAMPART_NATS_URL=nats_url,
               RAMPART_BUS_PREFIX=bus_prefix, RAMPART_SECRET_KEY=secret_key)
    for s in SERVICES:
        env[port_env(s)] = str((ports or {}).get(s) or env.get(port_env(s)) or PORTS[s])
    return env


def http_status(url: str, timeout: float = 2.0) -> int:
    """HTTP status of GET `url`; 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 - our http URL
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):
        return 0


def launch(proc: Proc, env: Mapping[str, str], state_dir: Path) -> int:
    """Start `python -m <module>` detached unless its pidfile shows it running; return its pid."""
    pidfile = state_dir / "pids" / f"{proc.name}.pid"
    if (pid := read_pid(pidfile)) is not None:
        return pid
    if port_open("127.0.0.1", proc.port):
        raise RuntimeError(f"cannot start {proc.name}: port {proc.port} is used by another process")
    service = proc.module.removeprefix("rampart_")
    full = {**env, **proc.env, port_env(service): str(proc.port)}
    log_path = state_dir / "logs" / f"{proc.name}.log"
    return spawn([sys.executable, "-m", proc.module], log_path, full, pidfile, proc.module).pid


def wait_ready(procs: Iterable[Proc], state_dir: Path, timeout: float = 60.0) -> None:
    """Wait until each process answers 200 on /readyz; else raise with the tail of its log."""
    pending, deadline = list(procs), time.monotonic() + timeout
    while pending:
        for p in list(pending):
            if http_status(f"http://127.0.0.1:{p.port}/readyz") == 200:
                pending.remove(p)
                continue
            dead = read_pid(state_dir / "pids" / f"{p.name}.pid") is None
            if dead or time.monotonic() > deadline:
                why = "exited" if dead else f"not ready after {timeout:.0f}s"
                log_path = state_dir / "logs" / f"{p.name}.log"
                say(f"{p.name} {why}; last lines of {log_path}:\n{tail(log_path)}")
                raise RuntimeError(f"service {p.name} {why} (see {log_path})")
        time.sleep(0.2)


def start_services(env: Mapping[str, str], state_dir: Path, services: Iterable[str] = SERVICES,
                   timeout: float = 60.0, extra: Iterable[Proc] = ()) -> list[Proc]:
    """Start services (plus `extra` processes) detached and wait until all are ready."""
    procs = [*service_procs(env, services), *extra]
    for p in procs:
        launch(p, env, state_dir)
    wait_ready(procs, state_dir, timeout)
    return procs


def stop_procs(state_dir: Path, names: Iterable[str] | None = None, graceful: bool = True) -> None:
    """Stop service processes by pidfile (all under <state>/pids when `names` is None)."""
    files = sorted((state_dir / "pids").glob("*.pid")) if names is None else [
        state_dir / "pids" / f"{n}.pid" for n in names]
    pids = [pid for f in files if (pid := read_pid(f)) is not None]
    terminate(pids, timeout=10.0 if graceful else 0.0,
              sig=signal.SIGTERM if graceful else signal.SIGKILL)
    for f in files:
        f.unlink(missing_ok=True)


def stop_services(state_dir: Path, infra: bool = True) -> None:
    """Stop all services, then the NATS and PostgreSQL that devstack itself started."""
    stop_procs(state_dir)
    if infra:
        if (pid := read_pid(state_dir / "nats.pid")) is not None:
            say("stopping nats-server started by devstack")
            terminate([pid])
        (state_dir / "nats.pid").unlink(missing_ok=True)
        if (pg_root(state_dir) / "data").exists():
            stop_postgres(pg_root(state_dir))


# ---------------------------------------------------------------- secrets and keys


def write_private(path: Path, text: str) -> None:
    """Write a file readable only by the owner (0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def ensure_secret_key(state_dir: Path, env: Mapping[str, str] | None = None) -> str:
    """RAMPART_SECRET_KEY, else the one in <state>/secret-key (generated once)."""
    env = os.environ if env is None else env
    if env.get("RAMPART_SECRET_KEY"):
        return env["RAMPART_SECRET_KEY"]
    path = state_dir / "secret-key"
    if path.exists() and len(key := path.read_text().strip()) >= 32:
        return key
    key = secrets.token_urlsafe(48)
    write_private(path, key)
    return key


def parse_json_object(text: str) -> dict[str, object]:
    """The JSON object printed by a CLI (whole output, else the last line that is one)."""
    for candidate in [text, *reversed(text.splitlines())]:
        with contextlib.suppress(ValueError):
            value = json.loads(candidate)
            if isinstance(value, dict):
                return value
    raise ValueError("no JSON object in command output")


def create_api_key(env: Mapping[str, str], org: str = "default", name: str = "bootstrap",
                   scope: str = "admin", tier: str = "enterprise") -> str:
    """Create an API key with `rampart api-keys create ... --json`; return the full key."""
    cli = str(SCRIPTS / "rampart") if (SCRIPTS / "rampart").exists() else "rampart"
    args = [cli, "api-keys", "create", "--org", org, "--name", name, "--scope", scope,
            "--tier", tier, "--json"]
    out = subprocess.run(args, env=dict(env), capture_output=True, text=True, check=False,
                         stdin=subprocess.DEVNULL, cwd=REPO_ROOT, timeout=120)
    if out.returncode != 0:
        raise RuntimeError(f"`rampart api-keys create` exited {out.returncode}:\n"
                           + out.stderr[-3000:])
    return str(parse_json_object(out.stdout)["key"])


def ensure_admin_key(env: Mapping[str, str], state_dir: Path) -> str:
    """Reuse <state>/admin-key when made for the same database, else create and save one."""
    path, tag_path = state_dir / "admin-key", state_dir / "admin-key.db"
    tag = hashlib.sha256(env["RAMPART_DATABASE_URL"].encode()).hexdigest()[:16]
    if path.exists() and (key := path.read_text().strip()):
        if not tag_path.exists() or tag_path.read_text().strip() == tag:
            return key
        say("admin key in state dir belongs to another database; creating a new one")
    key = create_api_key(env)
    write_private(path, key)
    tag_path.write_text(tag + "\n")
    return key


# ---------------------------------------------------------------- reusable stack (tests, bench)


@dataclass
class Stack:
    """An isolated set of service processes on given infra; unset ports get free ones.

    `with Stack(db_url, nats_url, "t1234abcd", tmp) as s: s.start(); s.url("gateway")`.
    """

    database_url: str
    nats_url: str
    bus_prefix: str
    state_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    secret_key: str = field(default_factory=lambda: secrets.token_urlsafe(48))
    procs: dict[str, Proc] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for s in SERVICES:
            self.ports.setdefault(s, free_port())

    @property
    def env(self) -> dict[str, str]:
        """Environment every process of this stack gets."""
        env = stack_env(self.database_url, self.nats_url, self.bus_prefix, self.secret_key,
                        self.ports)
        return {**env, **self.extra_env}

    def url(self, name: str = "gateway", path: str = "") -> str:
        """Base URL of a process, e.g. url() -> http://127.0.0.1:<gateway port>."""
        port = self.procs[name].port if name in self.procs else self.ports[name]
        return f"http://127.0.0.1:{port}{path}"

    def start(self, services: Iterable[str] = SERVICES, extra: Iterable[Proc] = (),
              timeout: float = 60.0) -> None:
        """Start services (and extra processes) and wait until ready; stop all on failure."""
        procs = [*service_procs(self.env, services), *extra]
        self.procs.update({p.name: p for p in procs})
        try:
            for p in procs:
                launch(p, self.env, self.state_dir)
            wait_ready(procs, self.state_dir, timeout)
        except BaseException:
            self.stop([p.name for p in procs])
            raise

    def add(self, name: str, service: str, port: int | None = None,
            env: Mapping[str, str] | None = None, timeout: float = 60.0) -> Proc:
        """Start another instance of `service` (e.g. a second gateway) under a new name."""
        proc = Proc(name, f"rampart_{service}", port or free_port(), dict(env or {}))
        self.start(services=(), extra=[proc], timeout=timeout)
        return proc

    def stop(self, names: Iterable[str] | None = None, graceful: bool = True) -> None:
        """Stop some (default: all) processes; graceful=False SIGKILLs them (crash tests)."""
        chosen = list(self.procs) if names is None else list(names)
        stop_procs(self.state_dir, chosen, graceful)
        for n in chosen:
            self.procs.pop(n, None)

    def api_key(self, scope: str = "admin", tier: str = "enterprise", org: str = "default",
                name: str = "test") -> str:
        """Create an API key in this stack's database via the `rampart` CLI."""
        return create_api_key(self.env, org=org, name=name, scope=scope, tier=tier)

    def log(self, name: str, lines: int = 200) -> str:
        """Tail of a process log (for assertion messages)."""
        return tail(self.state_dir / "logs" / f"{name}.log", lines)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()


# ---------------------------------------------------------------- make targets


def default_state_dir() -> Path:
    """RAMPART_STATE_DIR, else `.rampart/` in the repository root."""
    return Path(os.environ.get("RAMPART_STATE_DIR") or REPO_ROOT / ".rampart").resolve()


def infra(state_dir: Path) -> tuple[str, str]:
    """Ensure NATS, PostgreSQL and the database; return (database_url, nats_url)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    nats_url = ensure_nats(state_dir)
    dsn = ensure_postgres(state_dir)
    create_database(dsn)
    return dsn, nats_url


def up(state_dir: Path | None = None) -> str:
    """Start infra and all services, bootstrap the admin key, print how to use it."""
    sd = state_dir or default_state_dir()
    dsn, nats_url = infra(sd)
    env = stack_env(dsn, nats_url, os.environ.get("RAMPART_BUS_PREFIX") or "rampart",
                    ensure_secret_key(sd))
    ports = {s: int(env[port_env(s)]) for s in SERVICES}
    write_private(sd / "stack.json", json.dumps({"ports": ports, "nats_url": nats_url}))
    say("starting services (logs in " + str(sd / "logs") + ")")
    start_services(env, sd)
    key = ensure_admin_key(env, sd)
    api = f"http://127.0.0.1:{ports['gateway']}/api/v1"
    print(f"Rampart is up: {api}")
    print(f"Admin API key (saved in {sd / 'admin-key'}): {key}")
    print(f"Use it:  export ARMOR_API_URL={api} ARMOR_API_KEY={key}")
    print("Stop with `make down`; logs with `make logs`; health with `make status`.")
    return key


def down(state_dir: Path | None = None) -> None:
    """Stop services and the infra devstack started (keeps data and keys)."""
    stop_services(state_dir or default_state_dir())
    say("stopped")


def clean(state_dir: Path | None = None) -> None:
    """Stop everything and delete local state: keys, logs, NATS store, private database."""
    sd = state_dir or default_state_dir()
    stop_services(sd)
    if not pg_root(sd).is_relative_to(sd):
        shutil.rmtree(pg_root(sd).parent, ignore_errors=True)
    shutil.rmtree(sd, ignore_errors=True)
    say(f"removed {sd}")


def logs(state_dir: Path | None = None, lines: int = 100) -> None:
    """Print the tail of every log in <state>/logs."""
    for path in sorted((state_dir or default_state_dir()).glob("logs/*.log")):
        print(f"==> {path} <==\n{tail(path, lines)}\n")


def status(state_dir: Path | None = None) -> int:
    """Print pid and /readyz of each service; 0 when all are ready."""
    sd = state_dir or default_state_dir()
    ports = {p.name: p.port for p in service_procs(os.environ)}
    with contextlib.suppress(OSError, ValueError, KeyError):
        ports = json.loads((sd / "stack.json").read_text())["ports"]
    bad = 0
    for s in SERVICES:
        pid = read_pid(sd / "pids" / f"{s}.pid")
        code = http_status(f"http://127.0.0.1:{ports[s]}/readyz")
        bad += code != 200
        print(f"{s:<13} port {ports[s]:<5} pid {pid or '-':<8} readyz {code or 'down'}")
    print(f"{'nats':<13} {'started by devstack' if read_pid(sd / 'nats.pid') else 'external/none'}")
    pg_pid = read_pid(pg_root(sd) / "data" / "postmaster.pid")
    print(f"{'postgres':<13} {'private cluster running' if pg_pid else 'external/none'}")
    return 1 if bad else 0


def main(argv: list[str] | None = None) -> int:
    """`python -m rampart_runtime.devstack up|down|logs|status|infra|deps|clean`."""
    cmd = (argv if argv is not None else sys.argv[1:] or ["status"])[0]
    if cmd == "infra":
        from .logging import scrub

        dsn, nats_url = infra(default_state_dir())
        print(f"export RAMPART_DATABASE_URL={scrub(dsn)} RAMPART_NATS_URL={nats_url}")
        return 0
    actions: dict[str, Callable[[], object]] = {
        "up": up, "down": down, "logs": logs, "deps": deps, "clean": clean}
    if cmd == "status":
        return status()
    if cmd not in actions:
        print("usage: python -m rampart_runtime.devstack up|down|logs|status|infra|deps|clean")
        return 2
    try:
        actions[cmd]()
    except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
        say(f"{cmd} failed: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
