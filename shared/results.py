"""What a vision worker returns, declared: the other half of the contract in shared/tasks.py.

The worker's pipeline builds these models; the Celery task sends `VisionResult.model_dump()`
(msgpack: embeddings, crops, thumbnails and regions travel as raw bytes); the core validates what it
reads back (services/recognition/vision.py), so a renamed or mistyped field fails there, named,
rather than as a KeyError inside a dialect. The analysis models also document /v1/analyse's
face in /openapi.json (shared/answers.py derives AnalysedFace from FaceAnalysis), and
docs/api.md's "Face analysis" table is checked against them (tests/unit/test_results.py).
"""

from __future__ import annotations

from typing import Annotated, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    Tag,
)

from shared.errors import BY_NAME

# A point in the photo's pixels, [x, y]
Point = tuple[float, float]
Share = Annotated[float, Field(ge=0.0, le=1.0)]


def _vector(value: object) -> np.ndarray:
    if isinstance(value, np.ndarray):
        return value.astype("<f4", copy=False)
    if isinstance(value, bytes | bytearray | memoryview):
        if len(value) % 4:
            raise ValueError("an embedding is float32: its length must be a multiple of 4")
        return np.frombuffer(value, "<f4").astype(np.float32)
    raise ValueError("an embedding is float32 little-endian bytes")


# An embedding: float32 little-endian bytes on the queue, a float32 vector in the process.
Embedding = Annotated[np.ndarray, PlainValidator(_vector),
                      PlainSerializer(lambda v: np.asarray(v, "<f4").tobytes(), return_type=bytes)]


class Result(BaseModel):
    # Values come from our own workers: attribute reads stay plain; `frozen` is not set because
    # the pipeline fills a face in as it goes (its embedding, its analysis, photo coordinates).
    model_config = ConfigDict(extra="forbid")


class Landmarks(Result):
    points68: list[Point] = Field(min_length=68, max_length=68, description=(
        "iBUG 300-W order: jaw 0-16, brows 17-26, nose 27-35, eyes 36-47, lips 48-67"))
    points4: list[Point] = Field(min_length=4, max_length=4, description=(
        "Baidu's 4: the eye centres, the nose tip, the mouth centre"))
    points72: list[Point] = Field(min_length=72, max_length=72, description=(
        "Baidu's 72, derived from the 68 (docs/api.md)"))


class Gender(Result):
    value: Literal["male", "female"]
    probability: float = Field(ge=0.5, le=1.0)


class Emotions(Result):
    """Probabilities of the seven FER2013 emotions, in the network's order (sum 1)."""

    angry: Share
    disgust: Share
    fear: Share
    happy: Share
    sad: Share
    surprise: Share
    neutral: Share


EMOTIONS = tuple(Emotions.model_fields)


class Emotion(Result):
    value: Literal[EMOTIONS]  # type: ignore[valid-type]
    probabilities: Emotions


class Expression(Result):
    value: Literal[0, 1, 2] = Field(description="0 none, 1 smile, 2 laugh")
    probability: Share


class Glasses(Result):
    value: Literal[0, 1, 2] = Field(description="0 none, 1 glasses, 2 sunglasses")
    probability: Share


class FaceShape(Result):
    """Probabilities of each shape (sum 1), in this order (Baidu's faceshape list keeps it)."""

    square: Share
    triangle: Share
    oval: Share
    heart: Share
    round: Share


SHAPES = tuple(FaceShape.model_fields)


class Occlusion(Result):
    """Per region, 0 clear to 1 covered; left = image left."""

    left_eye: Share
    right_eye: Share
    nose: Share
    mouth: Share
    left_cheek: Share
    right_cheek: Share
    chin: Share


OCCLUSION_REGIONS = tuple(Occlusion.model_fields)


class FaceType(Result):
    human: Share
    cartoon: Share


class Quality(Result):
    occlusion: Occlusion
    blur: Share = Field(description="0 sharp, 1 blurred")
    sharpness: float = Field(ge=0.0, description="the Laplacian variance behind blur")
    illumination: int = Field(ge=0, le=255, description="mean luma inside the face")
    completeness: Literal[0, 1] = Field(description="1 inside the image, 0 cut off")
    type: FaceType


