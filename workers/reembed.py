"""A re-embedding's model work on a worker (services/recognition/reembed.py): stored face
regions through the process's engine with the job's embedder, at bulk priority."""

from __future__ import annotations

import asyncio

import numpy as np

from shared import canonical
from shared.results import ImageResult
from shared.tasks import image_spec
from workers.batching import bulk_priority
from workers.engine import Engine


def region_spec(region: bytes) -> dict:
    """A stored region as the pipeline reads it: its subject face, detected again, embedded.
    Upright already (it was cut from the upright view), so no rotation search."""
    return image_spec(region, canonical.LARGEST, embed=True)


def embedder_of(engine: Engine):
    """services.recognition.reembed.EmbedRegions over `engine`: slices no larger than a bulk
    pass, all queued at once, as an ingestion chunk's images are (workers/ingest.py)."""

    def now(regions: list[bytes], model: str) -> list:
        with bulk_priority():
            return engine.run({"images": [region_spec(r) for r in regions],
                               "model": model}).images

    async def embed(regions: list[bytes], model: str) -> list[np.ndarray | None]:
        step = engine.bulk_batch
        parts = await asyncio.gather(*(asyncio.to_thread(now, regions[i:i + step], model)
                                       for i in range(0, len(regions), step)))
        return [image.faces[0].embedding
                if isinstance(image, ImageResult) and image.faces else None
                for part in parts for image in part]

    return embed
