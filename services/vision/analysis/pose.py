"""Head pose (yaw, pitch, roll in degrees) from the 68 landmarks.

Roll is the angle of the line between the eye centres (clockwise positive, as Baidu defines
it). Yaw and pitch come from cv2.solvePnP of six landmarks against a generic 3-D face (the
model popularised by learnopencv.com, in millimetres-like units) with a pinhole camera whose
focal length is the image width. A generic face is not the person's face, so a frontal face
could read a constant pitch; with the camera centred on the face (below) 150 LFW faces read a
median pitch of +0.1 degrees (mean +0.4, 10th-90th percentile -10 to +11) and median yaw +5.1
(bench/analysis_heads.py), so no offset is applied. Yaw and pitch are
not checked against measured head angles (no such data offline): treat them as estimates.
Signs: yaw < 0 when the nose points to the image's left, > 0 to its right; pitch > 0 when the
face looks down, < 0 up.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# nose tip 30, chin 8, eye outer corners 36 / 45, mouth corners 48 / 54; x right, y down, z away
# from the camera (so a frontal face has the identity rotation).
_MODEL = np.array([
    [0.0, 0.0, 0.0], [0.0, 330.0, 65.0], [-225.0, -170.0, 135.0], [225.0, -170.0, 135.0],
    [-150.0, 150.0, 125.0], [150.0, 150.0, 125.0]])
_INDEX = [30, 8, 36, 45, 48, 54]


def roll(points68: np.ndarray) -> float:
    left = points68[36:42].mean(0)
    right = points68[42:48].mean(0)
    return math.degrees(math.atan2(right[1] - left[1], right[0] - left[0]))


def _level(points68: np.ndarray) -> np.ndarray:
    """The points turned about their centre so the eyes are level. Euler angles of a head
    lying on its side mix yaw and pitch; solving the pose of the levelled face keeps the two
    apart, and roll is measured separately."""
    angle = math.radians(roll(points68))
    c, s = math.cos(angle), math.sin(angle)
    centre = points68.mean(0)
    return (points68 - centre) @ np.array([[c, -s], [s, c]]) + centre


def yaw_pitch(points68: np.ndarray, width: int, height: int) -> tuple[float, float]:
    points68 = _level(points68)
    image_points = points68[_INDEX].astype(np.float64)
    # The camera looks straight at the face: principal point on the face, focal length a few
    # face widths (a portrait distance). With the image centre as principal point, the same
    # frontal face read 12 degrees more pitch when it sat high in a large photo.
    centre = points68.mean(0)
    focal = 6.0 * float(np.ptp(points68[:, 0]))
    camera = np.array([[focal, 0, centre[0]], [0, focal, centre[1]], [0, 0, 1]], np.float64)
    ok, rvec, _ = cv2.solvePnP(_MODEL, image_points, camera, None,
                               flags=cv2.SOLVEPNP_ITERATIVE)
    if not ok:
        return 0.0, 0.0
    rotation, _ = cv2.Rodrigues(rvec)
    angles = cv2.RQDecomp3x3(rotation)[0]
    pitch, yaw = float(angles[0]), float(angles[1])
    return -_wrap(yaw), _wrap(pitch)


def _wrap(angle: float) -> float:
    return (angle + 180.0) % 360.0 - 180.0


def head_pose(points68: np.ndarray, width: int, height: int) -> dict[str, float]:
    yaw, pitch = yaw_pitch(points68, width, height)
    angle = roll(points68)
    # Baidu's rotation_angle: the face box's clockwise turn from upright, whole degrees
    return {"yaw": round(yaw, 2), "pitch": round(pitch, 2), "roll": round(angle, 2),
            "rotation_angle": round(angle)}
