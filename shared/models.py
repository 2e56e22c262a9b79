"""The embedding models facegate knows, with their calibration.

This is the part of a model the gateway needs without loading it: its identifier (carried in
every feature blob and stored with every gallery face), its dimension, and how a cosine
similarity becomes the [0, 1] score clients see.

The score is calibrated to false-match rates, the same for every model: a score of 0.60 is the
cosine at which 1 in 100 pairs of different people match (FMR 1e-2), 0.70 is FMR 1e-3, 0.80 (the
recommended threshold; Baidu's "80", which Baidu ties to a false-accept rate of one in ten
thousand) is FMR 1e-4, 0.90 is FMR 1e-5, 0.50 is FMR 1e-1; between those points, and from cosine
-1 (score 0) and to cosine 1 (score 1), the score is linear in the cosine. Each model's operating
points (cosine, and the FNMR measured there) come from `bench/lfw_calibrate.py`: every
cross-identity pair of the 4,992 LFW View 1 images through the product's own pipeline (about
12.4 million impostor pairs, 3,192 genuine ones). docs/api.md prints the table; /v1/models
publishes it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

from shared.errors import ERRORS, ErrorKind, FaceError

RECOMMENDED_SCORE = 0.80


def same_person(score: float) -> bool:
    """The service's verdict on a calibrated score: the same person at RECOMMENDED_SCORE."""
    return score >= RECOMMENDED_SCORE
# score -> the false-match rate it stands for, for every model
SCORE_FMR = ((0.50, 1e-1), (0.60, 1e-2), (0.70, 1e-3), (0.80, 1e-4), (0.90, 1e-5))


@dataclass(frozen=True)
class OperatingPoint:
    """What a score threshold means for one model, as measured on LFW View 1."""

    score: float
    fmr: float  # share of different-person pairs scoring at or above `score`
    cosine: float  # the cosine that reads `score`
    fnmr: float  # share of same-person pairs scoring below `score`


@dataclass(frozen=True)
class ModelSpec:
    key: str
    code: int  # 16-bit identifier inside feature blobs
    dim: int
    description: str  # what /v1/models says of it
    summary: str  # what FACEGATE_EMBEDDER's description says of it (embedder_choices)
    operating_points: tuple[OperatingPoint, ...]  # ascending score and cosine

    @cached_property  # scores are mapped per match in every search: build the knots once
    def _anchors(self) -> tuple[list[float], list[float]]:
        points = self.operating_points
        return ([-1.0, *(p.cosine for p in points), 1.0],
                [0.0, *(p.score for p in points), 1.0])

    def score(self, cosine: float) -> float:
        return _interpolate(cosine, *self._anchors)

    def cosine_for_score(self, score: float) -> float:
        """Inverse of `score`, for turning a score threshold into a vector-search bound."""
        cosines, scores = self._anchors
        return _interpolate(score, scores, cosines)

    @property
    def cos_threshold(self) -> float:
        """The cosine of the recommended score."""
        return self.cosine_for_score(RECOMMENDED_SCORE)


def _interpolate(x: float, xs: list[float], ys: list[float]) -> float:
    """Piecewise-linear through (xs, ys), xs ascending; clamped at the ends."""
    if x <= xs[0]:
        return ys[0]
    if x >= xs[-1]:
        return ys[-1]
    k = bisect.bisect_right(xs, x)
    x0, x1, y0, y1 = xs[k - 1], xs[k], ys[k - 1], ys[k]
    return y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def _points(*rows: tuple[float, float]) -> tuple[OperatingPoint, ...]:
    """(cosine, fnmr) per entry of SCORE_FMR, as bench/lfw_calibrate.py prints them."""
    return tuple(OperatingPoint(score, fmr, cosine, fnmr)
                 for (score, fmr), (cosine, fnmr) in zip(SCORE_FMR, rows, strict=True))


