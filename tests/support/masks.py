"""Synthetic masked faces, meshed ID photos and cartoons for the analysis tests.

insightface ships surgical-mask textures (mask_white/black/blue/green.jpg) for exactly this: it
renders them over the lower face to make masked training faces. We do the same with the 68
landmarks: the texture is warped onto the quadrilateral from the nose bridge to the chin, then
clipped to the jaw line.
"""

from __future__ import annotations

import cv2
import numpy as np


def put_mask(image: np.ndarray, points68: np.ndarray, texture: np.ndarray) -> np.ndarray:
    p = points68.astype(np.float32)
    top_y = p[28, 1]  # a third of the way down the nose bridge
    left = np.array([p[1, 0], top_y], np.float32)
    right = np.array([p[15, 0], top_y], np.float32)
    chin = p[8]
    bottom_left = np.array([p[4, 0], chin[1] + 0.05 * (chin[1] - top_y)], np.float32)
    bottom_right = np.array([p[12, 0], bottom_left[1]], np.float32)
    th, tw = texture.shape[:2]
    src = np.float32([[0, 0], [tw - 1, 0], [tw - 1, th - 1], [0, th - 1]])
    dst = np.float32([left, right, bottom_right, bottom_left])
    h, w = image.shape[:2]
    warped = cv2.warpPerspective(texture, cv2.getPerspectiveTransform(src, dst), (w, h))
    region = np.zeros((h, w), np.uint8)
    jaw = np.vstack([[left], p[1:16], [right]]).astype(np.int32)
    cv2.fillPoly(region, [jaw], 255)
    region[: int(top_y)] = 0
    out = image.copy()
    out[region > 0] = warped[region > 0]
    return out


def put_mesh(image: np.ndarray, seed: int = 0, period: float = 9.0, amplitude: float = 3.0,
             strength: float = 0.55) -> np.ndarray:
    """The wavy mesh printed over ID-card photos: two families of thin sinusoidal lines
    crossing at about +-30 degrees, blended in light grey."""
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    mask = np.zeros((h, w), np.float32)
    for angle in (np.deg2rad(30 + rng.uniform(-3, 3)), np.deg2rad(-30 + rng.uniform(-3, 3))):
        u = xx * np.cos(angle) + yy * np.sin(angle)
        v = -xx * np.sin(angle) + yy * np.cos(angle)
        phase = u + amplitude * np.sin(2 * np.pi * v / (period * 4.0) + rng.uniform(0, 6.28))
        distance = np.abs(((phase / period) + 0.5) % 1.0 - 0.5) * period
        mask = np.maximum(mask, np.clip(1.2 - distance, 0, 1))
    colour = np.array([225, 225, 225], np.float32)
    blend = (strength * mask)[..., None]
    return np.clip(image * (1 - blend) + colour * blend, 0, 255).astype(np.uint8)


def cartoonise(image: np.ndarray) -> np.ndarray:
    """The classic OpenCV cartoon effect: flattened colours inside dark edge lines."""
    smooth = image
    for _ in range(4):
        smooth = cv2.bilateralFilter(smooth, 9, 40, 9)
    flat = (smooth // 48) * 48 + 24
    grey = cv2.medianBlur(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), 7)
    edges = cv2.adaptiveThreshold(grey, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY, 9, 5)
    return cv2.bitwise_and(flat, flat, mask=edges)
