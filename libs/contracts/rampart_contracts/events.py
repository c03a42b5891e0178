"""Events: facts published to `<prefix>.evt.<event_type>` (limits-retention stream).

The event type names are the public vocabulary: they appear unchanged in payloads and in
alerts' `event_type`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from .envelope import Event

JobStatus = Literal["pending", "running", "completed", "failed"]


class JobStarted(Event):
    """A long-running job began (emitted by the service doing the work)."""

    type: Literal["job_started"] = "job_started"
    job_id: str = Field(description="Public id of the job (GET /sdk/jobs/{job_id})")
    workflow_name: str = Field(description="What kind of work, e.g. `asset_discovery`")


class JobProgress(Event):
    """A job reports how far it got."""

    type: Literal["job_progress"] = "job_progress"
    job_id: str = Field(description="Public id of the job (GET /sdk/jobs/{job_id})")
    progress: int = Field(ge=0, le=100, description="Percent done")
    message: str | None = None


class JobCompleted(Event):
    """A job finished successfully; `result` holds its outcome."""

    type: Literal["job_completed"] = "job_completed"
    job_id: str = Field(description="Public id of the job (GET /sdk/jobs/{job_id})")
    result: dict[str, Any] = Field(default_factory=dict)


class JobFailed(Event):
    """A job ended without a result; `error` says why."""

    type: Literal["job_failed"] = "job_failed"
    job_id: str = Field(description="Public id of the job (GET /sdk/jobs/{job_id})")
    error: str = Field(description="Human-readable reason; never a secret")
    error_code: str = Field("INTERNAL_ERROR", description="Code of the error tree, e.g. VALIDATION_ERROR")
    details: dict[str, Any] = Field(default_factory=dict)


class AssetDiscovered(Event):
    """Discovery of a data source finished and its counts were recorded."""

    type: Literal["asset_discovered"] = "asset_discovered"
    table_count: int
    total_size_bytes: int | None = None


class SchemaChange(Event):
    """A table or column changed against the baseline (quality service)."""

    type: Literal["schema_change"] = "schema_change"
    qualified_name: str = Field(description="Table the change was seen on")
    change_type: str = Field(description="table_added, column_removed, type_changed, …")
    column_name: str | None = None
    before: Any = None
    after: Any = None
    severity: Literal["info", "warning", "critical"] = "info"
    change_id: str = Field(description="Public id of the stored change")


class FreshnessStale(Event):
    """A table was not updated within its freshness threshold."""

    type: Literal["freshness_stale"] = "freshness_stale"
    qualified_name: str
    last_updated: datetime | None = None
    hours_since_update: float | None = None
    threshold_hours: float


class FreshnessRecovered(Event):
    """A stale table was updated again."""

    type: Literal["freshness_recovered"] = "freshness_recovered"
    qualified_name: str
    last_updated: datetime | None = None


class MetricAnomaly(Event):
    """A metric snapshot fell outside its expected range."""

    type: Literal["metric_anomaly"] = "metric_anomaly"
    qualified_name: str
    metric_id: str
    snapshot_id: int
    metric_type: str
    column_name: str | None = None
    value: float | None = None
    expected_low: float | None = None
    expected_high: float | None = None
    score: float | None = None


class ValidityFailed(Event):
    """A validity rule found invalid rows."""

    type: Literal["validity_failed"] = "validity_failed"
    qualified_name: str
    rule_id: str
    result_id: int
    column_name: str | None = None
    invalid_count: int
    total_count: int


class ReferentialFailed(Event):
    """A referential check found orphaned rows."""

    type: Literal["referential_failed"] = "referential_failed"
    qualified_name: str
    check_id: str
    result_id: int
    orphan_count: int


class CheckRecovered(Event):
    """A metric, validity or referential check passes again after failing."""

    type: Literal["check_recovered"] = "check_recovered"
    qualified_name: str
    check_kind: Literal["metric", "validity", "referential"]
    check_id: str


class LineageUpdated(Event):
    """Lineage nodes or edges of one source changed."""

    type: Literal["lineage_updated"] = "lineage_updated"
    source: Literal["dbt", "manual", "openlineage"]
    nodes_changed: int = 0
    edges_changed: int = 0


class AlertTriggered(Event):
    """An alert rule matched an event and an alert was opened or repeated."""

    type: Literal["alert_triggered"] = "alert_triggered"
    alert_id: str
    rule_id: str
    event_type: str
    severity: str
    qualified_name: str | None = None


class AlertResolved(Event):
    """An alert was resolved (by a person or by recovery)."""

    type: Literal["alert_resolved"] = "alert_resolved"
    alert_id: str
    reason: str


class InvestigationCompleted(Event):
    """An investigation produced its evidence capsule."""

    type: Literal["investigation_completed"] = "investigation_completed"
    investigation_id: str
    alert_id: str | None = None


ALL_EVENTS: tuple[type[Event], ...] = (
    JobStarted,
    JobProgress,
    JobCompleted,
    JobFailed,
    AssetDiscovered,
    SchemaChange,
    FreshnessStale,
    FreshnessRecovered,
    MetricAnomaly,
    ValidityFailed,
    ReferentialFailed,
    CheckRecovered,
    LineageUpdated,
    AlertTriggered,
    AlertResolved,
    InvestigationCompleted,
)

JOB_EVENT_TYPES = ("job_started", "job_progress", "job_completed", "job_failed")


def event_type_of(cls: type[Event]) -> str:
    """The `type` literal of an event class (its subject suffix)."""
    return str(cls.model_fields["type"].default)
