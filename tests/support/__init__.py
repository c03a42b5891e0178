"""Helpers shared by the test suites (import as `support.infra`; `tests/` is on sys.path)."""
