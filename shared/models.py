"""The embedding models facegate knows, with their calibration.

This is the part of a model the gateway needs without loading it: its identifier (carried in
every feature blob and stored with every gallery face), its dimension, and how a cosine
similarity becomes the [0, 1] score clients see.

Score mapping (same for every model, constants per model):
    score = 1 / (1 + exp(-(slope * (cosine - threshold) + ln 4)))
so a cosine equal to the model's calibrated same-person threshold reads 0.80, for every model:
one recommended threshold (0.80) for clients whichever embedder is configured. `slope` is the
logistic-regression slope fitted on LFW View 1 training pairs, so the spread of the score
follows how sharply the model separates people. Both constants come from
`bench/lfw_calibrate.py` (docs/performance.md has its output).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

RECOMMENDED_SCORE = 0.80
_LN4 = math.log(4.0)


@dataclass(frozen=True)
class ModelSpec:
    key: str
    code: int  # 16-bit identifier inside feature blobs
    dim: int
    cos_threshold: float
    slope: float
    description: str

    def score(self, cosine: float) -> float:
        z = self.slope * (cosine - self.cos_threshold) + _LN4
        return 1.0 / (1.0 + math.exp(-z))

    def cosine_for_score(self, score: float) -> float:
        """Inverse of `score`, for turning a score threshold into a vector-search bound."""
        score = min(max(score, 1e-9), 1 - 1e-9)
        return self.cos_threshold + (math.log(score / (1 - score)) - _LN4) / self.slope


FACENET = ModelSpec(
    key="facenet-vggface2",
    code=1,
    dim=512,
    cos_threshold=0.3677,
    slope=24.24,
    description="FaceNet Inception-ResNet-v1, VGGFace2 (Sandberg 20180402-114759), 160x160 crop",
)
ARCFACE = ModelSpec(
    key="arcface-mbf-w600k",
    code=2,
    dim=512,
    cos_threshold=0.2247,
    slope=32.64,
    description="ArcFace MobileFaceNet w600k_mbf (InsightFace), 5-point aligned 112x112",
)

MODELS: dict[str, ModelSpec] = {"facenet": FACENET, "arcface": ARCFACE}
BY_CODE: dict[int, ModelSpec] = {spec.code: spec for spec in MODELS.values()}


def model_for(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise ValueError(f"unknown embedder {name!r}; choose one of {sorted(MODELS)}") from None
