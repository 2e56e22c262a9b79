"""The recognition core's VisionQueue without Redis or Celery: the real engine, in this process.

For tests of a dialect's contract (tests/contract/) and for experiments: requests run on a
thread (the engine batches across them as a worker does), jobs are asyncio tasks kept in
memory. It answers as the Celery dispatcher does (gateway/dispatch.py): a worker-side FaceError
is raised in the caller, any other failure is ENGINE. Not for production: nothing survives the
process, and the gateway's event loop shares the CPU with the models.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from services.gallery.database import Gallery
from services.recognition import ingest, people, reembed
from services.recognition.ports import JobState
from shared.errors import ERRORS, FaceError, job_not_found
from shared.results import ImageError, ImageResult
from shared.settings import Settings
from shared.tasks import Chunk, ClusterRequest, ReembedChunk
from workers.celery_app import answer_vision
from workers.engine import Engine
from workers.reembed import embedder_of


class InProcessQueue:
    def __init__(self, engine: Engine, settings: Settings,
                 gallery: Callable[[], Gallery | None] = lambda: None) -> None:
        self.engine = engine
        self.settings = settings
        self.gallery = gallery  # for ingestion chunks: the gateway's gallery, once it is open
        self._jobs: dict[str, tuple[JobState, asyncio.Task]] = {}
        self._chunks: set[asyncio.Task] = set()

    def _run(self, request: dict) -> dict:
        result = answer_vision(self.engine, request)  # what the Celery task would return
        if "error" in result:
            raise FaceError.from_dict(result["error"])
        return result

    async def call(self, request: dict) -> dict:
        return await asyncio.to_thread(self._run, request)

    async def submit_job(self, op: str, options: dict, request: dict) -> str:
        job_id = str(uuid.uuid4())
        state = JobState(job_id, "queued", op, options, time.time())
        self._jobs[job_id] = (state, asyncio.create_task(self._job(state, request)))
        return job_id

    def send_chunk(self, chunk: Chunk) -> None:
        """Runs the chunk as an asyncio task of this loop, as a worker would."""
        self._spawn(lambda gallery: ingest.run_chunk(
            gallery, self.settings, self.engine.embedder.spec, self._analyse, chunk,
            self.send_chunk))

    def send_cluster_run(self, request: ClusterRequest) -> None:
        """Runs the clustering as an asyncio task of this loop, as a worker would."""
        self._spawn(lambda gallery: people.run(gallery, request))

    def send_reembed_chunk(self, chunk: ReembedChunk) -> None:
        """Runs the re-embedding chunk as an asyncio task of this loop, as a worker would."""
        self._spawn(lambda gallery: reembed.run_chunk(gallery, embedder_of(self.engine), chunk))

    def _spawn(self, work: Callable[[Gallery], Coroutine[Any, Any, Any]]) -> None:
        gallery = self.gallery()
        if gallery is None:
            raise FaceError(ERRORS.SERVICE_ACCESS, "no database configured")
        task = asyncio.create_task(work(gallery))
        self._chunks.add(task)  # the loop keeps only weak references to tasks
        task.add_done_callback(self._chunks.discard)

    async def _analyse(self, specs: list[dict], model: str | None = None
                       ) -> list[ImageResult | ImageError]:
        return (await asyncio.to_thread(self.engine.run,
                                        {"images": specs, "model": model})).images

    async def _job(self, state: JobState, request: dict) -> None:
        state.status = "running"
        try:
            state.result = await self.call(request)
        except FaceError as exc:
            state.result = {"error": exc.to_dict()}
        state.status = "done"

    async def job(self, job_id: str) -> JobState:
        if job_id not in self._jobs:
            raise job_not_found(job_id)
        state = self._jobs[job_id][0]
        if state.status == "done" and "error" in state.result:
            raise FaceError.from_dict(state.result["error"])
        return state
