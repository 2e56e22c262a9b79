"""What the enrolment thumbnails cost: bytes stored per face, and the time to make one
against the time of the enrolment pass that makes it, on LFW photos.

    .venv/bin/python -m bench.thumbnails [--photos 300] [--size 96]

Each photo runs the worker's enrolment request (vision.enrol_spec: largest face, upright,
embedded, the gate's analysis) once with thumbnails and once without, alternating, in the
worker's Engine in this process; the thumbnails' sizes are read off the answers.
"""

from __future__ import annotations

import argparse
import statistics
import time

from bench.lfw import DEFAULT_ROOT
from services.recognition import vision
from shared.results import ImageResult
from shared.settings import Settings
from workers.engine import Engine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--photos", type=int, default=300)
    parser.add_argument("--size", type=int, default=96)
    args = parser.parse_args()
    every = sorted(DEFAULT_ROOT.rglob("*.jpg"))
    files = every[::max(1, len(every) // args.photos)][:args.photos]  # spread over the names
    photos = [path.read_bytes() for path in files]
    engine = Engine(Settings())
    engine.warm_up()
    sizes: list[int] = []
    with_s: list[float] = []
    without_s: list[float] = []
    for index, data in enumerate(photos):
        for thumbnail in ((args.size, 0) if index % 2 else (0, args.size)):
            started = time.perf_counter()
            answer = engine.run({"images": [vision.enrol_spec(data, True, thumbnail)]})
            elapsed = time.perf_counter() - started
            (with_s if thumbnail else without_s).append(elapsed)
            image = answer.images[0]
            faces = image.faces if isinstance(image, ImageResult) else []
            if thumbnail and faces:
                sizes.append(len(faces[0].thumbnail))
    sizes.sort()
    print(f"photos: {len(photos)} LFW View 1 images, faces with a thumbnail: {len(sizes)}, "
          f"{args.size} x {args.size} JPEG")
    print(f"bytes per thumbnail: mean {statistics.mean(sizes):.0f}, median "
          f"{statistics.median(sizes):.0f}, p95 {sizes[int(0.95 * len(sizes))]}, max "
          f"{sizes[-1]}; per million faces {statistics.mean(sizes) * 1e6 / 2**30:.2f} GiB")
    mean_with, mean_without = statistics.mean(with_s), statistics.mean(without_s)
    print(f"enrolment pass per photo: with thumbnail {1000 * mean_with:.1f} ms, without "
          f"{1000 * mean_without:.1f} ms, ratio {mean_with / mean_without:.3f}")


if __name__ == "__main__":
    main()
