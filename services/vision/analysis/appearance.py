"""Glasses and human/cartoon from image statistics on the landmark chip. No trained glasses or
cartoon model exists offline; these are heuristics, documented as such in docs/api.md.

Glasses: a frame's bridge and lower rims draw horizontal edges where skin has none, between
the eyes and just below them. GLASSES_EDGE is the mean vertical gradient there relative to the
whole face's. On 300 LFW faces (median ratio 1.0), 21 of the 30 with the highest ratio
(>= 1.46) wore glasses, goggles or sunglasses when looked at (`bench.analysis_heads
--glasses-sheet FILE` draws them); many wearers of thin or rimless
frames read below. Sunglasses make both eye regions much darker than the cheeks (SUNGLASSES_RATIO).
Cartoon: drawn faces have flat fills; a photo, even a smooth one, has sensor noise and texture.
The share of face pixels whose 5 x 5 luma standard deviation is under 1.5 grey levels decides:
150 small, JPEG-compressed LFW faces read a median 0.048 and 0.165 at the 99th percentile; the
same faces cartoonised (tests/support/masks.cartoonise: bilateral smoothing, 48-level colour
quantisation, dark edges) read 0.242 at the 1st percentile, median 0.368
(bench/analysis_heads.py).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

GLASSES_EDGE = (1.5, 0.15)  # logistic centre and width on the edge ratio
SUNGLASSES_RATIO = (0.45, 0.06)  # on eye luma / cheek luma
CARTOON_FLAT = (0.22, 0.04)  # on the flat share


def _logistic(x: float, centre_width: tuple[float, float], rising: bool = True) -> float:
    centre, width = centre_width
    z = (x - centre) / width
    return 1.0 / (1.0 + math.exp(-z if rising else z))


def _band(p: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice]:
    return (slice(int(max(y0, 0)), int(max(y1, y0 + 1))),
            slice(int(max(x0, 0)), int(max(x1, x0 + 1))))


def glasses_features(grey: np.ndarray, p: np.ndarray, inside: np.ndarray) -> tuple[float, float]:
    """(edge ratio, eye/cheek luma ratio) on the chip."""
    gy = np.abs(cv2.Sobel(grey.astype(np.float32), cv2.CV_32F, 0, 1, ksize=3))
    face_level = float(gy[inside].mean()) + 1e-6
    eye_h = float(np.ptp(p[36:48, 1])) + 4.0
    bridge = _band(p, p[39, 0], p[42, 0], (p[21, 1] + p[39, 1]) / 2, p[28, 1])
    rims = _band(p, p[36, 0], p[45, 0], p[36:48, 1].max() + 0.4 * eye_h, p[29, 1])
    edges = max(float(gy[bridge].mean()), float(gy[rims].mean())) / face_level
    eyes = _band(p, p[36, 0], p[45, 0], p[36:48, 1].min() - eye_h, p[36:48, 1].max() + eye_h)
    cheeks = _band(p, p[36, 0], p[45, 0], p[29, 1], p[33, 1])
    luma_ratio = float(grey[eyes].mean()) / (float(grey[cheeks].mean()) + 1e-6)
    return edges, luma_ratio


def glasses(grey: np.ndarray, p: np.ndarray, inside: np.ndarray) -> tuple[int, float]:
    """(0 none / 1 glasses / 2 sunglasses, probability of that answer)."""
    edges, luma_ratio = glasses_features(grey, p, inside)
    sun = _logistic(luma_ratio, SUNGLASSES_RATIO, rising=False)
    spectacles = _logistic(edges, GLASSES_EDGE)
    if sun >= 0.5:
        return 2, round(sun, 4)
    if spectacles >= 0.5:
        return 1, round(spectacles * (1 - sun), 4)
    return 0, round((1 - spectacles) * (1 - sun), 4)


def flat_share(grey: np.ndarray, inside: np.ndarray) -> float:
    g = grey.astype(np.float32)
    mean = cv2.blur(g, (5, 5))
    var = np.maximum(cv2.blur(g * g, (5, 5)) - mean * mean, 0)
    return float((np.sqrt(var)[inside] < 1.5).mean()) if inside.any() else 0.0


def face_type(grey: np.ndarray, inside: np.ndarray) -> dict[str, float]:
    cartoon = _logistic(flat_share(grey, inside), CARTOON_FLAT)
    return {"human": round(1 - cartoon, 4), "cartoon": round(cartoon, 4)}
