"""Start the investigator service: `python -m rampart_investigator`."""

from __future__ import annotations

from rampart_runtime.service import ServiceRuntime, run_service

from .settings import InvestigatorSettings


def register(runtime: ServiceRuntime) -> None:
    """No consumers yet: the investigator handlers arrive with the investigator issue. The process,
    its schema, bus connection and health endpoints are in place for them."""


def main() -> None:
    settings = InvestigatorSettings()
    run_service("investigator", settings, settings.port, register)


if __name__ == "__main__":
    main()
