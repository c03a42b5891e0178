"""A failed message's fate (retry delay or dead letter) and credential scrubbing in logs."""

from __future__ import annotations

import pytest

from rampart_contracts.errors import (
    AssetNotFound,
    RateLimited,
    ServiceUnavailable,
    UpstreamUnreachable,
    ValidationFailed,
)
from rampart_contracts.streams import BACKOFF_S, MAX_DELIVER
from rampart_runtime.bus import retry_delay, should_dead_letter
from rampart_runtime.logging import _redact, scrub


class TestShouldDeadLetter:
    @pytest.mark.parametrize("exc", [ValidationFailed("bad"), AssetNotFound()])
    def test_non_retryable_rampart_error_goes_at_once(self, exc: Exception) -> None:
        assert should_dead_letter(exc, attempt=1)

    @pytest.mark.parametrize("exc", [ServiceUnavailable(), UpstreamUnreachable(),
                                     RateLimited(3), RuntimeError("db down"), KeyError("x")])
    def test_retryable_or_unknown_failure_is_retried_until_the_last_delivery(
        self, exc: Exception
    ) -> None:
        assert not any(should_dead_letter(exc, a) for a in range(1, MAX_DELIVER))
        assert should_dead_letter(exc, MAX_DELIVER)
        assert should_dead_letter(exc, MAX_DELIVER + 3)

    def test_custom_max_deliver(self) -> None:
        assert not should_dead_letter(RuntimeError(), 2, max_deliver=3)
        assert should_dead_letter(RuntimeError(), 3, max_deliver=3)


class TestRetryDelay:
    def test_follows_the_backoff_table(self) -> None:
        assert [retry_delay(a) for a in range(1, len(BACKOFF_S) + 1)] == list(BACKOFF_S)

    def test_delays_grow(self) -> None:
        delays = [retry_delay(a) for a in range(1, 10)]
        assert delays == sorted(delays) and delays[0] < delays[-1]

    def test_clamped_at_both_ends(self) -> None:
        assert retry_delay(0) == retry_delay(-5) == BACKOFF_S[0]
        assert retry_delay(100) == BACKOFF_S[-1]


class TestScrub:
    def test_masks_dsn_passwords(self) -> None:
        text = "connect postgresql://bob:hunter2@db:5432/shop failed"
        assert scrub(text) == "connect postgresql://bob:***@db:5432/shop failed"

    def test_masks_passwords_with_special_characters(self) -> None:
        out = scrub("mysql://root:p%40ss:w0rd!@127.0.0.1/x")
        assert "w0rd" not in out and "p%40ss" not in out and "root:***@" in out

    def test_leaves_dsn_without_password_alone(self) -> None:
        assert scrub("postgresql://postgres@127.0.0.1:5432/db") == \
            "postgresql://postgres@127.0.0.1:5432/db"

    def test_masks_api_keys(self) -> None:
        key = "aa_live_" + "Ab3_" * 10
        assert scrub(f"auth with {key} ok") == "auth with aa_live_*** ok"
        assert scrub("aa_test_abcdefgh12345") == "aa_test_***"

    def test_masks_secret_named_dict_keys_recursively(self) -> None:
        value = {"password": "pw", "nested": {"api_key": "k", "Authorization": "Bearer x",
                                              "host": "db"},
                 "items": [{"secret_key": "s"}, "postgresql://u:pw2@h/d"], "name": "n"}
        assert scrub(value) == {
            "password": "***",
            "nested": {"api_key": "***", "Authorization": "***", "host": "db"},
            "items": [{"secret_key": "***"}, "postgresql://u:***@h/d"],
            "name": "n",
        }

    def test_other_values_pass_through(self) -> None:
        assert scrub(42) == 42 and scrub(None) is None and scrub("plain text") == "plain text"


class TestRedactProcessor:
    def test_masks_secret_named_fields_but_keeps_ids(self) -> None:
        event = {"event": "connect with password", "password": "pw", "dsn": "x",
                 "token_id": "t-1", "error": "postgresql://u:pw@h/d refused"}
        out = _redact(None, "info", dict(event))
        assert out["event"] == "connect with password"
        assert out["password"] == out["dsn"] == "***"
        assert out["token_id"] == "t-1"
        assert out["error"] == "postgresql://u:***@h/d refused"
