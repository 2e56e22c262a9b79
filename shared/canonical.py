"""The canonical vision request and result that cross the queue, whatever the dialect.

They travel as plain dicts (msgpack: image bytes and embeddings go as raw binary, never base64).

Request:  {"images": [ImageSpec, ...]}
ImageSpec: {"data": bytes, "faces": "all" | "largest", "rotate": bool, "embed": bool,
            "crops": bool, "analyse": [field, ...] (ANALYSIS_FIELDS; empty: none),
            "clean": bool (remove an ID-photo mesh before detecting; optional),
            "remove_mesh": bool (only remove the mesh: the result is {"cleaned": JPEG})}
    rotate: when no upright face is found, also look at the image turned 90/180/270 degrees.
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


def image_spec(data: bytes, faces: str = ALL, rotate: bool = False, embed: bool = False,
               crops: bool = False, analyse: tuple[str, ...] | list[str] = (),
               thumbnail: int = 0) -> dict:
    """One image's request to a worker; `thumbnail`: the side in pixels of a small upright
    picture of each face (0: none)."""
    return {"data": data, "faces": faces, "rotate": rotate, "embed": embed, "crops": crops,
            "analyse": list(analyse), "thumbnail": thumbnail}


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
