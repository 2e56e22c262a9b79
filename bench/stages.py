"""Where an image's time goes in the worker's pipeline, stage by stage, in one process.

    .venv/bin/python -m bench.stages [--image portrait|group] [--batch 32] [--device cuda]

Stages, each timed over --repeat passes of --batch images with the device synchronised before
and after: JPEG decode (Pillow, one thread; and nvJPEG through torchvision.io on CUDA when
torchvision is installed, for comparison), the upload of decoded pixels, MTCNN's three stages
(P-Net over the image pyramid with its NMS, R-Net with its crops, O-Net with its crops), the
embedder's face crops on the CPU, the embedder's forward pass, and msgpack of the result. The
last column is each stage's share of the sum.
"""

from __future__ import annotations

import argparse
import time

import msgpack
import numpy as np
import torch

from bench.inputs import GROUP_FACES, group_1080p, portraits_640x480
from bench.machine import describe
from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN
from shared.images import decode
from shared.settings import Settings
from workers.engine import choose_device


def timed(fn, device: torch.device, repeat: int):
    fn()  # warm-up (and cuDNN's first-call set-up)
    best, out = float("inf"), None
    for _ in range(repeat):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        out = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t0)
    return best, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", choices=["portrait", "group"], default="portrait")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    settings = Settings()
    device = choose_device(args.device)
    torch.set_grad_enabled(False)
    print(describe(device))
    sources = portraits_640x480() if args.image == "portrait" else [group_1080p()]
    datas = [sources[k % len(sources)] for k in range(args.batch)]
    detector = MTCNN(device, int(settings.min_face_px * 0.8))
    embedder = load_embedder(settings.embedder, device, settings.model_dir, half=settings.fp16,
                             channels_last=settings.channels_last)
    rows: list[tuple[str, float]] = []

    t, images = timed(lambda: [decode(d).rgb for d in datas], device, args.repeat)
    rows.append(("JPEG decode, Pillow, 1 thread", t))
    if device.type == "cuda":
        try:
            from torchvision.io import decode_jpeg

            raw = [torch.frombuffer(bytearray(d), dtype=torch.uint8) for d in datas]
            t_nv, _ = timed(lambda: decode_jpeg(raw, device=device), device, args.repeat)
            print(f"(nvJPEG through torchvision.io.decode_jpeg, batch of {args.batch}: "
                  f"{1000 * t_nv / args.batch:.3f} ms per image; not in the sum)")
        except (ImportError, RuntimeError) as exc:
            print(f"(nvJPEG not measured: {exc})")
    t, tensors = timed(lambda: [torch.from_numpy(np.ascontiguousarray(i)).to(device)
                                .permute(2, 0, 1).float() for i in images], device, args.repeat)
    rows.append(("upload to the device", t))
    t, (boxes, owners) = timed(lambda: detector._stage_one(tensors), device, args.repeat)
    rows.append(("MTCNN P-Net pyramid + NMS", t))
    t, (boxes2, owners2) = timed(lambda: detector._stage_two(tensors, boxes.clone(), owners),
                                 device, args.repeat)
    rows.append(("MTCNN R-Net (crops, net, NMS)", t))
    t, _ = timed(lambda: detector._stage_three(tensors, boxes2.clone(), owners2), device,
                 args.repeat)
    rows.append(("MTCNN O-Net (crops, net, NMS)", t))
    detections = detector.detect(images)
    size = settings.min_face_px  # the pipeline drops smaller faces before embedding
    kept = [[k for k in range(len(det)) if min(det.boxes[k, 2] - det.boxes[k, 0],
                                              det.boxes[k, 3] - det.boxes[k, 1]) >= size]
            for det in detections]
    faces = sum(len(k) for k in kept)

    def crop_all() -> list[np.ndarray]:
        return [embedder.crop(image, det.boxes[k], det.points[k])
                for image, det, ks in zip(images, detections, kept, strict=True) for k in ks]

    t, crops = timed(crop_all, device, args.repeat)
    rows.append(("embedder crops (CPU)", t))
    t, vectors = timed(lambda: embedder.embed(crops), device, args.repeat)
    rows.append((f"embedder forward ({len(crops)} faces)", t))
    result = {"images": [{"faces": [{"box": [1, 2, 3, 4], "prob": 0.99,
                                     "points": [[1.0, 2.0]] * 5,
                                     "embedding": v.astype("<f4").tobytes()}]}
                         for v in vectors]}
    t, _ = timed(lambda: msgpack.packb(result), device, args.repeat)
    rows.append(("msgpack the result", t))
    total = sum(t for _, t in rows)
    print(f"{args.image}: batch of {args.batch} images, {faces} faces "
          f"({GROUP_FACES if args.image == 'group' else 1} expected per image); "
          f"best of {args.repeat}")
    print(f"{'stage':<36} {'ms per batch':>12} {'ms per image':>12} {'share':>6}")
    for name, t in rows:
        print(f"{name:<36} {1000 * t:>12.2f} {1000 * t / args.batch:>12.3f} "
              f"{100 * t / total:>5.1f}%")
    print(f"{'sum':<36} {1000 * total:>12.2f} {1000 * total / args.batch:>12.3f} "
          f"-> {args.batch / total:,.0f} images/s if nothing overlapped")


if __name__ == "__main__":
    main()