# The default: Sandberg's FaceNet on the MTCNN box grown by 32 px of 160, the margin of the
# checkpoint's own LFW alignment. bench/lfw_survey.py measured margins 14 / 24 / 32 / 44:
# 98.22 / 98.41 / 98.75 / 98.25% 10-fold and FNMR at FMR 1e-4 21.2 / 19.0 / 18.8 / 20.2%.
FACENET = ModelSpec(
    key="facenet-vggface2-m32",
    code=3,
    dim=512,
    description="FaceNet Inception-ResNet-v1, VGGFace2 (Sandberg 20180402-114759), 160x160 crop "
                "of the box grown by 32 px",
    summary="FaceNet VGGFace2",
    operating_points=_points((0.2119, 0.0050), (0.3798, 0.0213), (0.4975, 0.0774),
                             (0.5855, 0.1877), (0.6609, 0.3684)),
)
# The same network on the box grown by 14 px: the default until 2026-11-24. Kept so that
# galleries and features made with it stay usable (FACEGATE_EMBEDDER=facenet-m14); its vectors
# are never compared with the default's (a different code).
FACENET_M14 = ModelSpec(
    key="facenet-vggface2",
    code=1,
    dim=512,
    description="FaceNet Inception-ResNet-v1, VGGFace2 (Sandberg 20180402-114759), 160x160 crop "
                "of the box grown by 14 px (the default before 2026-11-24)",
    summary="FaceNet on the crop used before 2026-11-24, for galleries enrolled then",
    operating_points=_points((0.2278, 0.0069), (0.3938, 0.0276), (0.5082, 0.0952),
                             (0.5920, 0.2118), (0.6624, 0.3947)),
)
ARCFACE = ModelSpec(
    key="arcface-mbf-w600k",
    code=2,
    dim=512,
    description="ArcFace MobileFaceNet w600k_mbf (InsightFace), 5-point aligned 112x112",
    summary="ArcFace MobileFaceNet w600k_mbf; non-commercial weights",
    operating_points=_points((0.0912, 0.0038), (0.1667, 0.0088), (0.2276, 0.0132),
                             (0.2820, 0.0172), (0.3371, 0.0257)),
)

# The one place an embedder's name is written: FACEGATE_EMBEDDER's choices (shared/settings.py),
# /v1/models (in this order) and the embedders the workers load (services/vision/embedders.py)
# are all keyed by these names.
MODELS: dict[str, ModelSpec] = {"facenet": FACENET, "facenet-m14": FACENET_M14,
                                 "arcface": ARCFACE}
BY_CODE: dict[int, ModelSpec] = {spec.code: spec for spec in MODELS.values()}
DEFAULT_EMBEDDER = "facenet"
# FACEGATE_EMBEDDER's choices as its error and description list them: the default first, then
# the others by name
EMBEDDER_NAMES: tuple[str, ...] = (
    DEFAULT_EMBEDDER, *sorted(name for name in MODELS if name != DEFAULT_EMBEDDER))
EmbedderName = Literal[EMBEDDER_NAMES]  # type: ignore[valid-type]


def embedder_choices() -> str:
    """FACEGATE_EMBEDDER's description: each name with its model's summary, the default
    marked."""
    shown = [f"`{name}` ({MODELS[name].summary}"
             + (", the default)" if name == DEFAULT_EMBEDDER else ")") for name in EMBEDDER_NAMES]
    return ", ".join(shown[:-1]) + " or " + shown[-1] if len(shown) > 1 else shown[0]


def model_for(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown embedder {name!r}; choose one of {sorted(MODELS)}") from None


def require_same_model(held: int, given: int, holder: str,
                       kind: ErrorKind = ERRORS.MODEL_MISMATCH) -> None:
    """The one model check: vectors of two models are never stored together or compared (their
    cosines mean different things). `holder` names what holds `held` (a group, a stored face, a
    feature); the error is 12356 / 216100 unless `kind` says otherwise (8514 for features)."""
    if held != given:
        raise FaceError(kind, f"{holder} holds model {held}, the face is from model {given}")
