"""What the core needs of the queue to the vision workers, as an interface: the gateway's
Celery dispatcher implements it, and so does the in-process one the dialect tests use
(workers/inprocess.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from shared.errors import FaceError
from shared.tasks import Chunk, ClusterRequest, ReembedChunk


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


@dataclass
class WebhookEntry:
    """A job's callback_url and how its delivery goes (services/recognition/webhooks.py)."""

    job_id: str
    app: int
    kind: str  # operation, ingest, cluster
    url: str
    created: float
    state: str = "watching"  # watching, retrying, delivered, failed
    attempts: int = 0
    last_status: int | None = None
    last_error: str = ""
    delivered_at: float | None = None


class WebhookOutbox(Protocol):
    """Where webhook entries wait, shared by every gateway (gateway/webhook_outbox.py)."""

    async def pending(self, app: int, now: float) -> int:
        """How many of the app's entries are not yet closed."""

    async def add(self, entry: WebhookEntry) -> None:
        """Keep the entry and make it due now."""

    async def get(self, job_id: str) -> WebhookEntry | None:
        """The job's entry (None: it has none, or it has expired)."""

    async def claim(self, now: float, count: int, lease_until: float) -> list[WebhookEntry]:
        """Up to `count` entries due by `now`, each due again at `lease_until` (so another
        gateway takes it over if this one dies), atomically across gateways."""

    async def reschedule(self, entry: WebhookEntry, at: float) -> None:
        """Save the entry and make it due at `at`."""

    async def defer(self, job_ids: list[str], at: float) -> None:
        """Make these claimed entries due at `at`, unchanged."""

    async def close(self, entry: WebhookEntry) -> None:
        """Save the entry's final state; it is no longer due."""


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

    def send_reembed_chunk(self, chunk: ReembedChunk) -> None:
        """Queue one chunk of a re-embedding (services/recognition/reembed.py)."""
