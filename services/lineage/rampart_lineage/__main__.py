"""Start the lineage service: `python -m rampart_lineage`."""

from __future__ import annotations

from rampart_runtime.service import ServiceRuntime, run_service

from .app import MIGRATIONS, register
from .settings import LineageSettings


def main() -> None:
    settings = LineageSettings()

    def setup(runtime: ServiceRuntime) -> None:
        register(runtime, settings)

    run_service("lineage", settings, settings.port, setup, MIGRATIONS)


if __name__ == "__main__":
    main()
