"""Start the investigator service: `python -m rampart_investigator`."""

from __future__ import annotations

from rampart_runtime.service import ServiceRuntime, run_service

from .settings import InvestigatorSettings


def register(runtime: ServiceRuntime) -> None:
    """No consumers yet: the investigator handlers arrive with the investigator issue; the process, its schema,
    bus connection and health endpoints are in place so they can be added without plumbing."""


def main() -> None:
    settings = InvestigatorSettings()
    run_service("investigator", settings, settings.port, register)


if __name__ == "__main__":
    main()
