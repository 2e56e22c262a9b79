"""Turning a detected face into the input an embedder expects."""

from __future__ import annotations

import cv2
import numpy as np

# InsightFace's ArcFace template: where the 5 landmarks sit in a 112 x 112 aligned face.
ARCFACE_TEMPLATE = np.array([
    [38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
    [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float32)


def box_crop(image: np.ndarray, box: np.ndarray, size: int = 160, margin: int = 14) -> np.ndarray:
    """facenet-pytorch's extract_face: the box grown by `margin` pixels of the output size,
    clipped to the image, resized (area) to size x size."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    mx = margin * (x2 - x1) / (size - margin)
    my = margin * (y2 - y1) / (size - margin)
    left, top = int(max(x1 - mx / 2, 0)), int(max(y1 - my / 2, 0))
    right, bottom = int(min(x2 + mx / 2, w)), int(min(y2 + my / 2, h))
    region = image[top:bottom, left:right]
    if region.size == 0:
        return np.zeros((size, size, 3), np.uint8)
    return cv2.resize(region, (size, size), interpolation=cv2.INTER_AREA)


def square_thumbnail(image: np.ndarray, box: np.ndarray, size: int, grow: float = 1.4
                     ) -> np.ndarray:
    """A size x size picture of the face for people to look at: the square around the box,
    grown so hair and chin show, padded with grey where it leaves the image."""
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    side = max(x2 - x1, y2 - y1) * grow
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    # the square mapped onto size x size: an affine warp pads outside the image by itself
    scale = size / max(side, 1.0)
    matrix = np.array([[scale, 0, size / 2 - cx * scale], [0, scale, size / 2 - cy * scale]],
                      np.float32)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=(128, 128, 128))


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, shift) taking src to dst (Umeyama),
    as a 2 x 3 matrix; the estimator skimage's SimilarityTransform uses for InsightFace."""
    src = src.astype(np.float64)
    dst = dst.astype(np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rotation = u @ sign @ vt
    scale = np.trace(np.diag(sigma) @ sign) / s.var(0).sum()
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mu_d - scale * rotation @ mu_s
    return matrix


def five_point_align(image: np.ndarray, points: np.ndarray, size: int = 112) -> np.ndarray:
    matrix = similarity_transform(points, ARCFACE_TEMPLATE * (size / 112.0))
    return cv2.warpAffine(image, matrix, (size, size), borderValue=0.0)
