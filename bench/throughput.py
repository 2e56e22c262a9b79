"""Throughput of detect + feature on the same images, in one run: the in-process pipeline,
then the HTTP service (gateway -> Redis -> Celery worker), and their ratio.

    .venv/bin/python -m bench.throughput [--clients 1,4,8,16] [--seconds 20]

Images: the portrait test faces, each letterboxed into 640 x 480 (one face per image).
In-process: (a) FacePipeline.run over batches of --batch images, models called directly on
one thread; (b) the worker's Engine (its batchers and model threads) called by N threads.
Service: N concurrent HTTP clients posting /face/tool/feature (base64 form bodies).
The ratio divides the service's rate by the best in-process rate.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import threading
import time
from dataclasses import replace

import httpx
import numpy as np
import torch
from PIL import Image

from bench.stack import auth_headers, bench_stack
from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN
from services.vision.pipeline import FacePipeline
from shared import canonical
from shared.settings import Settings
from shared.tasks import STATS_TASK, make_celery
from tests.support.faces import fetch
from workers.engine import Engine

PORTRAITS = ["obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png",
             "Tom_Hanks_54745.png", "yaoming.jpg"]


def images_640x480() -> list[bytes]:
    paths = fetch()
    out = []
    for name in PORTRAITS:
        image = Image.open(paths[name]).convert("RGB")
        image.thumbnail((640, 480))
        canvas = Image.new("RGB", (640, 480), (127, 127, 127))
        canvas.paste(image, ((640 - image.width) // 2, (480 - image.height) // 2))
        buffer = io.BytesIO()
        canvas.save(buffer, "JPEG", quality=90)
        out.append(buffer.getvalue())
    return out


def _feature_request(data: bytes) -> dict:
    return {"images": [canonical.image_spec(data, canonical.LARGEST, rotate=True, embed=True)]}


def in_process_direct(images: list[bytes], seconds: float, batch: int,
                      settings: Settings) -> float:
    """FacePipeline.run on this thread over batches of images: models called directly."""
    device = torch.device("cpu")
    pipeline = FacePipeline(MTCNN(device, int(settings.min_face_px * 0.8)).detect,
                            load_embedder(settings.embedder, device, settings.model_dir),
                            min_face=settings.min_face_px)

    def run(chunk: list[bytes]) -> None:
        result = pipeline.run({"images": [_feature_request(d)["images"][0] for d in chunk]})
        assert all(r.get("faces") for r in result["images"])

    run(images[:batch])  # warm-up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        run([images[(done + j) % len(images)] for j in range(batch)])
        done += batch
    return done / (time.perf_counter() - started)


def in_process_engine(engine: Engine, images: list[bytes], seconds: float,
                      callers: int) -> float:
    """The worker's engine (same batchers, same threads) called by `callers` threads: the
    service minus HTTP, Redis and Celery."""
    count = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def loop(offset: int) -> None:
        k = offset
        while time.perf_counter() < stop:
            assert engine.run(_feature_request(images[k % len(images)]))["images"][0]["faces"]
            with lock:
                count[0] += 1
            k += 1

    started = time.perf_counter()
    threads = [threading.Thread(target=loop, args=(i,)) for i in range(callers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count[0] / (time.perf_counter() - started)


def through_http(base_url: str, images: list[bytes], clients: int, seconds: float
                 ) -> tuple[float, list[float]]:
    bodies = [{"img": base64.b64encode(data).decode()} for data in images]
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client_loop(offset: int) -> None:
        with httpx.Client(base_url=base_url, timeout=300, headers=auth_headers()) as http:
            k = offset
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                body = http.post("/face/tool/feature", data=bodies[k % len(bodies)]).json()
                assert body["result"] == 0, body
                with lock:
                    latencies.append(time.perf_counter() - t0)
                k += 1

    with httpx.Client(base_url=base_url, timeout=300,
                      headers=auth_headers()) as http:  # warm-up
        http.post("/face/tool/feature", data=bodies[0])
    started = time.perf_counter()
    threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies) / (time.perf_counter() - started), latencies


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clients", default="1,4,8,16")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--url", help="measure an existing deployment instead")
    args = parser.parse_args()
    settings = Settings()
    images = images_640x480()
    concurrencies = [int(c) for c in args.clients.split(",")]
    print(f"device cpu, {os.cpu_count()} cores, embedder {settings.embedder}, "
          f"{len(images)} distinct 640x480 single-face JPEGs, POST /face/tool/feature")
    direct = in_process_direct(images, args.seconds, args.batch, settings)
    print(f"in-process, FacePipeline direct, batches of {args.batch}: {direct:.2f} images/s")
    engine = Engine(settings)
    engine.warm_up()
    local = {}
    for callers in concurrencies:
        local[callers] = in_process_engine(engine, images, args.seconds, callers)
        print(f"in-process, worker engine, {callers:>2} calling threads: "
              f"{local[callers]:.2f} images/s")
    best_local = max(direct, *local.values())
    del engine  # its model threads idle from here on; the service's worker takes the cores
    print(f"best in-process figure: {best_local:.2f} images/s (the ratio's denominator)")
    with bench_stack(args.url) as (base_url, stack):
        print(f"{'clients':>7} {'images/s':>9} {'ratio':>6} {'p50 ms':>8} {'p95 ms':>8} "
              f"{'p99 ms':>8} {'mean embed batch':>17}")
        stats_app = make_celery(replace(settings, redis_url=stack.redis_url)) if stack else None
        before = stats_app.send_task(STATS_TASK).get(timeout=60) if stats_app else None
        for clients in concurrencies:
            rate, lat = through_http(base_url, images, clients, args.seconds)
            mean_batch = float("nan")
            if stats_app:
                after = stats_app.send_task(STATS_TASK).get(timeout=60)
                items = after["embed"]["items"] - before["embed"]["items"]
                batches = after["embed"]["batches"] - before["embed"]["batches"]
                mean_batch = items / batches if batches else float("nan")
                before = after
            print(f"{clients:>7} {rate:>9.2f} {rate / best_local:>6.2f} {pct(lat, 50):>8.0f} "
                  f"{pct(lat, 95):>8.0f} {pct(lat, 99):>8.0f} {mean_batch:>17.2f}")


if __name__ == "__main__":
    main()
