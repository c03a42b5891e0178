"""How an asset reference is read: UUID, UUID prefix, qualified name, or nothing."""

from __future__ import annotations

import pytest

from rampart_quality.domain.refs import AssetRef, like_escape, parse_ref, qualified_name

UUID = "28f1942b-5d1c-4a3e-9f00-0123456789ab"


class TestUuids:
    def test_full_uuid(self) -> None:
        assert parse_ref(UUID) == AssetRef("uuid", UUID)

    def test_uppercase_uuid_is_normalised(self) -> None:
        assert parse_ref(UUID.upper()) == AssetRef("uuid", UUID)

    def test_surrounding_whitespace_is_ignored(self) -> None:
        assert parse_ref(f"  {UUID}\n") == AssetRef("uuid", UUID)


class TestPrefixes:
    @pytest.mark.parametrize("ref", ["28f1942b", "28F1942B", "28f1", "28f1942b-5d1c",
                                     "28f1942b-5d1c-4a"])
    def test_short_prefix(self, ref: str) -> None:
        assert parse_ref(ref) == AssetRef("prefix", ref.lower())

    @pytest.mark.parametrize("ref", ["28f", "a", "zzzz1234", "28f1942g", "-28f1942b"])
    def test_too_short_or_not_hex_is_nothing(self, ref: str) -> None:
        assert parse_ref(ref) is None


class TestQualifiedNames:
    def test_asset_name(self) -> None:
        assert parse_ref("postgresql.analytics") == AssetRef("name", "postgresql.analytics")

    def test_source_is_lowercased_database_keeps_its_case(self) -> None:
        assert parse_ref("PostgreSQL.Analytics") == AssetRef("name", "postgresql.Analytics")

    def test_table_name_points_at_its_asset(self) -> None:
        assert parse_ref("snowflake.prod.warehouse.orders") == AssetRef(
            "name", "snowflake.prod", table_path="warehouse.orders")

    def test_three_parts_name_a_table_without_schema(self) -> None:
        assert parse_ref("mysql.shop.orders") == AssetRef("name", "mysql.shop",
                                                          table_path="orders")

    def test_more_than_four_parts_is_nothing(self) -> None:
        assert parse_ref("a.b.c.d.e") is None

    @pytest.mark.parametrize("ref", ["postgresql.", ".analytics", "a..b", "postgresql.my db",
                                     "postgresql.a;b"])
    def test_empty_or_odd_parts_are_nothing(self, ref: str) -> None:
        assert parse_ref(ref) is None


class TestHostileInput:
    @pytest.mark.parametrize("ref", ["x'; DROP TABLE--", "a/b", "", "   ", "../etc/passwd",
                                     "postgresql.x'; DROP TABLE assets--", "%", "28f1%",
                                     "a" * 501, "postgresql." + "a" * 600])
    def test_is_nothing(self, ref: str) -> None:
        assert parse_ref(ref) is None


class TestHelpers:
    def test_like_escape_makes_wildcards_literal(self) -> None:
        assert like_escape("50%_off") == "50\\%\\_off"
        assert like_escape("a\\b") == "a\\\\b"
        assert like_escape("plain") == "plain"

    def test_qualified_name(self) -> None:
        assert qualified_name("mysql", "shop") == "mysql.shop"
