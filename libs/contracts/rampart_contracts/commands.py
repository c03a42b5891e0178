"""Commands: imperatives published to `<prefix>.cmd.<service>.<verb>` (work-queue stream)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from .envelope import Command


class DiscoverAsset(Command):
    """Introspect a data source and refresh what Rampart knows of it."""

    SERVICE: ClassVar[str] = "quality"
    VERB: ClassVar[str] = "discover"
    type: Literal["discover_asset"] = "discover_asset"
    job_id: str = Field(description="Job the gateway created for this work")


from .lineage import LINEAGE_COMMANDS  # noqa: E402 - the catalog lists every service's commands

ALL_COMMANDS: tuple[type[Command], ...] = (DiscoverAsset, *LINEAGE_COMMANDS)
