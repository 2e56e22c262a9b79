"""Throughput of detect + feature, in one run: in-process, then through the whole service
(HTTP -> gateway -> Redis -> Celery worker -> reply), their ratio, and latency at half load.

    .venv/bin/python -m bench.throughput [--image portrait|group] [--clients 1,4,8,16]
        [--workers 1] [--gateways 1] [--seconds 20] [--device auto|cpu|cuda]

Images (bench/inputs.py): `portrait`, 7 single-face 640 x 480 JPEGs sent to CloudWalk's
POST /face/tool/feature (base64 form body); `group`, one 1920 x 1080 JPEG with 10 faces sent to
POST /v1/detect with `features=true` (every face detected and embedded).

Figures, in order:
1. in-process, FacePipeline called directly on this thread over batches of --batch images;
2. in-process, the worker's Engine (its batchers and model threads) under N calling threads;
3. the service with --workers Celery worker processes (all on the same device) and --gateways
   gateway processes, driven by bench/loadgen.py (closed loop, N clients): images/s, its ratio
   to the best in-process figure, latency percentiles, the embedder's mean batch, the GPU's
   utilisation and the CPU cores each part used;
4. the service at half the best rate of step 3, open loop: the latency a client sees there.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import resource
import threading
import time
from urllib.parse import urlencode

import httpx
import torch

from bench import loadgen
from bench.inputs import GROUP_FACES, group_1080p, portraits_640x480
from bench.machine import CpuMeter, GpuSampler, describe
from bench.stack import auth_headers, bench_stack
from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN, detect_below
from services.vision.pipeline import FacePipeline
from shared import canonical
from shared.results import ImageResult, VisionResult
from shared.settings import Settings
from shared.tasks import image_spec
from workers.engine import Engine, choose_device


class Workload:
    def __init__(self, kind: str) -> None:
        self.kind = kind
        if kind == "portrait":
            self.images = portraits_640x480()
            self.faces = 1
            self.path = "/face/tool/feature"
            self.bodies = [urlencode({"img": base64.b64encode(d).decode()}).encode()
                           for d in self.images]
            self.content_type = "application/x-www-form-urlencoded"
            self.ok = b'"result":0'
        else:
            self.images = [group_1080p()]
            self.faces = GROUP_FACES
            self.path = "/v1/detect"
            self.bodies = [json.dumps({"image": base64.b64encode(d).decode(),
                                       "features": True}).encode() for d in self.images]
            self.content_type = "application/json"
            self.ok = b"HTTP/1.1 200"

    def spec(self, data: bytes) -> dict:
        if self.kind == "portrait":
            return image_spec(data, canonical.LARGEST, rotate=True, embed=True)
        return image_spec(data, canonical.ALL, embed=True)

    def check(self, result: VisionResult) -> None:
        faces = [len(image.faces) if isinstance(image, ImageResult) else 0
                 for image in result.images]
        if any(count != self.faces for count in faces):
            raise AssertionError(f"expected {self.faces} face(s) per image, got {faces}")


def in_process_direct(work: Workload, settings: Settings, device: torch.device,
                      seconds: float, batch: int) -> float:
    """FacePipeline.run on this thread over batches of images: models called directly."""
    pipeline = FacePipeline(MTCNN(device, detect_below(settings.min_face_px)).detect,
                            load_embedder(settings.embedder, device, settings.model_dir,
                                          half=settings.fp16),
                            min_face=settings.min_face_px)

    def run(chunk: list[bytes]) -> None:
        work.check(pipeline.run({"images": [work.spec(d) for d in chunk]}))

    chunk = [work.images[j % len(work.images)] for j in range(batch)]
    run(chunk)  # warm-up
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        run(chunk)
        done += batch
    return done / (time.perf_counter() - started)


def in_process_engine(engine: Engine, work: Workload, seconds: float, callers: int) -> float:
    """The worker's engine (same batchers, same threads) called by `callers` threads: the
    service minus HTTP, Redis and Celery."""
    count = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def loop(offset: int) -> None:
        k = offset
        while time.perf_counter() < stop:
            work.check(engine.run({"images": [work.spec(work.images[k % len(work.images)])]}))
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


def embed_batches(metric_ports: list[int]) -> tuple[float, float]:
    """(items, passes) of the embedder summed over the workers' Prometheus metrics."""
    items = passes = 0.0
    for port in metric_ports:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        for name, value in re.findall(r'^facegate_batch_size_(sum|count)\{stage="embed"\} (\S+)',
                                      text, re.M):
            if name == "sum":
                items += float(value)
            else:
                passes += float(value)
    return items, passes


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", choices=["portrait", "group"], default="portrait")
    parser.add_argument("--clients", default="1,4,8,16")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--batch", type=int, default=8, help="in-process direct batch")
    parser.add_argument("--callers", default="", help="engine calling threads (default: "
                        "as --clients)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes, one device")
    parser.add_argument("--gateways", type=int, default=1, help="gateway processes")
    parser.add_argument("--load-processes", type=int, default=0,
                        help="load generator processes (0: one per 64 clients, 1-8)")
    parser.add_argument("--device", default=os.environ.get("FACEGATE_DEVICE", "auto"))
    parser.add_argument("--skip-in-process", action="store_true")
    parser.add_argument("--no-half-load", action="store_true")
    parser.add_argument("--url", help="measure an existing deployment instead")
    args = parser.parse_args()
    os.environ["FACEGATE_DEVICE"] = args.device
    settings = Settings()
    device = choose_device(settings.device)
    work = Workload(args.image)
    concurrencies = [int(c) for c in args.clients.split(",")]
    callers = [int(c) for c in (args.callers or args.clients).split(",")]
    print(f"{describe(device)}; embedder {settings.embedder}, fp16 {settings.fp16}, "
          f"batch_max {settings.batch_max}")
    print(f"workload {work.kind}: {len(work.images)} distinct JPEG(s), {work.faces} face(s) "
          f"each, POST {work.path}; {args.workers} worker process(es), {args.gateways} "
          f"gateway process(es)")
    best_local = float("nan")
    if not args.skip_in_process:
        direct = in_process_direct(work, settings, device, args.seconds, args.batch)
        print(f"in-process, FacePipeline direct, batches of {args.batch}: {direct:.1f} "
              f"images/s")
        engine = Engine(settings)
        engine.warm_up()
        local = {}
        for n in callers:
            local[n] = in_process_engine(engine, work, args.seconds, n)
            print(f"in-process, worker engine, {n:>3} calling threads: {local[n]:.1f} images/s")
        best_local = max(direct, *local.values())
        print(f"best in-process figure: {best_local:.1f} images/s (the ratio's denominator)")
        del engine
        if device.type == "cuda":
            torch.cuda.empty_cache()
    metrics_base = random.randint(20000, 40000)
    with bench_stack(args.url, FACEGATE_WORKER_METRICS_PORT=str(metrics_base)) as (url, stack):
        urls = [url]
        if stack is not None:
            for _ in range(args.workers - 1):
                stack.start_worker()
            stack.wait_for_workers()
            urls += [stack.start_extra_gateway() for _ in range(args.gateways - 1)]
            ports = [metrics_base + k for k in range(args.workers)]
            groups = {"gateways": [p.pid for p in [stack.gateway, *stack.extra]],
                      "workers": [w.pid for w in stack.workers],
                      "redis": [stack.redis.process.pid] if stack.redis else []}
        else:
            ports, groups = [], {}
        target = loadgen.Target([u + work.path for u in urls], work.bodies, work.content_type,
                                auth_headers(), work.ok)
        loadgen.run(target, 2.0, clients=min(8, max(concurrencies)))  # warm-up
        print(f"{'clients':>7} {'images/s':>9} {'faces/s':>8} {'ratio':>6} {'p50 ms':>7} "
              f"{'p95 ms':>7} {'p99 ms':>7} {'errors':>6} {'embed batch':>11} {'GPU %':>6}  "
              f"cores used")
        best = 0.0
        for clients in concurrencies:
            processes = args.load_processes or max(1, min(8, (clients + 63) // 64))
            before = embed_batches(ports) if ports else (0.0, 0.0)
            cpu0 = client_cpu()
            with GpuSampler() as gpu, CpuMeter(groups) as cpu:
                result = loadgen.run(target, args.seconds, clients=clients,
                                     processes=processes)
            clients_cores = (client_cpu() - cpu0) / result.seconds
            after = embed_batches(ports) if ports else (0.0, 0.0)
            passes = after[1] - before[1]
            batch = (after[0] - before[0]) / passes if passes else float("nan")
            best = max(best, result.rate)
            print(f"{clients:>7} {result.rate:>9.1f} {result.rate * work.faces:>8.0f} "
                  f"{result.rate / best_local:>6.2f} {result.pct(50):>7.1f} "
                  f"{result.pct(95):>7.1f} {result.pct(99):>7.1f} {result.errors:>6} "
                  f"{batch:>11.1f} {gpu.mean:>6.1f}  {cpu.text()} clients {clients_cores:.1f}")
            if result.sample_error:
                print(f"        first error: {result.sample_error[:200]}")
        if not args.no_half_load and best > 0:
            rate = best / 2
            with GpuSampler() as gpu:
                result = loadgen.run(target, args.seconds, rate=rate,
                                     processes=max(1, min(8, int(rate // 400) + 1)))
            print(f"half of the best rate, open loop at {rate:.0f} requests/s: achieved "
                  f"{result.rate:.1f}/s, p50 {result.pct(50):.1f} ms, p95 {result.pct(95):.1f} "
                  f"ms, p99 {result.pct(99):.1f} ms, errors {result.errors}, GPU "
                  f"{gpu.mean:.0f}%")


if __name__ == "__main__":
    main()
