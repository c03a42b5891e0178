"""Unit tests for the pure parts of rampart_runtime.devstack (no NATS, no PostgreSQL)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from rampart_runtime import devstack


def test_free_port_is_bindable() -> None:
    port = devstack.free_port()
    assert 1024 < port < 65536
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))
    assert not devstack.port_open("127.0.0.1", port)


def test_port_open_sees_a_listener() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert devstack.port_open("127.0.0.1", s.getsockname()[1])


def test_dsn_building() -> None:
    dsn = devstack.build_dsn("127.0.0.1", 5433, "rampart")
    assert dsn == "postgresql://postgres@127.0.0.1:5433/rampart"
    assert devstack.with_database(dsn, "other") == "postgresql://postgres@127.0.0.1:5433/other"
    assert devstack.with_database("postgresql://u:p@h/x?sslmode=disable", "y") == (
        "postgresql://u:p@h/y?sslmode=disable"
    )


def test_pidfile_of_running_process(tmp_path: Path) -> None:
    pidfile = tmp_path / "p.pid"
    devstack.write_pid(pidfile, os.getpid(), marker="python")
    assert devstack.read_pid(pidfile) == os.getpid()


def test_pidfile_marker_mismatch_means_reused_pid(tmp_path: Path) -> None:
    pidfile = tmp_path / "p.pid"
    devstack.write_pid(pidfile, os.getpid(), marker="nats-server-that-is-not-us")
    assert devstack.read_pid(pidfile) is None


@pytest.mark.parametrize("content", ["", "garbage\n", "-4\n", "0\n"])
def test_pidfile_garbage(tmp_path: Path, content: str) -> None:
    pidfile = tmp_path / "p.pid"
    pidfile.write_text(content)
    assert devstack.read_pid(pidfile) is None
    assert devstack.read_pid(tmp_path / "missing.pid") is None


def test_pidfile_of_exited_process_and_terminate(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                            start_new_session=True)
    pidfile = tmp_path / "sleep.pid"
    devstack.write_pid(pidfile, proc.pid, marker="time.sleep")
    assert devstack.read_pid(pidfile) == proc.pid
    devstack.terminate([proc.pid], timeout=5)
    assert proc.wait(timeout=5) != 0
    assert devstack.read_pid(pidfile) is None


def test_parse_json_object_ignores_log_lines() -> None:
    assert devstack.parse_json_object('{"key": "k1"}') == {"key": "k1"}
    out = 'some log line\n{"id": "x", "key": "aa_live_abc"}\n'
    assert devstack.parse_json_object(out)["key"] == "aa_live_abc"
    with pytest.raises(ValueError):
        devstack.parse_json_object("no json here\n[1, 2]")


def test_stack_env_and_ports() -> None:
    env = devstack.stack_env("postgresql://x/db", "nats://n:1", "tabc", "s" * 40,
                             ports={"gateway": 9999}, base={"RAMPART_LINEAGE_PORT": "7001"})
    assert env["RAMPART_GATEWAY_PORT"] == "9999"
    assert env["RAMPART_LINEAGE_PORT"] == "7001"
    assert env["RAMPART_QUALITY_PORT"] == "8092"
    assert env["RAMPART_BUS_PREFIX"] == "tabc"
    procs = devstack.service_procs(env, ["gateway", "investigator"])
    assert [(p.name, p.module, p.port) for p in procs] == [
        ("gateway", "rampart_gateway", 9999), ("investigator", "rampart_investigator", 8094)]


def test_secret_key_generated_once(tmp_path: Path) -> None:
    first = devstack.ensure_secret_key(tmp_path, env={})
    assert len(first) >= 32
    assert devstack.ensure_secret_key(tmp_path, env={}) == first
    assert (tmp_path / "secret-key").stat().st_mode & 0o077 == 0
    assert devstack.ensure_secret_key(tmp_path, env={"RAMPART_SECRET_KEY": "e" * 32}) == "e" * 32


def test_admin_key_reused_for_same_database(tmp_path: Path) -> None:
    env = {"RAMPART_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/rampart"}
    devstack.write_private(tmp_path / "admin-key", "aa_live_existing")
    assert devstack.ensure_admin_key(env, tmp_path) == "aa_live_existing"


def test_ensure_nats_prefers_env(tmp_path: Path) -> None:
    url = devstack.ensure_nats(tmp_path, env={"RAMPART_NATS_URL": "nats://example:4222"})
    assert url == "nats://example:4222"
    assert not (tmp_path / "nats.pid").exists()
