"""TEMPORARY placeholder (the fusion helper delivers the real one)."""
from __future__ import annotations

import math
from collections.abc import Sequence

from shared.models import SCORE_FMR, ModelSpec

FUSION_RULE = "max"


def fused_cosine(cosines: Sequence[float], qualities: Sequence[float | None] | None = None
                 ) -> float:
    return max(cosines)


def verdict_cosine(model: ModelSpec, people: int, fpir: float) -> float:
    per = 1 - (1 - fpir) ** (1 / max(1, people))
    logs = [math.log10(f) for _, f in SCORE_FMR]
    scores = [s for s, _ in SCORE_FMR]
    x = math.log10(per)
    if x >= logs[0]:
        score = scores[0]
    elif x <= logs[-1]:
        score = scores[-1] + (logs[-1] - x) * 0.1
    else:
        for i in range(len(logs) - 1):
            if logs[i] >= x >= logs[i + 1]:
                step = (logs[i] - x) / (logs[i] - logs[i + 1])
                score = scores[i] + (scores[i + 1] - scores[i]) * step
                break
    return model.cosine_for_score(min(score, 0.999))
