"""The bulk enrolment task's body: many images into one group, a chunk at a time through the
engine (so they share forward passes), each face written by the recognition core's enrolment
path (services.recognition.enrolment.enrol_embedded) with its idempotency key, so a task
redelivered after a crash, or a client's retry, enrols nothing twice."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from services.gallery.database import Gallery
from services.recognition import enrolment, vision
from shared import quality_gate
from shared.models import require_same_model
from shared.settings import Settings
from workers.engine import Engine


def enrol_items(engine: Engine, settings: Settings, request: dict,
                progress: Callable[[int, int], None]) -> list[dict]:
    """Runs in a worker thread: its own event loop and a small pool for this task."""
    return asyncio.run(_enrol_items(engine, settings, request, progress))


async def _enrol_items(engine: Engine, settings: Settings, request: dict,
                       progress: Callable[[int, int], None]) -> list[dict]:
    model = engine.embedder.spec
    app, group, items = request["app"], request["group"], request["items"]
    gate = quality_gate.is_on(settings)
    gallery = await Gallery.open(settings.database_url, settings.hnsw_min_faces, max_size=2,
                                 run_migrations=False)
    outcomes: list[dict] = []
    try:
        held = await gallery.groups.group(app, group)
        require_same_model(held.model, model.code, f"group {group}")
        for start in range(0, len(items), settings.batch_max):
            chunk = items[start:start + settings.batch_max]
            result = await asyncio.to_thread(engine.run, {"images": [
                vision.enrol_spec(item["data"], gate) for item in chunk]})
            for item, image in zip(chunk, result["images"], strict=True):
                outcomes.append(await enrolment.enrol_embedded(gallery, settings, app, group,
                                                               model, item, image))
            progress(len(outcomes), len(items))
        # A group that has grown large gets its HNSW index now, once, on the bulk queue.
        await asyncio.to_thread(gallery.indexes.build_pending)
    finally:
        await gallery.close()
    return outcomes
