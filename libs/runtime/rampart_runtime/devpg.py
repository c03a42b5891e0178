"""Dev PostgreSQL: DSN helpers and a private trust-auth cluster for `make up` and tests."""
# ruff: noqa: S603, S607  -- a developer tool whose job is running fixed local commands

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import pwd
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from .devinfra import port_open, read_pid, say

DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/rampart"


def build_dsn(host: str, port: int, database: str, user: str = "postgres") -> str:
    """A password-less PostgreSQL DSN."""
    return f"postgresql://{user}@{host}:{port}/{database}"


def with_database(dsn: str, database: str) -> str:
    """The same DSN pointing at another database."""
    return urlunsplit(urlsplit(dsn)._replace(path=f"/{database}"))


def dsn_reachable(dsn: str) -> bool:
    """TCP reachability of the server named in a DSN (default 127.0.0.1:5432)."""
    parts = urlsplit(dsn)
    return port_open(parts.hostname or "127.0.0.1", parts.port or 5432)


def _as_root() -> bool:
    return os.geteuid() == 0


def pg_bindir(install: bool = True) -> Path:
    """Newest Debian PostgreSQL bin dir; installs the `postgresql` package when missing."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    if found:
        return found[-1].parent
    if not install:
        raise RuntimeError("PostgreSQL binaries not found under /usr/lib/postgresql")
    sudo = [] if _as_root() else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    say("PostgreSQL not installed: running apt-get update && apt-get install -y postgresql")
    subprocess.run([*sudo, "apt-get", "update"], check=True, env=env, stdin=subprocess.DEVNULL)
    subprocess.run([*sudo, "apt-get", "install", "-y", "--no-install-recommends", "postgresql"],
                   check=True, env=env, stdin=subprocess.DEVNULL)
    return pg_bindir(install=False)


def _pg_cmd(args: list[str]) -> list[str]:
    """Run PostgreSQL tools as the `postgres` user when we are root (they refuse root)."""
    return ["runuser", "-u", "postgres", "--", *args] if _as_root() else args


def _pg_user_owns(path: Path) -> None:
    if _as_root():
        with contextlib.suppress(KeyError):
            pw = pwd.getpwnam("postgres")
            shutil.chown(path, pw.pw_uid, pw.pw_gid)


def start_postgres(root: Path, port: int | None = None, durable: bool = True,
                   timeout: float = 60) -> str:
    """Start (initdb once) a private trust-auth cluster under `root`; return its admin DSN."""
    data, run, port_file = root / "data", root / "run", root / "port"
    if read_pid(data / "postmaster.pid") is not None and port_file.exists():
        return build_dsn("127.0.0.1", int(port_file.read_text()), "postgres")
    bindir = pg_bindir()
    if _as_root():
        if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
            say("creating system user postgres")
            subprocess.run(["useradd", "--system", "--user-group", "postgres"], check=True)
        root.parent.mkdir(parents=True, exist_ok=True)
        root.parent.chmod(root.parent.stat().st_mode | 0o711)  # let postgres traverse
    for d in (root, run):
        d.mkdir(parents=True, exist_ok=True)
        _pg_user_owns(d)
    if not (data / "PG_VERSION").exists():
        say(f"initialising private PostgreSQL cluster in {data}")
        subprocess.run(_pg_cmd([str(bindir / "initdb"), "-D", str(data), "-U", "postgres",
                                "--auth=trust", "-E", "UTF8", "--no-locale"]),
                       check=True, cwd=root, stdout=subprocess.DEVNULL)
    if port is None:
        saved = int(port_file.read_text()) if port_file.exists() else 0
        port = saved if saved and not port_open("127.0.0.1", saved) else next(
            p for p in range(5433, 5533) if not port_open("127.0.0.1", p))
    port_file.write_text(str(port))
    sock = str(run) if len(str(run)) < 90 else ""
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories='{sock}'"
    opts += " -c max_connections=300"
    if not durable:
        opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    say(f"starting private PostgreSQL on 127.0.0.1:{port}")
    subprocess.run(_pg_cmd([str(bindir / "pg_ctl"), "-D", str(data), "-l",
                            str(root / "postgres.log"), "-w", "-t", str(int(timeout)),
                            "-o", opts, "start"]),
                   check=True, cwd=root, stdout=subprocess.DEVNULL)
    return build_dsn("127.0.0.1", port, "postgres")


def stop_postgres(root: Path) -> None:
    """Fast-stop a private cluster under `root` if it runs (never touches other clusters)."""
    data = root / "data"
    if read_pid(data / "postmaster.pid") is None:
        return
    say(f"stopping private PostgreSQL in {data}")
    subprocess.run(_pg_cmd([str(pg_bindir(install=False) / "pg_ctl"), "-D", str(data),
                            "-m", "fast", "-w", "stop"]), check=False, cwd=root,
                   stdout=subprocess.DEVNULL)


def pg_root(state_dir: Path) -> Path:
    """Where devstack keeps its private cluster: <state>/pg, or under /var/lib/rampart when
    running as root and the `postgres` user cannot reach the state dir (e.g. a repo in /root)."""
    local = state_dir / "pg"
    if not _as_root() or local.exists():
        return local
    state_dir.mkdir(parents=True, exist_ok=True)
    state_dir.chmod(state_dir.stat().st_mode | 0o711)
    probe = subprocess.run(_pg_cmd(["test", "-x", str(state_dir)]), capture_output=True)
    if probe.returncode == 0:
        return local
    digest = hashlib.sha256(str(state_dir.resolve()).encode()).hexdigest()[:12]
    return Path("/var/lib/rampart") / digest / "pg"


def ensure_postgres(state_dir: Path, env: Mapping[str, str] | None = None,
                    default_dsn: str = DEFAULT_DSN, durable: bool = True) -> str:
    """DSN to use: RAMPART_DATABASE_URL if reachable, else `default_dsn`, else a private cluster."""
    env = os.environ if env is None else env
    if url := env.get("RAMPART_DATABASE_URL"):
        if dsn_reachable(url):
            return url
        say("RAMPART_DATABASE_URL is not reachable; falling back")
    if dsn_reachable(default_dsn):
        return default_dsn
    admin = start_postgres(pg_root(state_dir), durable=durable)
    return with_database(admin, urlsplit(default_dsn).path.lstrip("/") or "rampart")


def create_database(dsn: str) -> None:
    """Create the DSN's database if missing (sync wrapper over `db.ensure_database`)."""
    from .db import ensure_database

    asyncio.run(ensure_database(dsn))


def deps() -> None:
    """Install system packages the tests need when absent (PostgreSQL, unless one is reachable)."""
    url = os.environ.get("RAMPART_TEST_DATABASE_URL") or DEFAULT_DSN
    if url == "private" or not dsn_reachable(url):
        pg_bindir(install=True)
