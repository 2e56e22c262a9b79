"""The bodies of the worker's gallery tasks: an ingestion chunk
(services.recognition.ingest.run_chunk) and a clustering run (services.recognition.people.run).

The worker's task threads are synchronous; the gallery is asyncio (psycopg's async pool). One
event loop on its own thread serves every such task of the process, with one small pool
opened on first use, instead of a loop and a pool per task. A chunk's images go through the
process's engine at bulk priority (workers/batching.py): interactive requests on the same
worker are batched first.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import threading
from collections.abc import Callable

from services.gallery.database import Gallery
from services.recognition import ingest, people, reembed
from shared.errors import FaceError
from shared.results import ImageError, ImageResult
from shared.settings import Settings
from shared.tasks import Chunk, ClusterRequest, ReembedChunk
from workers.batching import bulk_priority
from workers.engine import Engine
from workers.reembed import embedder_of

log = logging.getLogger("facegate.worker")
GALLERY_CONNECTIONS = 4


class GalleryTasks:
    def __init__(self, settings: Settings, engine: Callable[[], Engine]) -> None:
        self.settings = settings
        self.engine = engine
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gallery: Gallery | None = None
        self._lock = threading.Lock()

    def _start(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="ingest-loop",
                                 daemon=True).start()
                self._loop = loop
            return self._loop

    async def _open(self) -> Gallery:
        if self._gallery is None:  # only this loop's thread gets here: no race
            self._gallery = await Gallery.for_settings(self.settings, GALLERY_CONNECTIONS,
                                                       run_migrations=False)
        return self._gallery

    def run(self, chunk: Chunk, send: Callable[[Chunk], None],
            abandoned: FaceError | None = None) -> dict:
        """Blocks the task thread until the chunk is done; a summary for the task result.
        `abandoned`: the chunk's workers died too often, its items fail with this error."""
        return asyncio.run_coroutine_threadsafe(self._run(chunk, send, abandoned),
                                                self._start()).result()

    def cluster(self, request: ClusterRequest, abandoned: FaceError | None = None) -> dict:
        """Blocks the task thread until the clustering run is done (or, `abandoned`, failed
        with that error); a summary."""
        return asyncio.run_coroutine_threadsafe(self._cluster(request, abandoned),
                                                self._start()).result()

    async def _cluster(self, request: ClusterRequest, abandoned: FaceError | None) -> dict:
        if abandoned is not None:
            await people.abandon(await self._open(), request, abandoned)
            return {"job_id": request.run_id, "state": "failed"}
        run = await people.run(await self._open(), request)
        if run is None:
            return {"job_id": request.run_id, "state": "ended"}
        return {"job_id": run.id, "state": run.state, "clusters": run.clusters}

    def reembed(self, request: ReembedChunk, abandoned: FaceError | None = None) -> dict:
        """Blocks the task thread until the re-embedding chunk is done (or, `abandoned`, its
        job failed); a summary."""
        return asyncio.run_coroutine_threadsafe(self._reembed(request, abandoned),
                                                self._start()).result()

    async def _reembed(self, request: ReembedChunk, abandoned: FaceError | None) -> dict:
        job = await reembed.run_chunk(await self._open(), embedder_of(self.engine()), request,
                                      abandoned)
        if job is None:
            return {"job_id": request.job_id, "state": "ended"}
        return {"job_id": job.id, "state": job.state, "done": job.done, "total": job.total}

    async def _run(self, chunk: Chunk, send: Callable[[Chunk], None],
                   abandoned: FaceError | None) -> dict:
        gallery = await self._open()
        engine = self.engine()

        def analyse_now(specs: list[dict], model: str | None) -> list[ImageResult | ImageError]:
            with bulk_priority():
                return engine.run({"images": specs, "model": model}).images

        async def analyse(specs: list[dict], model: str | None = None
                          ) -> list[ImageResult | ImageError]:
            # Slices no larger than a bulk pass (so a pass never grows past it), all queued at
            # once (so the batchers always have the next slice waiting).
            step = engine.bulk_batch
            parts = await asyncio.gather(*(asyncio.to_thread(analyse_now, specs[i:i + step],
                                                             model)
                                           for i in range(0, len(specs), step)))
            return [image for part in parts for image in part]

        # Which worker holds which chunk, for an operator reading logs (and the deployment
        # test, which kills a worker holding one).
        fields = {"job_id": chunk.job_id, "items": f"{chunk.start}-{chunk.stop}"}
        log.info("ingestion chunk taken", extra={"fields": fields})
        job = await ingest.run_chunk(gallery, self.settings, engine.embedder.spec, analyse,
                                     chunk, send,
                                     f"{socket.gethostname()}:{os.getpid()}", abandoned)
        log.info("ingestion chunk done", extra={"fields": fields})
        if job is None:
            return {"job_id": chunk.job_id, "state": "ended"}
        return {"job_id": job.id, "state": job.state, "done": job.done, "total": job.total}
