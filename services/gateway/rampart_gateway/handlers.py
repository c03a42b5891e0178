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
        if not isinstance(event, JobStarted | JobProgress | JobCompleted | JobFailed):
            return
        await repo.apply_job_event(
            org_id=event.org_id, job_id=event.job_id, kind=event.type, at=event.occurred_at,
            asset_id=event.asset_id,
            workflow=event.workflow_name if isinstance(event, JobStarted) else None,
            progress=event.progress if isinstance(event, JobProgress) else None,
            message=event.message if isinstance(event, JobProgress) else None,
            result=event.result if isinstance(event, JobCompleted) else None,
            error=event.error if isinstance(event, JobFailed) else None,
        )
        await uow.commit()


JOB_EVENTS = (JobStarted, JobProgress, JobCompleted, JobFailed)
