"""Start the quality service: `python -m rampart_quality`."""

from __future__ import annotations

from rampart_runtime.service import run_service

from .app import MIGRATIONS, register
from .settings import QualitySettings


def main() -> None:
    settings = QualitySettings()  # type: ignore[call-arg]
    run_service("quality", settings, settings.port, lambda rt: register(rt, settings), MIGRATIONS)


if __name__ == "__main__":
    main()
