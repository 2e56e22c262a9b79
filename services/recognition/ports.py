"""What the core needs of the queue to the vision workers, as an interface: the gateway's
Celery dispatcher implements it, and so does the in-process one the dialect tests use
(workers/inprocess.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.errors import FaceError
from shared.tasks import Chunk, ClusterRequest


@dataclass
class JobState:
    job_id: str
    status: str  # queued, running, done, failed
    op: str
    options: dict
    created: float
    result: dict | None = None
    progress: dict | None = None
    error: FaceError | None = None  # why a job failed that never produced a result


class VisionQueue(Protocol):
    async def call(self, request: dict) -> dict:
        """Run a vision request (shared.canonical) and wait for its result; FaceError(kind)
        when the worker reported one, SYSTEM_BUSY when none came in time."""

    async def submit_job(self, op: str, options: dict, request: dict) -> str:
        """Queue a request as a job; its id. The job remembers `op` and `options`."""

    async def job(self, job_id: str) -> JobState:
        """A job's state (JOB_NOT_FOUND when unknown or expired)."""

    def send_chunk(self, chunk: Chunk) -> None:
        """Queue one ingestion chunk (services/recognition/ingest.py) for any worker."""

    def send_cluster_run(self, request: ClusterRequest) -> None:
        """Queue one clustering run (services/recognition/people.py) for any worker."""
