"""Start the quality service: `python -m rampart_quality`."""

from __future__ import annotations

from rampart_runtime.service import ServiceRuntime, run_service

from .app import MIGRATIONS, register
from .settings import QualitySettings


def main() -> None:
    settings = QualitySettings()

    def setup(runtime: ServiceRuntime) -> None:
        register(runtime, settings)

    run_service("quality", settings, settings.port, setup, MIGRATIONS)


if __name__ == "__main__":
    main()
