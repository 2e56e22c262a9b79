"""Upright face crops for the small networks (expression, liveness) and the appearance
measures: the MTCNN box with a margin, turned by the face's roll so the eyes are level."""

from __future__ import annotations

import math

import cv2
import numpy as np


def upright_crop(image: np.ndarray, box: list[int], points5: np.ndarray, size: int = 128,
                 margin: float = 20 / 128) -> np.ndarray:
    x, y, w, h = box
    left_eye, right_eye = points5[0], points5[1]
    angle = math.degrees(math.atan2(right_eye[1] - left_eye[1], right_eye[0] - left_eye[0]))
    side = max(w, h) / (1.0 - margin)
    centre = (x + w / 2.0, y + h / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, angle, size / side)
    matrix[:, 2] += np.array([size / 2.0, size / 2.0]) - np.array(centre)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_AREA,
                          borderMode=cv2.BORDER_REPLICATE)
