"""A VisionQueue that answers from a table instead of running models: a test says which faces
a photo holds (`photo`), and every request naming those bytes gets them back in the worker's
result form. For the core's rules in the fast ring (workers/inprocess.py runs the real models,
too slow there).

`vision_result` is the one place that form is written, so a change to the worker's contract
(shared/results.py) is a change here only.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import numpy as np

from services.recognition.ports import JobState
from shared.canonical import LARGEST
from shared.errors import ERRORS, FaceError, job_not_found
from shared.models import FACENET, ModelSpec
from shared.results import ImageError, ImageResult, VisionResult
from shared.tasks import Chunk, ClusterRequest, ReembedChunk


@dataclass
class SeenFace:
    """A face the fake engine finds in a photo: what a worker would report of it."""

    embedding: np.ndarray
    box: tuple[int, int, int, int] = (40, 40, 120, 150)  # x, y, width, height
    prob: float = 0.99
    thumbnail: bytes | None = None
    analysis: dict | None = None  # the fields a gated enrolment reads (quality, pose)


def vision_result(model: int, images: list[list[SeenFace] | FaceError],
                  specs: list[dict] | None = None, width: int = 640, height: int = 480) -> dict:
    """A worker's result as it crosses the queue: per image its faces (the subject first) or
    the error it reported for that image; with the request's image specs, only what each
    asked for (the embedding with `embed`, the analysis fields it named), as a worker does."""
    out: list[dict] = []
    for index, image in enumerate(images):
        if isinstance(image, FaceError):
            out.append({"error": image.to_dict()})
            continue
        spec = specs[index] if specs is not None else {"embed": True, "thumbnail": 1}
        asked = set(spec.get("analyse", ())) if specs is not None else None
        out.append({"width": width, "height": height, "rotation": 0, "faces": [
            {"box": list(face.box), "prob": face.prob,
             "points": [[face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2]] * 5,
             **({"embedding": np.asarray(face.embedding, "<f4").tobytes()}
                if spec.get("embed") else {}),
             **({"thumbnail": face.thumbnail}
                if face.thumbnail is not None and spec.get("thumbnail") else {}),
             **({"analysis": {k: v for k, v in face.analysis.items()
                              if asked is None or k in asked}}
                if face.analysis is not None else {})}
            for face in image]})
    return {"model": model, "images": out}


class FakeVisionQueue:
    """services.recognition.ports.VisionQueue without workers. Chunks and clustering runs are
    kept in `chunks` and `cluster_runs` for the test to run (as a worker would take them from
    the broker); `calls` holds every request made."""

    def __init__(self, model: ModelSpec = FACENET) -> None:
        self.model = model
        self.photos: dict[bytes, list[SeenFace]] = {}
        self.calls: list[dict] = []
        self.chunks: list[Chunk] = []
        self.cluster_runs: list[ClusterRequest] = []
        self.reembed_chunks: list[ReembedChunk] = []
        self._jobs: dict[str, JobState] = {}

    def photo(self, data: bytes, *faces: SeenFace) -> bytes:
        """Teach the engine what `data` shows (no face at all when none is given)."""
        self.photos[data] = list(faces)
        return data

    def answer(self, specs: list[dict]) -> dict:
        """What a worker returns for these image specs (shared.tasks.image_spec)."""
        images: list[list[SeenFace] | FaceError] = []
        for spec in specs:
            faces = self.photos.get(spec["data"])
            if faces is None:
                images.append(FaceError(ERRORS.IMAGE_DECODE, "not a photo this fake knows"))
            else:
                images.append(faces[:1] if spec.get("faces") == LARGEST else faces)
        return vision_result(self.model.code, images, specs)

    async def analyse(self, specs: list[dict], model: str | None = None
                      ) -> list[ImageResult | ImageError]:
        """An ingestion chunk's engine (services.recognition.ingest.Analyse)."""
        return VisionResult.model_validate(self.answer(specs)).images

    async def call(self, request: dict) -> dict:
        self.calls.append(request)
        return self.answer(request["images"])

    async def submit_job(self, op: str, options: dict, request: dict) -> str:
        job_id = str(uuid.uuid4())
        state = JobState(job_id, "done", op, options, time.time())
        state.result = await self.call(request)
        self._jobs[job_id] = state
        return job_id

    async def job(self, job_id: str) -> JobState:
        if job_id not in self._jobs:
            raise job_not_found(job_id)
        return self._jobs[job_id]

    def send_chunk(self, chunk: Chunk) -> None:
        self.chunks.append(chunk)

    def send_cluster_run(self, request: ClusterRequest) -> None:
        self.cluster_runs.append(request)

    def send_reembed_chunk(self, chunk: ReembedChunk) -> None:
        self.reembed_chunks.append(chunk)
