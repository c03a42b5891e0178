"""Connection settings validation, identifier quoting and driver-error classification."""

from __future__ import annotations

import socket
from typing import Any

import asyncpg
import pytest

from rampart_contracts.errors import UpstreamUnreachable, ValidationFailed
from rampart_quality.connectors import ConnectionConfig
from rampart_quality.connectors.errors import classify
from rampart_quality.connectors.mysql import MySQLConnector
from rampart_quality.connectors.postgres import PostgresConnector

BASE = {"host": "db.internal", "database": "shop", "user": "reader"}
PASSWORD = "Sup3r-s3cret-pw"


class TestConnectionConfig:
    def test_minimal_config_with_defaults(self) -> None:
        cfg = ConnectionConfig.parse(BASE)
        assert (cfg.host, cfg.database, cfg.user, cfg.password, cfg.ssl) == (
            "db.internal", "shop", "reader", None, False)
        assert cfg.port_for("postgresql") == 5432 and cfg.port_for("mysql") == 3306

    def test_explicit_port_wins(self) -> None:
        assert ConnectionConfig.parse({**BASE, "port": 6543}).port_for("postgresql") == 6543

    def test_username_and_dbname_aliases(self) -> None:
        cfg = ConnectionConfig.parse({"host": "h", "username": "u", "dbname": "d"})
        assert (cfg.user, cfg.database) == ("u", "d")

    def test_key_and_its_alias_together_are_rejected_not_guessed(self) -> None:
        with pytest.raises(ValidationFailed, match="username"):
            ConnectionConfig.parse({**BASE, "username": "other"})

    def test_unknown_keys_are_named_and_accepted_keys_listed(self) -> None:
        with pytest.raises(ValidationFailed) as caught:
            ConnectionConfig.parse({**BASE, "pasword": "x", "sslmode": "require"})
        assert "pasword" in caught.value.message and "sslmode" in caught.value.message
        accepted = caught.value.details["accepted_keys"]
        assert {"host", "port", "database", "user", "password", "ssl"} <= set(accepted)
        assert accepted == sorted(accepted)

    def test_missing_required_keys_are_named(self) -> None:
        with pytest.raises(ValidationFailed) as caught:
            ConnectionConfig.parse({"host": "h"})
        assert "database" in caught.value.message and "user" in caught.value.message

    @pytest.mark.parametrize("port", [0, -1, 65536, 100000])
    def test_port_out_of_range_is_rejected(self, port: int) -> None:
        with pytest.raises(ValidationFailed, match="port"):
            ConnectionConfig.parse({**BASE, "port": port})

    @pytest.mark.parametrize("port", [1, 65535])
    def test_port_bounds_are_inclusive(self, port: int) -> None:
        assert ConnectionConfig.parse({**BASE, "port": port}).port == port

    def test_error_message_does_not_echo_the_password(self) -> None:
        with pytest.raises(ValidationFailed) as caught:
            ConnectionConfig.parse({**BASE, "password": PASSWORD, "port": "not-a-port"})
        assert PASSWORD not in caught.value.message
        assert PASSWORD not in str(caught.value.details)


QUOTERS = [PostgresConnector.quote, MySQLConnector.quote]


class TestQuoting:
    def test_postgres_doubles_double_quotes(self) -> None:
        assert PostgresConnector.quote("orders") == '"orders"'
        assert PostgresConnector.quote('we"ird') == '"we""ird"'
        assert PostgresConnector.quote('x"; DROP TABLE t; --') == '"x""; DROP TABLE t; --"'

    def test_mysql_doubles_backticks(self) -> None:
        assert MySQLConnector.quote("orders") == "`orders`"
        assert MySQLConnector.quote("we`ird") == "`we``ird`"
        assert MySQLConnector.quote("x`; DROP TABLE t; --") == "`x``; DROP TABLE t; --`"

    @pytest.mark.parametrize("quote", QUOTERS)
    def test_nul_bytes_are_refused(self, quote: Any) -> None:
        with pytest.raises(ValueError, match="NUL"):
            quote("bad\x00name")

    def test_qualified_joins_quoted_parts(self) -> None:
        conn = PostgresConnector(ConnectionConfig.parse(BASE), conn=None)  # type: ignore[arg-type]
        assert conn.qualified("public", "my.table") == '"public"."my.table"'


def dsn_error(text: str) -> Exception:
    return Exception(f"{text} (dsn postgresql://reader:{PASSWORD}@db.internal/shop)")


CASES = [
    (ConnectionRefusedError(111, f"Connect call failed {PASSWORD}"), "CONNECTION_REFUSED"),
    (OSError(f"Multiple exceptions: Connection refused {PASSWORD}"), "CONNECTION_REFUSED"),
    (dsn_error("(2003, \"Can't connect to MySQL server\")"), "CONNECTION_REFUSED"),
    (TimeoutError(), "TIMEOUT"),
    (dsn_error("connection attempt timed out"), "TIMEOUT"),
    (socket.gaierror(-2, f"Name or service not known {PASSWORD}"), "HOST_NOT_FOUND"),
    (dsn_error("Temporary failure in name resolution"), "HOST_NOT_FOUND"),
    (asyncpg.InvalidPasswordError(f'password authentication failed for "{PASSWORD}"'),
     "AUTH_FAILED"),
    (asyncpg.InvalidAuthorizationSpecificationError('role "ghost" does not exist'),
     "AUTH_FAILED"),
    (dsn_error("(1045, \"Access denied for user 'reader'@'x'\")"), "AUTH_FAILED"),
    (asyncpg.InvalidCatalogNameError('database "nope" does not exist'), "DATABASE_NOT_FOUND"),
    (dsn_error("(1049, \"Unknown database 'nope'\")"), "DATABASE_NOT_FOUND"),
    (OSError(f"No route to host {PASSWORD}"), "NETWORK_ERROR"),
    (dsn_error("something odd happened"), "CONNECTION_FAILED"),
]


class TestClassify:
    @pytest.mark.parametrize(("exc", "code"), CASES, ids=[c for _, c in CASES])
    def test_maps_to_a_code(self, exc: BaseException, code: str) -> None:
        err = classify(exc, "db.internal")
        assert isinstance(err, UpstreamUnreachable)
        assert err.details == {"error_code": code}

    @pytest.mark.parametrize(("exc", "code"), CASES, ids=[c for _, c in CASES])
    def test_message_never_carries_the_password(self, exc: BaseException, code: str) -> None:
        err = classify(exc, "db.internal")
        assert PASSWORD not in err.message
        assert PASSWORD not in str(err.to_body())

    def test_message_names_the_host(self) -> None:
        assert "db.internal" in classify(ConnectionRefusedError(), "db.internal").message

    def test_unknown_failure_names_only_the_exception_class(self) -> None:
        err = classify(dsn_error("weird"), "db.internal")
        assert err.message == "could not connect to db.internal (Exception)"
