"""API key format, keyed hashing, sealed secrets, key derivation and bearer parsing."""

from __future__ import annotations

import pytest

from rampart_contracts.errors import Unauthorized
from rampart_gateway.auth import bearer_token
from rampart_gateway.domain import (
    display_key,
    generate_key,
    key_prefix,
    key_suffix,
    looks_like_key,
)
from rampart_runtime.secrets import MIN_SECRET_LEN, KeyHasher, SecretBox, derive_key

MASTER = "m" * 32
OTHER_MASTER = "o" * 40


class TestGenerateKey:
    def test_live_and_test_prefixes(self) -> None:
        assert generate_key().startswith("aa_live_")
        assert generate_key("live").startswith("aa_live_")
        assert generate_key("test").startswith("aa_test_")

    def test_forty_random_url_safe_characters_after_the_prefix(self) -> None:
        key = generate_key()
        body = key.removeprefix("aa_live_")
        assert len(body) == 40
        assert all(c.isalnum() or c in "-_" for c in body)

    def test_keys_are_random(self) -> None:
        keys = {generate_key() for _ in range(200)}
        assert len(keys) == 200

    def test_generated_keys_look_like_keys(self) -> None:
        assert looks_like_key(generate_key("live")) and looks_like_key(generate_key("test"))


class TestLooksLikeKey:
    @pytest.mark.parametrize("value", [
        "", "aa_live_", "aa_live_short", "aa_prod_" + "a" * 40, "bearer aa_live_" + "a" * 40,
        "aa_live_" + "a" * 65, "aa_live_" + "a" * 39 + "!", "AA_LIVE_" + "a" * 40,
        "aa_live_" + "a" * 39 + " ",
    ])
    def test_rejects_malformed_values(self, value: str) -> None:
        assert not looks_like_key(value)

    @pytest.mark.parametrize("value", ["aa_live_" + "a" * 32, "aa_test_" + "Z-_9" * 16])
    def test_accepts_the_documented_shape(self, value: str) -> None:
        assert looks_like_key(value)


class TestDisplay:
    def test_prefix_suffix_and_display(self) -> None:
        key = "aa_live_abcdefghijklmnopqrstuvwxyz0123456789WXYZ"
        assert key_prefix(key) == "aa_live_abcd"
        assert key_suffix(key) == "WXYZ"
        assert display_key(key_prefix(key), key_suffix(key)) == "aa_live_abcd...WXYZ"

    def test_display_hides_the_middle_of_the_key(self) -> None:
        key = generate_key()
        shown = display_key(key_prefix(key), key_suffix(key))
        assert key[12:-4] not in shown


class TestKeyHasher:
    def test_deterministic_for_one_master_secret(self) -> None:
        key = generate_key()
        assert KeyHasher(MASTER).hash(key) == KeyHasher(MASTER).hash(key)

    def test_differs_across_master_secrets(self) -> None:
        key = generate_key()
        assert KeyHasher(MASTER).hash(key) != KeyHasher(OTHER_MASTER).hash(key)

    def test_differs_across_keys_and_never_equals_the_key(self) -> None:
        hasher = KeyHasher(MASTER)
        a, b = generate_key(), generate_key()
        assert hasher.hash(a) != hasher.hash(b)
        assert hasher.hash(a) != a and a not in hasher.hash(a)
        assert len(hasher.hash(a)) == 64


class TestSecretBox:
    def test_round_trip(self) -> None:
        box = SecretBox(MASTER)
        token = box.seal(b"hunter2-password")
        assert b"hunter2-password" not in token
        assert box.open(token) == b"hunter2-password"

    def test_sealing_twice_gives_different_tokens(self) -> None:
        box = SecretBox(MASTER)
        assert box.seal(b"same") != box.seal(b"same")

    def test_tampered_token_is_rejected(self) -> None:
        box = SecretBox(MASTER)
        token = bytearray(box.seal(b"secret"))
        token[-5] = ord("A") if token[-5] != ord("A") else ord("B")
        with pytest.raises(ValueError, match="cannot be decrypted"):
            box.open(bytes(token))

    def test_wrong_master_secret_fails_with_value_error(self) -> None:
        token = SecretBox(MASTER).seal(b"secret")
        with pytest.raises(ValueError, match="RAMPART_SECRET_KEY"):
            SecretBox(OTHER_MASTER).open(token)


class TestDeriveKey:
    def test_rejects_short_master_secrets(self) -> None:
        with pytest.raises(ValueError, match=str(MIN_SECRET_LEN)):
            derive_key("x" * (MIN_SECRET_LEN - 1), "p")
        with pytest.raises(ValueError):
            SecretBox("short")
        with pytest.raises(ValueError):
            KeyHasher("")

    def test_one_key_per_purpose(self) -> None:
        a, b = derive_key(MASTER, "stored-secrets"), derive_key(MASTER, "api-key-hash")
        assert len(a) == len(b) == 32
        assert a != b
        assert derive_key(MASTER, "stored-secrets") == a


class TestBearerToken:
    def test_extracts_the_token(self) -> None:
        assert bearer_token("Bearer aa_live_x") == "aa_live_x"
        assert bearer_token("  bearer   aa_live_x  ") == "aa_live_x"

    @pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic abc",
                                        "aa_live_" + "a" * 40, "Token aa_live_x"])
    def test_rejects_missing_or_malformed_headers(self, header: str | None) -> None:
        with pytest.raises(Unauthorized) as caught:
            bearer_token(header)
        assert caught.value.http_status == 401
