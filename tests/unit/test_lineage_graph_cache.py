"""The lineage graph cache: served only at the version it was built at, bounded in size."""

from __future__ import annotations

import uuid

from rampart_lineage.graph_cache import GraphCache


def _key(n: int = 0) -> tuple[str, uuid.UUID, int, str]:
    return ("org", uuid.UUID(int=n), 5, "both")


def test_an_answer_is_served_at_the_version_it_was_built_at() -> None:
    cache = GraphCache()
    cache.put(_key(), 7, b"graph")
    assert cache.get(_key(), 7) == b"graph"
    assert cache.hits == 1


def test_a_newer_version_misses_so_a_changed_graph_is_never_served_stale() -> None:
    cache = GraphCache()
    cache.put(_key(), 7, b"graph")
    assert cache.get(_key(), 8) is None
    assert cache.misses == 1


def test_the_least_recently_used_answers_go_first_when_full() -> None:
    cache = GraphCache(max_bytes=40)
    for n in range(4):
        cache.put(_key(n), 1, b"x" * 10)
    assert cache.get(_key(0), 1) is not None  # touched: now the most recent
    cache.put(_key(9), 1, b"y" * 10)
    assert cache.get(_key(1), 1) is None
    assert cache.get(_key(0), 1) is not None
    assert cache.get(_key(9), 1) == b"y" * 10


def test_an_answer_larger_than_a_quarter_of_the_cache_is_not_kept() -> None:
    cache = GraphCache(max_bytes=40)
    cache.put(_key(), 1, b"z" * 11)
    assert cache.get(_key(), 1) is None
