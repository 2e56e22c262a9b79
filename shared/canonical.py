"""The canonical vision request and result that cross the queue, whatever the dialect.

They travel as msgpack maps (image bytes and embeddings go as raw binary, never base64).

Request: shared.tasks.VisionRequest, {"images": [ImageSpec, ...]} (the models there are the
contract; shared.tasks.image_spec builds one image's).
Result:   {"model": int (shared.models code), "images": [ImageResult, ...]}
ImageResult: {"width", "height", "rotation": 0|90|180|270, "faces": [FaceResult, ...]}
             or {"error": {"error": name, "detail": str}} (shared.errors.FaceError.to_dict)
FaceResult: {"box": [x, y, w, h] (ints, original image coordinates), "prob": float,
             "points": [[x, y] * 5], "embedding": bytes float32 LE (if embed),
             "crop": bytes JPEG (if crops),
             "analysis": {field: value} (if analyse; see docs/api.md for each field)}
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

ALL = "all"
LARGEST = "largest"
# What a client may ask the analysis heads for (docs/api.md documents each).
ANALYSIS_FIELDS = ("landmarks", "age", "gender", "emotion", "expression", "glasses",
                   "face_shape", "beauty", "quality", "pose", "liveness")


@dataclass
class Face:
    box: tuple[int, int, int, int]  # x, y, width, height
    prob: float
    points: list[tuple[float, float]]
    embedding: np.ndarray | None = None
    crop: bytes | None = None
    analysis: dict = field(default_factory=dict)
    thumbnail: bytes | None = None  # JPEG, when the request asked for one

    @classmethod
    def from_result(cls, data: dict) -> Face:
        embedding = data.get("embedding")
        return cls(
            box=tuple(data["box"]),
            prob=float(data["prob"]),
            points=[tuple(p) for p in data["points"]],
            embedding=np.frombuffer(embedding, "<f4").astype(np.float32)
            if embedding is not None else None,
            crop=data.get("crop"),
            analysis=data.get("analysis") or {},
            thumbnail=data.get("thumbnail"),
        )


@dataclass
class ImageFaces:
    width: int
    height: int
    rotation: int
    faces: list[Face] = field(default_factory=list)
