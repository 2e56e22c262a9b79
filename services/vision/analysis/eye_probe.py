"""Is each eye visible? A linear probe on FaceNet's mid-level features at the eye.

The colour-and-contrast reading of an eye (quality.py) cannot tell an open eye in shadow, a
squint in a smile or a dark-skinned eye from sunglasses: on LFW they read alike (docs/api.md,
"Quality gate"). FaceNet, trained on millions of faces with and without glasses, can: its
features after the 17 x 17 and 8 x 8 stages describe what is at the eye, not only its colour.

How: the landmark chip (256 px, aligned by the 5 points) shrunk to FaceNet's 160 px input runs
through the network up to `repeat_2` (896 channels on an 8 x 8 grid, about 60% of a FaceNet
pass); the features, averaged over 3 x 3 cells, are read at each eye's centre (from the 68
landmarks) and a logistic regression gives P(eye covered). The 896 weights (eye_probe.json)
were fitted by `bench/eye_probe.py --fit` on LFW View 1's pairsDevTrain people: every eye of the
3,443 photos as visible except those judged covered by eye (sunglasses, tinted lenses, goggles,
a cap's deep shadow, an eye hidden by the turn of the head; bench/eye_labels.tsv), classes
weighted equally, L2-regularised. Its figures, out-of-fold and on the held-out pairsDevTest
people, are in docs/api.md. It is a signal for the gate, not an attribute: quality.occlusion
counts an eye covered only when both the colour reading and this probe say so.
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from services.vision.analysis.landmarks import CHIP, LEFT_EYE, RIGHT_EYE
from services.vision.embedders import facenet_input, load_facenet

WEIGHTS = Path(__file__).with_name("eye_probe.json")
# An analysis field of the pipeline's own (not an answer's): the probe's P(covered) per eye,
# for the detector's second look (services/vision/pipeline.py).
PROBE_FIELD = "eye_probe"
FACENET_INPUT = 160
FEATURES = 896  # repeat_2's channels


def eye_centres(points_on_chip: np.ndarray) -> np.ndarray:
    """(2, 2): the image-left and image-right eye centres on the chip."""
    return np.stack([points_on_chip[LEFT_EYE].mean(0), points_on_chip[RIGHT_EYE].mean(0)])


class EyeProbe:
    def __init__(self, model_dir: Path, device: torch.device, weights: Path | None = WEIGHTS
                 ) -> None:
        """`weights` None: features only (what bench/eye_probe.py fits the weights on)."""
        network = load_facenet(model_dir)
        # only the stages the probe reads; the rest of the network is dropped
        self.trunk = torch.nn.Sequential(
            network.conv2d_1a, network.conv2d_2a, network.conv2d_2b, network.maxpool_3a,
            network.conv2d_3b, network.conv2d_4a, network.conv2d_4b, network.repeat_1,
            network.mixed_6a, network.repeat_2).to(device).eval()
        self.device = device
        # as arrays once: `covered` runs on every gated face
        fitted = json.loads(weights.read_text()) if weights else None
        self.probe = {key: np.asarray(fitted[key]) for key in ("mean", "scale", "weights",
                                                                "bias")} if fitted else None

    @torch.inference_mode()
    def features(self, chips: list[np.ndarray], centres: np.ndarray) -> np.ndarray:
        """(N, 2, 896) for N chips and their (N, 2, 2) eye centres in chip pixels."""
        if not chips:
            return np.zeros((0, 2, FEATURES), np.float32)
        small = np.stack([cv2.resize(chip, (FACENET_INPUT, FACENET_INPUT),
                                     interpolation=cv2.INTER_AREA) for chip in chips])
        grid = self.trunk(facenet_input(torch.from_numpy(small).to(self.device)))
        pooled = F.avg_pool2d(grid, 3, stride=1, padding=1, count_include_pad=False)
        # pixel centres to grid_sample's [-1, 1] (align_corners=False)
        where = torch.from_numpy((np.asarray(centres, np.float32) + 0.5) / (CHIP / 2) - 1.0)
        sampled = F.grid_sample(pooled, where.to(self.device).view(len(chips), 2, 1, 2),
                                align_corners=False)
        return sampled[..., 0].permute(0, 2, 1).float().cpu().numpy()

    def __call__(self, chips: list[np.ndarray], centres: np.ndarray) -> np.ndarray:
        """(N, 2) P(covered), image-left eye first."""
        return covered(self.probe, self.features(chips, centres))


def covered(probe: dict, features: np.ndarray) -> np.ndarray:
    """P(covered) for each eye of `features` (..., 896) under `probe` (eye_probe.json's
    standardisation, weights and bias)."""
    logits = ((features - np.asarray(probe["mean"])) / np.asarray(probe["scale"])
              ) @ np.asarray(probe["weights"]) + probe["bias"]
    return 1.0 / (1.0 + np.exp(-logits))
