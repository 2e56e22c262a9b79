"""LFW View 1 on the GPU against the CPU: the same faces, the same embeddings, the same pair
decisions at the calibrated threshold, in fp32 and in fp16.

Two steps, because the GPU host need not have the data set or the CPU time:

    # on any machine with LFW View 1 (CPU path, as CPU workers run it):
    .venv/bin/python -m bench.gpu_parity pack --out lfw-pack.npz [--embedder facenet]
    # on the GPU host, with the pack copied there:
    .venv/bin/python -m bench.gpu_parity check --pack lfw-pack.npz

The pack holds every View 1 image (pairsDevTrain + pairsDevTest, 3,200 pairs) as the JPEG of
its central 150 x 150 region that bench/lfw.py sends, and the CPU pipeline's answers for each
(the chosen face's box and its embedding), plus the pixel checksum of each decoded JPEG so the
GPU host can prove it decoded the same pixels. `check` runs the GPU pipeline (the worker's
settings: MTCNN, the embedder, channels-last) in fp32 and fp16 on the same bytes and prints
how many images, faces, embeddings and pair decisions differ.
"""

from __future__ import annotations

import argparse
import hashlib
import time
from pathlib import Path

import numpy as np
import torch

from bench.lfw import DEFAULT_ROOT, accuracy, central_jpeg, read_pairs
from bench.machine import describe
from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN
from services.vision.pipeline import FacePipeline
from shared import canonical
from shared.images import decode
from shared.models import MODELS
from shared.results import ImageResult
from shared.settings import Settings
from shared.tasks import image_spec


def _pipeline(device: torch.device, embedder: str, settings: Settings, half: bool = False
              ) -> FacePipeline:
    return FacePipeline(MTCNN(device, min_face=24).detect,
                        load_embedder(embedder, device, settings.model_dir, half=half,
                                      channels_last=settings.channels_last),
                        min_face=settings.min_face_px)


def _run(pipeline: FacePipeline, jpegs: list[bytes], batch: int = 64):
    """(found, boxes x y w h, embeddings) per image: the largest face, as the API chooses."""
    found = np.zeros(len(jpegs), bool)
    boxes = np.zeros((len(jpegs), 4), np.float32)
    vectors = np.zeros((len(jpegs), pipeline.embedder.spec.dim), np.float32)
    for start in range(0, len(jpegs), batch):
        chunk = jpegs[start:start + batch]
        result = pipeline.run({"images": [image_spec(j, canonical.LARGEST, embed=True)
                                          for j in chunk]})
        for k, image in enumerate(result.images):
            if isinstance(image, ImageResult) and image.faces:
                face = image.faces[0]
                found[start + k] = True
                boxes[start + k] = face.box
                vectors[start + k] = face.embedding
    return found, boxes, vectors


def pack(args: argparse.Namespace) -> None:
    settings = Settings()
    pairs = read_pairs(args.root, "pairsDevTrain.txt") + read_pairs(args.root, "pairsDevTest.txt")
    names = sorted({p.a for p in pairs} | {p.b for p in pairs})
    jpegs = [central_jpeg(args.root, n) for n in names]
    index = {n: k for k, n in enumerate(names)}
    a = np.array([index[p.a] for p in pairs])
    b = np.array([index[p.b] for p in pairs])
    out = {"embedders": np.array(args.embedders), "names": np.array(names),
           "digests": np.array([hashlib.sha256(decode(j).rgb.tobytes()).hexdigest()[:16]
                                for j in jpegs]),
           "jpeg_bytes": np.frombuffer(b"".join(jpegs), np.uint8),
           "jpeg_offsets": np.cumsum([0, *map(len, jpegs)]), "pair_a": a, "pair_b": b,
           "same": np.array([p.same for p in pairs])}
    for embedder in args.embedders:
        started = time.perf_counter()
        found, boxes, vectors = _run(_pipeline(torch.device("cpu"), embedder, settings), jpegs)
        print(f"{embedder}: {len(names)} images, {len(pairs)} pairs, CPU pipeline "
              f"{time.perf_counter() - started:.0f} s, no face in {int((~found).sum())}")
        # vectors as fp16 to keep the pack small (a unit vector's cosine moves ~1e-7);
        # pair cosines exactly, from the fp32 vectors
        out |= {f"{embedder}_found": found, f"{embedder}_boxes": boxes,
                f"{embedder}_vectors": vectors.astype(np.float16),
                f"{embedder}_pair_cos": _pair_cosines(found, vectors, a, b)}
    np.savez_compressed(args.out, **out)
    print(f"wrote {args.out} ({Path(args.out).stat().st_size / 2**20:.1f} MiB)")


