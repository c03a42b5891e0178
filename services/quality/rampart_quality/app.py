"""Composition root of the quality service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from pathlib import Path
from typing import Any

from rampart_contracts.commands import DiscoverAsset
from rampart_contracts.queries import (
    CreateAsset,
    GetAsset,
    ListAssets,
    LookupCatalog,
    TestConnection,
)
from rampart_runtime.secrets import SecretBox
from rampart_runtime.service import ServiceRuntime

from . import handlers
from .settings import QualitySettings

MIGRATIONS = Path(__file__).parent / "migrations"



def register(runtime: ServiceRuntime, settings: QualitySettings) -> handlers.QualityDeps:
    """Bind every handler of the service to the bus."""
    deps = handlers.QualityDeps(runtime=runtime, box=SecretBox(settings.secret_key))
    bus = runtime.bus

    def bind(fn: Callable[..., Awaitable[Any]]) -> Callable[[Any], Awaitable[Any]]:
        return partial(fn, deps)

    bus.query_handler(CreateAsset, bind(handlers.create_asset))
    bus.query_handler(GetAsset, bind(handlers.get_asset))
    bus.query_handler(ListAssets, bind(handlers.list_assets))
    bus.query_handler(TestConnection, bind(handlers.test_connection))
    bus.query_handler(LookupCatalog, bind(handlers.lookup_catalog))
    bus.command_consumer(DiscoverAsset, bind(handlers.discover_asset))
    return deps
