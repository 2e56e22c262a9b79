"""Mesh removal on synthetic ID photos: PSNR against the clean photo and FaceNet similarity.

    .venv/bin/python -m bench.removewater

Each portrait test face is framed like an ID-card photo (358 x 441 around the face), overlaid
with the wavy mesh of tests/support/masks.put_mesh, cleaned with remove_mesh, and compared
with the clean photo: PSNR (dB) and the cosine of FaceNet embeddings, meshed vs cleaned. Also
the time remove_mesh takes per photo.
"""

from __future__ import annotations

import time

import cv2
import numpy as np
import torch

from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN
from services.vision.removewater import remove_mesh
from shared.images import decode
from shared.settings import get_settings
from tests.support.faces import fetch
from tests.support.masks import put_mesh

PORTRAITS = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(10 * np.log10(255.0 ** 2 / np.mean((a.astype(float) - b.astype(float)) ** 2)))


def main() -> None:
    torch.set_num_threads(2)
    detector = MTCNN(torch.device("cpu"))
    embedder = load_embedder("facenet", torch.device("cpu"), get_settings().model_dir)

    def vector(image: np.ndarray) -> np.ndarray:
        det = detector.detect([image])[0]
        k = int(np.argmax(det.probs))
        return embedder.embed([embedder.crop(image, det.boxes[k], det.points[k])])[0]

    files = fetch()
    print(f"{'image':14s} {'PSNR meshed':>11s} {'cleaned':>8s} {'gain':>6s} "
          f"{'cos meshed':>10s} {'cleaned':>8s} {'ms':>6s}")
    for name in PORTRAITS:
        image = decode(files[name].read_bytes()).rgb
        det = detector.detect([image])[0]
        k = int(np.argmax(det.probs))
        x1, y1, x2, y2 = det.boxes[k][:4].astype(int)
        cx, cy, side = (x1 + x2) // 2, (y1 + y2) // 2, y2 - y1
        region = image[max(cy - side, 0):cy + side, max(cx - int(0.8 * side), 0):
                       cx + int(0.8 * side)]
        clean = cv2.resize(region, (358, 441), interpolation=cv2.INTER_AREA)
        meshed = put_mesh(clean, seed=7)
        started = time.perf_counter()
        cleaned = remove_mesh(meshed)
        ms = 1000 * (time.perf_counter() - started)
        reference = vector(clean)
        before, after = psnr(meshed, clean), psnr(cleaned, clean)
        print(f"{name:14s} {before:11.2f} {after:8.2f} {after - before:6.2f} "
              f"{float(reference @ vector(meshed)):10.4f} "
              f"{float(reference @ vector(cleaned)):8.4f} {ms:6.1f}")


if __name__ == "__main__":
    main()
