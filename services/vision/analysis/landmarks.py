"""68 landmarks (iBUG 300-W scheme) from dlib's shape predictor, and Baidu's 4 and 72 points.

dlib's predictor was trained on boxes from dlib's HOG detector, not on MTCNN boxes. Rather than
map one box convention onto the other, each face is first aligned by its 5 MTCNN points onto a
256 x 256 chip (which also undoes any in-plane rotation, up to a face lying on its side), the
predictor runs on a fixed rectangle in that chip, and the points are mapped back. The rectangle
is where dlib's own HOG detector finds faces in such chips, [36, 70, 213, 248] (between the
mean and median rectangles; bench/analysis_heads.py measures them: on 150 LFW faces mean
[36.5, 66, 212.3, 242.8], median [35, 74, 214, 234]). Against the predictor run on HOG boxes
in the original images, the median point error is 1.8% of the inter-ocular distance (90th
percentile 3.0%, same command).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import dlib
import numpy as np

from services.vision.align import ARCFACE_TEMPLATE, similarity_transform

CHIP = 256
TEMPLATE = ARCFACE_TEMPLATE * 2 + 16
_RECT = dlib.rectangle(36, 70, 213, 248)

# iBUG 68 groups (0-based): jaw 0-16, brows 17-21 / 22-26 (image left / right), nose bridge
# 27-30, nostrils 31-35, eyes 36-41 / 42-47, outer lips 48-59, inner lips 60-67.
JAW = np.arange(0, 17)
LEFT_BROW, RIGHT_BROW = np.arange(17, 22), np.arange(22, 27)
NOSE = np.arange(27, 36)
LEFT_EYE, RIGHT_EYE = np.arange(36, 42), np.arange(42, 48)
OUTER_LIPS, INNER_LIPS = np.arange(48, 60), np.arange(60, 68)


def chip_transform(points5: np.ndarray) -> np.ndarray:
    """The 2 x 3 similarity taking the image onto the 256 x 256 landmark chip."""
    return similarity_transform(np.asarray(points5, np.float64), TEMPLATE)


def to_chip(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def warp_chip(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """The chip. A face larger than the chip is first shrunk by area averaging: a bilinear warp
    alone aliases, and aliasing reads as sharpness (it more than doubled the Laplacian
    variance of a large portrait face in a one-off check)."""
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    if scale < 0.9:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        matrix = matrix.copy()
        matrix[:, :2] /= scale
    return cv2.warpAffine(image, matrix, (CHIP, CHIP), flags=cv2.INTER_LINEAR)


def chip_valid(matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """Which chip pixels come from inside the photo (the rest is the warp's black fill: a face
    cut by the photo's edge must not read as occluded or sharp there)."""
    inverse = cv2.invertAffineTransform(matrix)
    ys, xs = np.mgrid[0:CHIP, 0:CHIP]
    sx = inverse[0, 0] * xs + inverse[0, 1] * ys + inverse[0, 2]
    sy = inverse[1, 0] * xs + inverse[1, 1] * ys + inverse[1, 2]
    return (sx >= 0) & (sx <= width - 1) & (sy >= 0) & (sy <= height - 1)


class Landmarker:
    def __init__(self, model: Path) -> None:
        self.predictor = dlib.shape_predictor(str(model))

    def __call__(self, image: np.ndarray, points5: np.ndarray) -> np.ndarray:
        """68 (x, y) points in image coordinates, float."""
        matrix = chip_transform(points5)
        return self.on_chip(warp_chip(image, matrix), matrix)

    def on_chip(self, chip: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """The same from a chip already warped with `matrix` (the analyser reuses its chip)."""
        shape = self.predictor(chip, _RECT)
        points = np.array([[p.x, p.y] for p in shape.parts()], np.float64)
        return to_chip(points, cv2.invertAffineTransform(matrix))


def _resample(polyline: np.ndarray, count: int, closed: bool = False) -> np.ndarray:
    """`count` points evenly spaced by arc length along a polyline (or closed polygon)."""
    path = np.vstack([polyline, polyline[:1]]) if closed else polyline
    steps = np.linalg.norm(np.diff(path, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    stops = np.linspace(0.0, arc[-1], count, endpoint=not closed)
    return np.stack([np.interp(stops, arc, path[:, 0]), np.interp(stops, arc, path[:, 1])], 1)


def baidu_landmark4(p: np.ndarray) -> np.ndarray:
    """Baidu's 4 points: left eye centre, right eye centre (image left first), nose tip, mouth
    centre."""
    return np.stack([p[LEFT_EYE].mean(0), p[RIGHT_EYE].mean(0), p[30],
                     p[OUTER_LIPS].mean(0)])


def _brow_outline(p: np.ndarray, brow: np.ndarray, eye: np.ndarray) -> np.ndarray:
    """dlib marks only a brow's upper edge; its lower edge is put a fifth of the way to the eye."""
    upper = p[brow]
    gap = p[eye][:, 1].min() - upper[:, 1].mean()
    lower = upper[::-1] + np.array([0.0, 0.2 * gap])
    return _resample(np.vstack([upper, lower]), 8, closed=True)


def _eye_outline(p: np.ndarray, eye: np.ndarray) -> np.ndarray:
    return np.vstack([_resample(p[eye], 8, closed=True), p[eye].mean(0, keepdims=True)])


def baidu_landmark72(p: np.ndarray) -> np.ndarray:
    """Baidu's 72-point layout derived from the 68 (see docs/api.md for the table):
    0-12 face contour (jaw 0-16 resampled to 13), 13-20 left eye outline (6 points resampled
    to 8) and 21 its centre, 22-29 left brow (upper edge + an estimated lower edge), 30-37
    right eye and 38 its centre, 39-46 right brow, 47-57 nose (bridge 27-30 and nostrils
    31-35 resampled to 11), 58-71 mouth (outer lips 48-59 and inner-lip midpoints 62, 66)."""
    nose_path = np.vstack([p[27:31], p[31:36]])
    parts = [
        _resample(p[JAW], 13),
        _eye_outline(p, LEFT_EYE),
        _brow_outline(p, LEFT_BROW, LEFT_EYE),
        _eye_outline(p, RIGHT_EYE),
        _brow_outline(p, RIGHT_BROW, RIGHT_EYE),
        _resample(nose_path, 11),
        np.vstack([p[OUTER_LIPS], p[[62, 66]]]),
    ]
    points = np.vstack(parts)
    assert len(points) == 72
    return points
