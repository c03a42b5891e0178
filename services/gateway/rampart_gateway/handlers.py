"""Event handlers of the gateway: the jobs read model follows `job_*` events."""

from __future__ import annotations

from rampart_contracts.envelope import Event
from rampart_contracts.events import JobCompleted, JobFailed, JobProgress, JobStarted
from rampart_runtime.service import ServiceRuntime

from .repository import GatewayRepository


async def on_job_event(runtime: ServiceRuntime, event: Event) -> None:
    """Apply one job event; a redelivered event is recognised by its message id."""
    async with runtime.uow() as uow:
        if not await uow.claim("jobs", event.message_id):
            return
        repo = GatewayRepository(uow.conn)
        common = {"org_id": event.org_id, "kind": event.type, "at": event.occurred_at,
                  "asset_id": event.asset_id}
        if isinstance(event, JobStarted):
            await repo.apply_job_event(job_id=event.job_id, workflow=event.workflow_name, **common)
        elif isinstance(event, JobProgress):
            await repo.apply_job_event(job_id=event.job_id, progress=event.progress,
                                       message=event.message, **common)
        elif isinstance(event, JobCompleted):
            await repo.apply_job_event(job_id=event.job_id, result=event.result, **common)
        elif isinstance(event, JobFailed):
            await repo.apply_job_event(job_id=event.job_id, error=event.error, **common)
        await uow.commit()


JOB_EVENTS = (JobStarted, JobProgress, JobCompleted, JobFailed)