class Pose(Result):
    # A regression from the landmarks (docs/api.md): no bound is promised for the angles, so
    # none is declared; the eye line's angle lies in [-180, 180].
    yaw: float = Field(description="degrees, < 0 nose to the image's left")
    pitch: float = Field(description="degrees, > 0 looking down")
    roll: float = Field(description="degrees clockwise, the eye line's angle")
    rotation_angle: int = Field(ge=-180, le=180, description="roll in whole degrees (Baidu)")


class Liveness(Result):
    score: Share
    threshold: Share
    live: bool


class FaceAnalysis(Result):
    """Each field a request asked for (shared/tasks.py ImageSpec.analyse); the others None.
    docs/api.md, "Face analysis", says how each is estimated and how far to trust it."""

    landmarks: Landmarks | None = None
    age: float | None = Field(None, ge=0.0, le=80.0, description="years")
    gender: Gender | None = None
    emotion: Emotion | None = None
    expression: Expression | None = None
    glasses: Glasses | None = None
    face_shape: FaceShape | None = None
    beauty: float | None = Field(None, ge=0.0, le=100.0, description="symmetry, 100 symmetric")
    quality: Quality | None = None
    pose: Pose | None = None
    liveness: Liveness | None = None
    # The eye probe's P(covered) for the image-left and image-right eye: read inside the worker
    # (the pipeline's second look), never sent.
    eye_probe: tuple[float, float] | None = Field(None, exclude=True)

    def shown(self) -> dict:
        """The fields computed, as JSON values (/v1/analyse prints them)."""
        return self.model_dump(exclude_none=True)


# What a client may ask the analysis heads for, in the order docs/api.md lists them.
ANALYSIS_FIELDS = tuple(name for name, info in FaceAnalysis.model_fields.items()
                        if not info.exclude)


class FaceResult(Result):
    box: tuple[int, int, int, int] = Field(description="x, y, width, height in the photo")
    prob: float = Field(ge=0.0, le=1.0, description="the detector's probability")
    points: list[Point] = Field(min_length=5, max_length=5, description=(
        "the detector's 5: eyes, nose, mouth corners"))
    embedding: Embedding | None = Field(None, description="float32 (embed)")
    crop: bytes | None = Field(None, description="JPEG (crops)")
    thumbnail: bytes | None = Field(None, description="JPEG (thumbnail)")
    region: bytes | None = Field(None, description=(
        "JPEG, the square twice the face's size, upright, at most 256 px (region): what a "
        "group is re-embedded from"))
    analysis: FaceAnalysis = Field(default_factory=FaceAnalysis)


class ImageResult(Result):
    width: int = Field(gt=0)
    height: int = Field(gt=0)
    rotation: Literal[0, 90, 180, 270] = Field(0, description=(
        "the quarter turn the faces were found in"))
    faces: list[FaceResult] = Field(default_factory=list, description="the subject first")
    cleaned: bytes | None = Field(None, description="JPEG, the ID photo without its mesh "
                                  "(remove_mesh)")


def _known_error(name: str) -> str:
    if name not in BY_NAME:
        raise ValueError(f"{name!r} is no error kind of shared/errors.py")
    return name


class ErrorBody(Result):
    error: Annotated[str, AfterValidator(_known_error)]  # an ErrorKind's name
    detail: str = ""


class ImageError(Result):
    """An image the worker could not read (shared.errors.FaceError.to_dict)."""

    error: ErrorBody


def _image_kind(value: object) -> str:
    if isinstance(value, dict):
        return "error" if "error" in value else "image"
    return "error" if isinstance(value, ImageError) else "image"


class VisionResult(Result):
    model: int = Field(description="the embedder's code (shared/models.py)")
    images: list[Annotated[Annotated[ImageResult, Tag("image")]
                           | Annotated[ImageError, Tag("error")], Discriminator(_image_kind)]]

    def sent(self) -> dict:
        """The form that crosses the queue (msgpack)."""
        return self.model_dump(exclude_none=True)
