"""Start the gateway: `python -m rampart_gateway`."""

from __future__ import annotations

from rampart_runtime.logging import configure_logging
from rampart_runtime.service import ServiceRuntime, run_loop, serve
from rampart_runtime.telemetry import configure_tracing

from .app import MIGRATIONS, bind_storage, build_app
from .settings import GatewaySettings


def main() -> None:
    settings = GatewaySettings()
    configure_logging("gateway", settings.log_level, settings.log_json)
    configure_tracing("gateway", settings.otel_exporter)
    runtime = ServiceRuntime("gateway", settings, migrations=MIGRATIONS)
    app = build_app(settings, runtime)

    async def setup(rt: ServiceRuntime) -> None:
        bind_storage(app, settings, rt)

    run_loop(serve(runtime, settings.port, setup, app))


if __name__ == "__main__":
    main()
