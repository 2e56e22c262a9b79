"""Head pose (yaw, pitch, roll in degrees) from a face's landmarks: a linear model fitted to
labelled head poses.

Inputs: the 68 landmarks, MTCNN's 5 points and its box, turned so the eyes are level (yaw and
pitch are then free of in-plane rotation), centred on the landmarks' mean and scaled by their
RMS spread. Outputs: yaw, pitch, and roll's difference from the eye line's angle (the head's
roll is not the eye line's angle once the head is turned). The box and the 5 points carry what
the 68 points lose on turned faces: dlib's predictor bends a profile towards a frontal shape.

The weights (head_pose.json) are fitted by `bench/pose.py --fit` on the AFLW2000-3D photos of
../shared/datasets/pose-dev, each also mirrored (a mirror image reads the negated yaw and roll),
ridge-regularised with a robust (Huber) loss; their error, in and beyond 60 degrees of yaw, is
in docs/api.md ("Face analysis"). AFLW is for non-commercial research, like the 68-point
predictor's iBUG 300-W data: a commercial deployment should refit these 462 numbers on data it
may use (same command).

Signs: yaw < 0 when the nose points to the image's left, > 0 to its right; pitch > 0 when the
face looks down, < 0 up; roll > 0 clockwise in the image (Baidu's conventions).
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).with_name("head_pose.json")


def eye_line_angle(points68: np.ndarray) -> float:
    """Angle of the line between the eye centres, degrees, clockwise positive."""
    left = points68[36:42].mean(0)
    right = points68[42:48].mean(0)
    return math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))


def features(points68: np.ndarray, points5: np.ndarray, box: tuple | list) -> np.ndarray:
    """The model's inputs: 68 + 5 points and the box's corners (box is x, y, width, height),
    levelled, centred on the 68 points' mean and scaled by their RMS distance from it."""
    angle = math.radians(eye_line_angle(points68))
    c, s = math.cos(angle), math.sin(angle)
    level = np.array([[c, -s], [s, c]])
    centre = points68.mean(0)
    p68 = (np.asarray(points68, np.float64) - centre) @ level
    scale = float(np.sqrt((p68 ** 2).sum(1).mean())) or 1.0
    x, y, w, h = (float(v) for v in box)
    corners = np.array([[x, y], [x + w, y], [x, y + h], [x + w, y + h]])
    p5 = (np.asarray(points5, np.float64) - centre) @ level
    rest = (corners - centre) @ level
    return np.concatenate([p68.reshape(-1), p5.reshape(-1), rest.reshape(-1)]) / scale


@cache
def _model(path: Path = WEIGHTS) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    data = json.loads(path.read_text())
    return (np.asarray(data["mean"]), np.asarray(data["weights"]),
            np.asarray(data["intercept"]))


def head_pose(points68: np.ndarray, points5: np.ndarray, box: tuple | list
              ) -> dict[str, float]:
    mean, weights, intercept = _model()
    yaw, pitch, roll_offset = (features(points68, points5, box) - mean) @ weights + intercept
    eye_line = eye_line_angle(points68)
    roll = eye_line + roll_offset
    # Baidu's rotation_angle: the face box's clockwise turn from upright, whole degrees
    return {"yaw": round(float(yaw), 2), "pitch": round(float(pitch), 2),
            "roll": round(float(roll), 2), "rotation_angle": round(eye_line)}
