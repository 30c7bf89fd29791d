"""Background-job status for the UI: ``GET /api/jobs/{id}`` returns a job's status and progress as JSON.

The job's arguments are left out (they may name patients). Mount with ``app.include_router(router)``;
the router reads through the process's pool (:func:`senhealth.core.db.get_pool`), which the application's
lifespan opens. Access control is not applied here yet: it comes with the authentication layer.

- FastAPI routers: https://fastapi.tiangolo.com/tutorial/bigger-applications/
- procrastinate job states: https://procrastinate.readthedocs.io/en/stable/reference.html#procrastinate.jobs.Status
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse

from senhealth.core.queue import get_job

__all__ = ["router"]

router = APIRouter(prefix="/api/jobs", tags=["jobs"])


@router.get("/{job_id}", response_class=JSONResponse)
async def job_status(job_id: int) -> dict[str, Any]:
    """Status, attempts, times and progress of job ``job_id``; 404 when there is no such job."""
    if not 0 < job_id < 2**63:
        raise HTTPException(status_code=404, detail="Không có việc này / no such job")
    job = await get_job(job_id)
    if job is None:
        raise HTTPException(status_code=404, detail="Không có việc này / no such job")
    return job.to_json()
