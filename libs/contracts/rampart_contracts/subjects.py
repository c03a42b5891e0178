"""Subject and stream names; the prefix lets tests run isolated beside a live stack."""

from __future__ import annotations

from dataclasses import dataclass

SERVICES = ("gateway", "lineage", "quality", "alerting", "investigator")


@dataclass(frozen=True)
class Subjects:
    """All names on the bus for one deployment (`prefix` is `rampart` outside tests)."""

    prefix: str = "rampart"

    def command(self, service: str, verb: str) -> str:
        return f"{self.prefix}.cmd.{service}.{verb}"

    def commands_of(self, service: str) -> str:
        return f"{self.prefix}.cmd.{service}.>"

    def event(self, event_type: str) -> str:
        return f"{self.prefix}.evt.{event_type}"

    @property
    def all_events(self) -> str:
        return f"{self.prefix}.evt.>"

    def query(self, service: str, name: str) -> str:
        """Core-NATS request/reply subject (not stored in a stream)."""
        return f"{self.prefix}.qry.{service}.{name}"

    def dead_letter(self, service: str) -> str:
        return f"{self.prefix}.dlq.{service}"

    @property
    def key_revoked(self) -> str:
        """Broadcast to every gateway replica so cached keys die at once."""
        return f"{self.prefix}.bcast.gateway.key_revoked"

    def upload(self, blob_id: str) -> str:
        """Chunks of one uploaded file (a manifest) on their way to the service that reads it."""
        return f"{self.prefix}.upl.{blob_id}"

    @property
    def uploads_stream(self) -> str:
        return f"{self.prefix.upper()}_UPLOADS"

    @property
    def commands_stream(self) -> str:
        return f"{self.prefix.upper()}_COMMANDS"

    @property
    def events_stream(self) -> str:
        return f"{self.prefix.upper()}_EVENTS"

    @property
    def dead_letter_stream(self) -> str:
        return f"{self.prefix.upper()}_DLQ"

    def durable(self, service: str, purpose: str = "main") -> str:
        return f"{self.prefix}-{service}-{purpose}"
