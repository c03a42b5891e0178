"""Reading `NNN_name.sql` migration files: numeric order, no gaps, no odd names."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from rampart_gateway.app import MIGRATIONS as GATEWAY_MIGRATIONS
from rampart_quality.app import MIGRATIONS as QUALITY_MIGRATIONS
from rampart_runtime.db import load_migrations


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, sql in files.items():
        (folder / name).write_text(sql, encoding="utf-8")
    return folder


class TestOrdering:
    def test_loads_in_version_order(self, tmp_path: Path) -> None:
        write(tmp_path, {"002_second.sql": "B", "001_first.sql": "A", "003_third.sql": "C"})
        found = load_migrations(tmp_path)
        assert [(m.version, m.name, m.sql) for m in found] == [
            (1, "first", "A"), (2, "second", "B"), (3, "third", "C")]

    def test_orders_numerically_not_alphabetically(self, tmp_path: Path) -> None:
        names = {f"{n:03d}_m{n}.sql": f"-- {n}" for n in range(1, 10)}
        names["0010_ten.sql"] = "-- 10"  # sorts before 002 as text
        found = load_migrations(write(tmp_path, names))
        assert [m.version for m in found] == list(range(1, 11))
        assert found[-1].name == "ten"

    def test_checksum_is_sha256_of_the_text(self, tmp_path: Path) -> None:
        write(tmp_path, {"001_a.sql": "CREATE TABLE a (x int);"})
        (migration,) = load_migrations(tmp_path)
        assert migration.checksum == hashlib.sha256(b"CREATE TABLE a (x int);").hexdigest()

    def test_empty_folder_has_no_migrations(self, tmp_path: Path) -> None:
        assert load_migrations(tmp_path) == []

    def test_other_files_are_ignored(self, tmp_path: Path) -> None:
        write(tmp_path, {"001_a.sql": "A", "README.md": "x", "001_a.sql.bak": "y"})
        assert [m.version for m in load_migrations(tmp_path)] == [1]


class TestRejects:
    def test_gap_in_numbering(self, tmp_path: Path) -> None:
        write(tmp_path, {"001_a.sql": "A", "003_c.sql": "C"})
        with pytest.raises(ValueError, match="without gaps"):
            load_migrations(tmp_path)

    def test_not_starting_at_one(self, tmp_path: Path) -> None:
        write(tmp_path, {"002_b.sql": "B"})
        with pytest.raises(ValueError, match="without gaps"):
            load_migrations(tmp_path)

    def test_duplicate_version(self, tmp_path: Path) -> None:
        write(tmp_path, {"001_a.sql": "A", "001_b.sql": "B"})
        with pytest.raises(ValueError):
            load_migrations(tmp_path)

    @pytest.mark.parametrize("name", ["1_short.sql", "01_short.sql", "001-dash.sql",
                                      "001_Upper.sql", "001_.sql", "abc_x.sql", "001_a b.sql"])
    def test_bad_file_name(self, tmp_path: Path, name: str) -> None:
        write(tmp_path, {"001_ok.sql": "A", name: "X"})
        with pytest.raises(ValueError, match=r"NNN_name\.sql"):
            load_migrations(tmp_path)


class TestShippedMigrations:
    @pytest.mark.parametrize("folder", [GATEWAY_MIGRATIONS, QUALITY_MIGRATIONS],
                             ids=["gateway", "quality"])
    def test_service_migrations_load(self, folder: Path) -> None:
        found = load_migrations(folder)
        assert found and [m.version for m in found] == list(range(1, len(found) + 1))
