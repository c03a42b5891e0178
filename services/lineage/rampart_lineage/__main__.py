"""Start the lineage service: `python -m rampart_lineage`."""

from __future__ import annotations

from rampart_runtime.service import ServiceRuntime, run_service

from .settings import LineageSettings


def register(runtime: ServiceRuntime) -> None:
    """No consumers yet: the lineage handlers arrive with the lineage issue. The process,
    its schema, bus connection and health endpoints are in place for them."""


def main() -> None:
    settings = LineageSettings()
    run_service("lineage", settings, settings.port, register)


if __name__ == "__main__":
    main()
