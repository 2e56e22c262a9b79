"""What the declared worker result (shared/results.py) costs per result, against the inference
that made it, in one process.

    .venv/bin/python -m bench.result_contract [--repeat 200]

Two requests through the real engine (workers/engine.py, CPU unless --device): a portrait's
largest face embedded (the common feature / enrol request) and a 1080p group photo's faces
embedded with every analysis field. For each it prints the inference time (best of a few
passes) and, per result, the worker's dump (VisionResult.sent), msgpack both ways (what Celery
does), and the core's validation of what arrives (services/recognition/vision.received), with
their share of the inference time.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import msgpack

from bench.inputs import group_1080p, portraits_640x480
from bench.machine import describe
from services.recognition.vision import received
from shared import canonical
from shared.results import ANALYSIS_FIELDS
from shared.settings import Settings
from shared.tasks import image_spec
from workers.engine import Engine


def best_of(fn: Callable[[], object], repeat: int) -> float:
    fn()
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    settings = Settings(device=args.device)
    engine = Engine(settings)
    engine.warm_up()
    print(describe(engine.device))
    requests = {
        "portrait, largest face, embedded": {"images": [image_spec(
            portraits_640x480()[0], canonical.LARGEST, rotate=True, embed=True)]},
        "1080p group, every face, embedded, every analysis field": {"images": [image_spec(
            group_1080p(), canonical.ALL, embed=True, analyse=ANALYSIS_FIELDS)]},
    }
    print(f"{'request':58} {'faces':>5} {'inference':>10} {'dump':>8} {'msgpack':>8} "
          f"{'validate':>9} {'bytes':>7} {'share':>7}")
    for name, request in requests.items():
        result = engine.run(request)
        faces = sum(len(getattr(image, "faces", [])) for image in result.images)
        inference = best_of(lambda request=request: engine.run(request), 3)
        dump = best_of(result.sent, args.repeat)
        sent = result.sent()
        packed = msgpack.packb(sent)
        wire = best_of(lambda sent=sent: msgpack.unpackb(msgpack.packb(sent)), args.repeat)
        arrived = msgpack.unpackb(packed)
        validate = best_of(lambda arrived=arrived: received(arrived), args.repeat)
        assert received(arrived).model_dump() == result.model_dump()  # nothing lost
        contract = dump + validate
        print(f"{name:58} {faces:5d} {inference * 1e3:8.1f}ms {dump * 1e6:6.0f}us "
              f"{wire * 1e6:6.0f}us {validate * 1e6:7.0f}us {len(packed):7d} "
              f"{contract / inference:7.3%}")
    print("share: (dump + validate) / inference; msgpack is Celery's cost either way")


if __name__ == "__main__":
    main()
