"""Start the alerting service: `python -m rampart_alerting`."""

from __future__ import annotations

from rampart_runtime.service import ServiceRuntime, run_service

from .settings import AlertingSettings


def register(runtime: ServiceRuntime) -> None:
    """No consumers yet: the alerting handlers arrive with the alerting issue. The process,
    its schema, bus connection and health endpoints are in place for them."""


def main() -> None:
    settings = AlertingSettings()
    run_service("alerting", settings, settings.port, register)


if __name__ == "__main__":
    main()
