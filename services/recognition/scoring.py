"""The one place a cosine becomes the score clients see, and where two vectors are checked to
come from one model before they are compared (shared.models.require_same_model; the gallery's
writes call it too, inside their transactions).

The score is the model's calibrated [0, 1] similarity (shared.models: 0.80 is FMR 1e-4 for
every model); dialects only change its scale or rounding (Baidu prints it x 100).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.gallery.records import Match
from shared.errors import ERRORS
from shared.features import Feature
from shared.models import ModelSpec, require_same_model


@dataclass
class ScoredMatch:
    face_id: int
    tag: str
    score: float


def cosine_score(model: ModelSpec, a: np.ndarray, b: np.ndarray) -> float:
    return model.score(float(np.dot(a, b)))


def scores(model: ModelSpec, cosines: list[float]) -> list[float]:
    return [model.score(c) for c in cosines]


def scored_matches(model: ModelSpec, matches: list[Match]) -> list[ScoredMatch]:
    return [ScoredMatch(m.face_id, m.tag, model.score(m.cosine)) for m in matches]


def feature_similarity(a: Feature, b: Feature) -> float:
    """Two features a client holds (CloudWalk similarityByFeature, /v1/similarity): no queue
    hop, they compare in microseconds in the gateway. Features of two models are refused as
    damaged data (8514), as CloudWalk's document has it for a feature this server did not make."""
    require_same_model(a.model.code, b.model.code, f"feature A ({a.model.key})",
                       ERRORS.FEATURE_DATA)
    return cosine_score(a.model, a.vector, b.vector)


def stored_score(model: ModelSpec, held: int, stored: np.ndarray, probe: np.ndarray,
                 holder: str) -> float:
    """A probe against one stored vector (a gallery face, an identity photo)."""
    require_same_model(held, model.code, holder)
    return cosine_score(model, stored, probe)
