"""Face shape and beauty from the geometry of the 68 landmarks. No trained model for either
exists offline; these are transparent geometric estimators, documented as such in docs/api.md.

Face shape: three ratios, each relative to the cheekbone width (landmarks 1-15): face length
(chin to brow line, times 1.35 for the forehead the landmarks do not reach), jaw width (4-12)
and chin width (6-10). Each shape is a prototype in those ratios, set from the mean and spread
of 150 LFW faces (SHAPE_MEAN, SHAPE_SD; bench/analysis_heads.py): oval longer than average,
round shorter with a fuller jaw, square with a wide jaw and chin, heart with a narrow jaw and
chin, triangle with a jaw as wide as the cheekbones. Probabilities are a softmax of the
negative squared distances.

Beauty: a symmetry score. The landmarks are mirrored about the face's own axis and the mean
distance between each point and its mirrored partner, in inter-ocular distances, is mapped to
0-100 (100 perfectly symmetric). It measures symmetry, which people rate as attractive on
average, and nothing else; turned heads read less symmetric.
"""

from __future__ import annotations

import math

import numpy as np

from shared.results import SHAPES

# ratios: length / cheek width, jaw / cheek width, chin / cheek width
SHAPE_MEAN = np.array([1.323, 0.839, 0.495])
SHAPE_SD = np.array([0.090, 0.031, 0.033])
_PROTOTYPES = {  # in standard deviations from the mean
    "square": (-0.5, 1.0, 1.0),
    "triangle": (0.0, 2.0, 1.0),
    "oval": (1.0, 0.0, 0.0),
    "heart": (0.0, -1.0, -1.5),
    "round": (-1.5, 0.5, 0.0),
}
# iBUG 68 mirror pairs (left index, right index)
_MIRROR = np.array([*[(i, 16 - i) for i in range(8)], (17, 26), (18, 25), (19, 24), (20, 23),
                    (21, 22), (31, 35), (32, 34), (36, 45), (37, 44), (38, 43), (39, 42),
                    (40, 47), (41, 46), (48, 54), (49, 53), (50, 52), (55, 59), (56, 58),
                    (60, 64), (61, 63), (65, 67)])
_CENTRE = np.array([27, 28, 29, 30, 33, 51, 57, 62, 66, 8])
SYMMETRY_SCALE = 0.2  # the median LFW face (asymmetry 0.141) reads 50


def shape_ratios(p: np.ndarray) -> np.ndarray:
    cheek = float(np.linalg.norm(p[15] - p[1]))
    brow = (p[19] + p[24]) / 2
    length = 1.35 * float(np.linalg.norm(p[8] - brow))
    return np.array([length / cheek, np.linalg.norm(p[12] - p[4]) / cheek,
                     np.linalg.norm(p[10] - p[6]) / cheek])


def face_shape(p: np.ndarray) -> dict[str, float]:
    z = (shape_ratios(p) - SHAPE_MEAN) / SHAPE_SD
    logits = np.array([-0.5 * float(np.sum((z - np.array(_PROTOTYPES[s])) ** 2))
                       for s in SHAPES])
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    return {s: round(float(v), 4) for s, v in zip(SHAPES, probabilities, strict=True)}


def asymmetry(p: np.ndarray) -> float:
    """Mean distance between mirrored landmark pairs, in inter-ocular distances."""
    left_eye, right_eye = p[36:42].mean(0), p[42:48].mean(0)
    iod = float(np.linalg.norm(right_eye - left_eye))
    angle = math.atan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0])
    c, s = math.cos(-angle), math.sin(-angle)
    level = (p - p.mean(0)) @ np.array([[c, s], [-s, c]])
    axis = float(level[_CENTRE, 0].mean())
    left, right = level[_MIRROR[:, 0]], level[_MIRROR[:, 1]]
    mirrored = np.stack([2 * axis - right[:, 0], right[:, 1]], 1)
    return float(np.linalg.norm(left - mirrored, axis=1).mean()) / iod


def beauty(p: np.ndarray) -> float:
    return round(100.0 * math.exp(-asymmetry(p) / SYMMETRY_SCALE), 2)
