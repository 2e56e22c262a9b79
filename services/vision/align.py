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


# A stored face region (issue 40): the square around the box, REGION_GROW times its larger
# side, so MTCNN finds the face again in it (it needs context around a face) and every
# embedder's alignment fits inside (FaceNet's box + 32 px of 160 is 1.25 times the box, ArcFace's
# 5-point template about 1.5; a rolled face needs more). At most REGION_SIDE pixels a side: the
# face is then up to 128 px, as big as FaceNet's 160 px crop of it needs.
REGION_GROW = 2.0
REGION_SIDE = 256
GREY = (128, 128, 128)


def face_region(image: np.ndarray, box: np.ndarray, grow: float = REGION_GROW,
                max_side: int = REGION_SIDE) -> tuple[np.ndarray, np.ndarray]:
    """(the square around the box, `grow` times its larger side, shrunk to at most `max_side`
    pixels and never enlarged, grey where it leaves the image; the box in its pixels)."""
    h, w = image.shape[:2]
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    side = max(max(x2 - x1, y2 - y1) * grow, 1.0)
    n = max(round(side), 1)
    left = round((x1 + x2) / 2 - n / 2)
    top = round((y1 + y2) / 2 - n / 2)
    out = min(n, max_side)
    scale = out / n
    # the part inside the image, shrunk first, then padded: a big face in a big photo never
    # makes a full-size square in memory
    x0, y0 = min(max(left, 0), w), min(max(top, 0), h)
    x9, y9 = max(min(left + n, w), x0), max(min(top + n, h), y0)
    inside = image[y0:y9, x0:x9]
    pad_left, pad_top = round((x0 - left) * scale), round((y0 - top) * scale)
    width = min(max(round((x9 - x0) * scale), 0), out - pad_left)
    height = min(max(round((y9 - y0) * scale), 0), out - pad_top)
    region = np.empty((out, out, 3), np.uint8)
    region[:] = GREY
    if width > 0 and height > 0 and inside.size:
        region[pad_top:pad_top + height, pad_left:pad_left + width] = (
            cv2.resize(inside, (width, height), interpolation=cv2.INTER_AREA)
            if (width, height) != (inside.shape[1], inside.shape[0]) else inside)
    moved = np.array([(x1 - left) * scale, (y1 - top) * scale,
                      (x2 - left) * scale, (y2 - top) * scale], np.float32)
    return region, moved


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
