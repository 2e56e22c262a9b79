"""What FaceNet in half precision does to LFW View 1 decisions, emulated on the CPU.

    .venv/bin/python -m bench.fp16_accuracy [--pairs 300] [--lfw PATH]

The same face crops (MTCNN boxes, central 150 x 150 region as bench/lfw.py sends) go through
the fp32 model and an fp16 copy; the script prints the largest cosine change, how many pair
decisions at the calibrated threshold flip, and the accuracy of each on the pairs used (the
first --pairs same and --pairs different pairs of pairsDevTest). On a GPU, fp16 convolutions
accumulate in fp32 (tensor cores), so this CPU run is an estimate of the numeric effect, not
the GPU measurement itself; run it on the GPU host with --device cuda for that.
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import numpy as np
import torch

from bench.lfw import DEFAULT_ROOT, central_jpeg, read_pairs
from services.vision.embedders import facenet_input, load_embedder
from services.vision.mtcnn import MTCNN
from shared.images import decode
from shared.models import FACENET
from shared.settings import get_settings


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=300)
    parser.add_argument("--lfw", type=Path, default=DEFAULT_ROOT)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.set_num_threads(2)
    pairs = read_pairs(args.lfw, "pairsDevTest.txt")
    same = [p for p in pairs if p.same][:args.pairs]
    other = [p for p in pairs if not p.same][:args.pairs]
    chosen = same + other
    detector = MTCNN(device)
    embedder = load_embedder("facenet", device, get_settings().model_dir)
    half = copy.deepcopy(embedder.model).half()
    crops: dict[str, np.ndarray | None] = {}
    for name in sorted({p.a for p in chosen} | {p.b for p in chosen}):
        image = decode(central_jpeg(args.lfw, name)).rgb
        det = detector.detect([image])[0]
        if not len(det.probs):
            crops[name] = None
            continue
        areas = (det.boxes[:, 2] - det.boxes[:, 0]) * (det.boxes[:, 3] - det.boxes[:, 1])
        k = int(np.argmax(areas))
        crops[name] = embedder.crop(image, det.boxes[k], det.points[k])
    names = [n for n, c in crops.items() if c is not None]
    full, reduced = {}, {}
    with torch.inference_mode():
        for start in range(0, len(names), 16):
            chunk = names[start:start + 16]
            batch = facenet_input(torch.from_numpy(np.stack([crops[n] for n in chunk])
                                                   ).to(device))
            a = torch.nn.functional.normalize(embedder.model(batch)).cpu().numpy()
            b = torch.nn.functional.normalize(half(batch.half()).float()).cpu().numpy()
            for n, va, vb in zip(chunk, a, b, strict=True):
                full[n], reduced[n] = va, vb
    t = FACENET.cos_threshold
    rows = [(float(full[p.a] @ full[p.b]), float(reduced[p.a] @ reduced[p.b]), p.same)
            for p in chosen if p.a in full and p.b in full]
    c32, c16, truth = (np.array(c) for c in zip(*rows, strict=True))
    flips = int(np.sum((c32 >= t) != (c16 >= t)))
    print(f"{len(rows)} pairs ({len(names)} images), device {device}, threshold {t}")
    print(f"max |cosine fp32 - fp16| {np.abs(c32 - c16).max():.2e}, "
          f"mean {np.abs(c32 - c16).mean():.2e}")
    print(f"decisions flipped: {flips}; accuracy fp32 {np.mean((c32 >= t) == truth):.4%}, "
          f"fp16 {np.mean((c16 >= t) == truth):.4%}")
    print(f"smallest distance of an fp32 cosine to the threshold: {np.abs(c32 - t).min():.2e}")


if __name__ == "__main__":
    main()