def _pair_cosines(found, vectors, a, b) -> np.ndarray:
    cos = np.sum(vectors[a].astype(np.float64) * vectors[b], axis=1)
    cos[~(found[a] & found[b])] = -1.0  # a pair with a missing face is a miss
    return cos


def check(args: argparse.Namespace) -> None:
    data = np.load(args.pack)
    settings = Settings()
    device = torch.device(args.device)
    offsets = data["jpeg_offsets"]
    raw = data["jpeg_bytes"].tobytes()
    jpegs = [raw[offsets[k]:offsets[k + 1]] for k in range(len(offsets) - 1)]
    same_pixels = sum(hashlib.sha256(decode(j).rgb.tobytes()).hexdigest()[:16] == d
                      for j, d in zip(jpegs, data["digests"], strict=True))
    a, b, same = data["pair_a"], data["pair_b"], data["same"]
    print(describe(device))
    print(f"{len(jpegs)} LFW View 1 images, {len(same)} pairs; decoded pixels identical to "
          f"the packing host's for {same_pixels} of {len(jpegs)}")
    for embedder in [str(e) for e in data["embedders"]]:
        t = MODELS[embedder].cos_threshold
        cpu_found = data[f"{embedder}_found"]
        cpu_vectors = data[f"{embedder}_vectors"].astype(np.float32)
        cpu_cos = data[f"{embedder}_pair_cos"]
        print(f"{embedder} on the CPU (from the pack): accuracy at t={t} "
              f"{accuracy(cpu_cos, same, t):.4%}, faces found {int(cpu_found.sum())}")
        for label, half in (("CUDA fp32", False), ("CUDA fp16", True)):
            pipeline = _pipeline(device, embedder, settings, half=half)
            _run(pipeline, jpegs[:64])  # warm-up
            torch.cuda.synchronize()
            started = time.perf_counter()
            found, boxes, vectors = _run(pipeline, jpegs)
            elapsed = time.perf_counter() - started
            both = found & cpu_found
            box_diff = np.abs(boxes[both] - data[f"{embedder}_boxes"][both]).max(axis=1)
            cos_img = np.sum(vectors[both] * cpu_vectors[both], axis=1)
            gpu_cos = _pair_cosines(found, vectors, a, b)
            flips = int(np.sum((gpu_cos >= t) != (cpu_cos >= t)))
            print(f"  {label}: {len(jpegs) / elapsed:.0f} images/s in-process (batches of 64); "
                  f"face found on one side only: {int(np.sum(found != cpu_found))}; boxes off "
                  f"by more than 2 px: {int(np.sum(box_diff > 2))} (largest {box_diff.max():.0f}"
                  f" px); embedding cosine to the CPU's: min {cos_img.min():.6f}, 0.1st "
                  f"percentile {np.percentile(cos_img, 0.1):.6f}, mean {cos_img.mean():.6f}")
            print(f"    pair cosines move at most {np.abs(gpu_cos - cpu_cos).max():.2e}; "
                  f"decisions flipped at t: {flips} of {len(same)}; accuracy "
                  f"{accuracy(gpu_cos, same, t):.4%}; the CPU pair cosine nearest t is "
                  f"{np.abs(cpu_cos - t).min():.2e} from it")


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="step", required=True)
    p = sub.add_parser("pack")
    p.add_argument("--root", type=Path, default=DEFAULT_ROOT)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--embedders", nargs="+", default=["facenet", "arcface"])
    c = sub.add_parser("check")
    c.add_argument("--pack", type=Path, required=True)
    c.add_argument("--device", default="cuda")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    pack(args) if args.step == "pack" else check(args)


if __name__ == "__main__":
    main()
