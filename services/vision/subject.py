"""Which detected face is the photo's subject: the one most visible in it.

The vendors' "largest face" (CloudWalk's feature, compare and enrolment, Baidu's verify, match
and registration) is read here as the largest *visible* face. MTCNN's box of a face cut by the
photo's edge runs past that edge, so ranking by the box as detected let a face mostly outside
the photo (a neighbour cut by the frame, 4 of its 5 landmarks beyond it) outrank a complete
one. Each face is ranked by

    visible area x (share of its box inside the photo) x (share of its 5 landmarks inside)

which is the box's area for a face wholly inside the photo (the old rule, unchanged there),
and falls fast for a face the frame cuts: half its box outside and 4 landmarks out leaves a
twentieth. Every operation that takes "the largest face" and every list of faces uses this
one order (services/vision/pipeline.py). docs/api.md states the rule; bench/subject.py
measures how often it changes the choice.
"""

from __future__ import annotations

import numpy as np


def prominence(boxes: np.ndarray, points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Each face's rank (higher first) from its boxes (n, 4: x1, y1, x2, y2) and landmarks
    (n, 5, 2) in a photo of width x height pixels."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
    if not len(boxes):
        return np.zeros(0)
    full = np.maximum(boxes[:, 2] - boxes[:, 0], 0) * np.maximum(boxes[:, 3] - boxes[:, 1], 0)
    clipped = np.clip(boxes, 0, [width, height, width, height])
    visible = (np.maximum(clipped[:, 2] - clipped[:, 0], 0)
               * np.maximum(clipped[:, 3] - clipped[:, 1], 0))
    share = np.divide(visible, full, out=np.zeros_like(visible), where=full > 0)
    p = np.asarray(points, np.float64).reshape(len(boxes), -1, 2)
    inside = ((p[..., 0] >= 0) & (p[..., 0] <= width - 1)
              & (p[..., 1] >= 0) & (p[..., 1] <= height - 1)).mean(axis=1)
    return visible * share * inside


def subject_order(boxes: np.ndarray, points: np.ndarray, width: int, height: int,
                  candidates: np.ndarray) -> np.ndarray:
    """`candidates` (indices into boxes) most prominent first; ties keep detection order."""
    rank = prominence(boxes, points, width, height)
    return candidates[np.argsort(-rank[candidates], kind="stable")]
