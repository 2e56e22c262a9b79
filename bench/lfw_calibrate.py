"""Calibrate an embedder's score on LFW View 1, in-process, through the product's own pipeline
(MTCNN, the largest face, the embedder's crop), and check the calibration it ships with.

    .venv/bin/python -m bench.lfw_calibrate --embedder facenet

Every View 1 image (4,992, from pairsDevTrain + pairsDevTest) goes in as its central 150 x 150
region (bench/lfw.py). Printed:
- 10-fold accuracy on the 3,200 official pairs (threshold chosen on 9 folds, scored on the 10th);
- over every pair of images with a face: impostors are all pairs of different people (about 12.4
  million), genuine pairs all pairs of the same person (3,192); for each false-match rate of
  shared/models.py's SCORE_FMR, the cosine where that share of impostors lies at or above it,
  and the FNMR there: the `_points(...)` literal that shared/models.py holds;
- with the calibration shared/models.py holds now: the FMR and FNMR measured at each published
  score (the table in docs/api.md and /v1/models).
Embeddings are cached in .cache/bench/lfw-calibrate/ (delete it after changing the pipeline).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from bench.lfw import (
    DEFAULT_ROOT,
    all_pairs,
    central_jpeg,
    cosine_at_fmr,
    read_pairs,
    ten_fold,
    view1_names,
)
from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN, detect_below
from services.vision.pipeline import FacePipeline
from shared import canonical
from shared.models import SCORE_FMR, model_for
from shared.results import ImageResult
from shared.settings import get_settings
from shared.tasks import image_spec

CACHE = Path(__file__).resolve().parents[1] / ".cache" / "bench" / "lfw-calibrate"


def product_embeddings(root: Path, embedder: str) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, found) for view1_names: the product's embedding of each image's largest face;
    found is False where no face was detected (its vector is zero)."""
    path = CACHE / f"{model_for(embedder).key}.npz"
    if path.is_file():
        saved = np.load(path)
        return saved["vectors"], saved["found"]
    names = view1_names(root)
    started = time.perf_counter()
    vectors, found = embed_names(root, names, embedder)
    print(f"({len(names)} images embedded in {time.perf_counter() - started:.0f} s)")
    CACHE.mkdir(parents=True, exist_ok=True)
    np.savez(path, vectors=vectors, found=found)
    return vectors, found


def embed_names(root: Path, names: list[str], embedder: str) -> tuple[np.ndarray, np.ndarray]:
    """(vectors, found) of these View 1 images' largest faces through the product's pipeline
    (MTCNN, central 150 x 150 crops, the embedder's own crop), 16 images per pass, on the CPU."""
    settings = get_settings()
    device = torch.device("cpu")
    pipeline = FacePipeline(MTCNN(device, detect_below(settings.min_face_px)).detect,
                            load_embedder(embedder, device, settings.model_dir),
                            min_face=settings.min_face_px)
    spec = model_for(embedder)
    vectors, found = np.zeros((len(names), spec.dim), np.float32), np.zeros(len(names), bool)
    for start in range(0, len(names), 16):
        result = pipeline.run({"images": [image_spec(
            central_jpeg(root, n), canonical.LARGEST, rotate=True, embed=True)
            for n in names[start:start + 16]]})
        for k, image in enumerate(result.images, start):
            if isinstance(image, ImageResult) and image.faces:
                vectors[k] = image.faces[0].embedding
                found[k] = True
    return vectors, found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedder", default="facenet")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    spec = model_for(args.embedder)
    names = view1_names(args.root)
    vectors, found = product_embeddings(args.root, args.embedder)
    index = {n: k for k, n in enumerate(names)}
    pairs = read_pairs(args.root, "pairsDevTrain.txt") + read_pairs(args.root, "pairsDevTest.txt")
    a = np.array([index[p.a] for p in pairs])
    b = np.array([index[p.b] for p in pairs])
    cos = np.where(found[a] & found[b], np.sum(vectors[a] * vectors[b], axis=1), -1.0)
    mean, std = ten_fold(cos, np.array([p.same for p in pairs]))
    people = np.array([n.split("/")[0] for n in names])
    impostor, genuine = all_pairs(vectors[found], people[found])
    print(f"{spec.key}: {found.sum()} of {len(names)} images with a face; 10-fold accuracy on "
          f"{len(pairs)} official pairs {mean:.2%} +- {std:.2%}")
    print(f"all pairs: {len(impostor):,} impostor, {len(genuine):,} genuine")
    rows = []
    print(f"  {'FMR':>7} {'cosine':>8} {'FNMR':>7}")
    for _, fmr in SCORE_FMR:
        threshold = cosine_at_fmr(impostor, fmr)
        fnmr = float(np.mean(genuine < threshold))
        rows.append(f"({threshold:.4f}, {fnmr:.4f})")
        print(f"  {fmr:>7.0e} {threshold:>8.4f} {fnmr:>7.2%}")
    print(f"shared/models.py: operating_points=_points({', '.join(rows)})")
    print(f"with the shipped calibration of {spec.key} (score: measured FMR, FNMR):")
    for point in spec.operating_points:
        cosine = spec.cosine_for_score(point.score)
        print(f"  {point.score:.2f}: FMR {np.mean(impostor >= cosine):.2e}, "
              f"FNMR {np.mean(genuine < cosine):.2%}")


if __name__ == "__main__":
    main()
