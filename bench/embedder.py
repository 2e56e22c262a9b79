"""The embedder alone: faces/s per batch size and precision, and the share of the device's
peak arithmetic rate it reaches.

    .venv/bin/python -m bench.embedder [--device cuda] [--batches 32,64,128,256,512]
        [--seconds 3] [--embedder facenet]

Input: real face crops (the portrait test faces, MTCNN-cropped as the product crops them),
repeated to fill each batch, uploaded as uint8 the way the worker does. Each figure is the
best of --seconds of back-to-back batches after a warm-up, timed with the device synchronised,
from the uint8 host array to unit vectors back on the host. Variants on CUDA: fp32 with
TF32 convolutions (PyTorch's default), strict fp32, fp16, each also channels-last. FLOPs are
counted by torch.utils.flop_counter on one forward pass (multiply-add = 2 FLOPs).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.flop_counter import FlopCounterMode

from bench.inputs import as_array, portraits_640x480
from bench.machine import describe
from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN
from shared.settings import Settings
from workers.engine import choose_device

# Dense tensor-core peaks from NVIDIA's data sheets (TFLOP/s): fp16/bf16, tf32; fp32 (no tensor
# cores). The H200 has the H100 SXM's arithmetic.
PEAKS = {"H100 PCIe": (756.0, 378.0, 51.2), "H100": (989.4, 494.7, 66.9),
         "H200": (989.4, 494.7, 66.9), "A100": (312.0, 156.0, 19.5)}


def peaks(device: torch.device) -> tuple[float, float, float] | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, value in PEAKS.items():
        if key in name:
            return value
    return None


def face_crops(embedder, device: torch.device) -> list[np.ndarray]:
    detector = MTCNN(device, 24)
    crops = []
    for data in portraits_640x480():
        image = as_array(data)
        det = detector.detect([image])[0]
        k = int(np.argmax(det.probs))
        crops.append(embedder.crop(image, det.boxes[k], det.points[k]))
    return crops


def flops_per_face(model: torch.nn.Module, size: int, device: torch.device,
                   dtype: torch.dtype) -> float:
    counter = FlopCounterMode(display=False)
    with counter, torch.inference_mode():
        model(torch.zeros(1, 3, size, size, device=device, dtype=dtype))
    return float(counter.get_total_flops())


def rate(fn, batch: list[np.ndarray], device: torch.device, seconds: float) -> float:
    fn(batch)
    fn(batch)
    best = 0.0
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn(batch)
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = max(best, len(batch) / (time.perf_counter() - t0))
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--embedder", default="facenet")
    parser.add_argument("--batches", default="32,64,128,256,512")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    settings = Settings()
    device = choose_device(args.device)
    print(describe(device))
    batches = [int(b) for b in args.batches.split(",")]
    variants = [("fp32", False, False)]
    if device.type == "cuda" and args.embedder == "facenet":
        variants = [("fp32 (tf32 conv)", False, False), ("fp32 (tf32 conv) channels-last",
                                                         False, True),
                    ("fp32 strict", False, False), ("fp16", True, False),
                    ("fp16 channels-last", True, True)]
    top = peaks(device)
    reference = load_embedder(args.embedder, device, settings.model_dir)
    crops = face_crops(reference, device)
    print(f"embedder {args.embedder}, crop {reference.size} px; real face crops x batch")
    for name, half, channels_last in variants:
        embedder = load_embedder(args.embedder, device, settings.model_dir, half=half,
                                 channels_last=channels_last)
        strict = name == "fp32 strict"
        torch.backends.cudnn.allow_tf32 = not strict
        model = getattr(embedder, "model", None)
        flops = (flops_per_face(model, embedder.size, device, embedder.dtype)
                 if model is not None else float("nan"))
        line = []
        best = 0.0
        for b in batches:
            batch = [crops[k % len(crops)] for k in range(b)]
            r = rate(embedder.embed, batch, device, args.seconds)
            best = max(best, r)
            line.append(f"{b}: {r:,.0f}")
        share = ""
        if model is not None:
            share = f"; {flops / 1e9:.2f} GFLOP/face -> {best * flops / 1e12:.2f} TFLOP/s"
        if top and model is not None:
            peak = top[0] if half else (top[2] if strict else top[1])
            share += f" = {100 * best * flops / 1e12 / peak:.1f}% of the {peak:.0f} TFLOP/s peak"
        print(f"{name:<32} faces/s by batch  " + ", ".join(line) + share)
    torch.backends.cudnn.allow_tf32 = True


if __name__ == "__main__":
    main()
