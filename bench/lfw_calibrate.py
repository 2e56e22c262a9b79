"""Calibrate an embedder on LFW View 1, in-process: the same-person cosine threshold (chosen on
pairsDevTrain) and the slope of the score mapping; prints accuracy on pairsDevTest and 10-fold.

    .venv/bin/python -m bench.lfw_calibrate --embedder facenet
The printed cos_threshold_train and slope are what shared/models.py holds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from bench.lfw import DEFAULT_ROOT, embed_all, print_report, read_pairs, report
from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN
from services.vision.pipeline import FacePipeline
from shared import canonical
from shared.models import RECOMMENDED_SCORE
from shared.settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--embedder", default="facenet")
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--limit", type=int, default=0, help="pairs per list, 0 for all")
    args = parser.parse_args()
    settings = get_settings()
    device = torch.device("cpu")
    embedder = load_embedder(args.embedder, device, settings.model_dir)
    pipeline = FacePipeline(MTCNN(device, min_face=24).detect, embedder,
                            min_face=settings.min_face_px)
    train = read_pairs(args.root, "pairsDevTrain.txt")
    test = read_pairs(args.root, "pairsDevTest.txt")
    if args.limit:
        n = args.limit
        train, test = train[:n] + train[-n:], test[:n] + test[-n:]

    def embed_batch(jpegs: list[bytes]) -> list[np.ndarray | None]:
        result = pipeline.run({"images": [canonical.image_spec(j, canonical.LARGEST, embed=True)
                                          for j in jpegs]})
        return [np.frombuffer(r["faces"][0]["embedding"], "<f4") if r.get("faces") else None
                for r in result["images"]]

    start = time.perf_counter()
    vectors = embed_all(args.root, train + test, embed_batch)
    elapsed = time.perf_counter() - start
    out = report(f"{args.embedder} in-process", train, test, vectors,
                 embedder.spec.score, RECOMMENDED_SCORE)
    out["seconds"] = elapsed
    print_report(out)


if __name__ == "__main__":
    main()
