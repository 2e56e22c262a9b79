"""One worker process's models: device choice, loading, batchers and warm-up."""

from __future__ import annotations

import contextlib
import contextvars
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from services.vision.analysis.analyser import Analyser, AnalysisJob
from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN, detect_below
from services.vision.pipeline import FacePipeline
from shared.budget import ByteBudget
from shared.cpus import available_cpus
from shared.images import encode_jpeg
from shared.results import ANALYSIS_FIELDS, FaceResult, VisionResult
from shared.settings import Settings
from shared.tasks import VisionRequest, image_spec
from workers.batching import MicroBatcher
from workers.memory import trim
from workers.metrics import observer

log = logging.getLogger("facegate.worker")


def choose_device(setting: str) -> torch.device:
    if setting == "cpu":
        return torch.device("cpu")
    if setting == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("FACEGATE_DEVICE=cuda but torch sees no CUDA device")
        return torch.device("cuda")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def stage_threads(settings: Settings) -> int:
    """Intra-op threads for each model thread. Detection and embedding run on two threads so
    one request's detection overlaps another's embedding; on a CPU each stage gets half the
    cores. Measured on 2 cores: 120 ms per image overlapped with one thread each, 169 ms
    with both stages sequential on 2 threads (OpenMP teams of two threads fight for 2 cores).
    The cores are the container's CPU quota (shared/cpus.py), not the node's.
    """
    if settings.torch_threads > 0:
        return settings.torch_threads
    return max(1, available_cpus() // 2)


def bulk_pass_pixels(device: torch.device) -> int | None:
    """Most pixels in one detector pass of jobs or bulk work: on a CPU a pass costs about 0.3 s
    per megapixel, so a call that finds one in progress waits at most about half a second; a
    GPU wants full batches."""
    return None if device.type == "cuda" else 2_000_000


def bulk_batch_max(settings: Settings, device: torch.device) -> int:
    """Most images (or faces) in one pass of jobs or ingestion work. On a CPU a pass costs
    about the same per image at any size, so small passes cost ingestion little and let a call
    in sooner: passes of 8 keep another app's calls within 1.5 s during an ingestion on 2
    cores, for some of the ingestion's rate (docs/performance.md, "One app against another");
    a GPU wants full batches."""
    if settings.bulk_batch_max > 0:
        return min(settings.bulk_batch_max, settings.batch_max)
    return settings.batch_max if device.type == "cuda" else min(8, settings.batch_max)


class Engine:
    def __init__(self, settings: Settings) -> None:
        self.device = choose_device(settings.device)
        threads = stage_threads(settings)
        torch.set_num_threads(threads)
        self.detector = MTCNN(self.device, min_face=detect_below(settings.min_face_px))
        self.embedder = load_embedder(settings.embedder, self.device, settings.model_dir,
                                      half=settings.fp16, channels_last=settings.channels_last)
        wait = settings.batch_wait_ms / 1000.0
        def setup() -> None:
            torch.set_num_threads(threads)

        def setup_large() -> None:
            setup()
            lower_priority()

        self.bulk_batch = bulk_batch_max(settings, self.device)
        heavy = bulk_pass_pixels(self.device)
        self.detect_batcher = MicroBatcher(self.detector.detect, settings.batch_max, wait,
                                           "detect-batcher", setup, observer("detect"),
                                           self.bulk_batch, _pixels, heavy)
        self.large_detect_batcher = MicroBatcher(self.detector.detect, settings.batch_max, wait,
                                                 "detect-large-batcher", setup_large,
                                                 observer("detect"), self.bulk_batch, _pixels,
                                                 heavy)
        self.detect = DetectLanes(self.detect_batcher, self.large_detect_batcher)
        self.embed_batcher = MicroBatcher(self.embedder.embed, settings.batch_max, wait,
                                          "embed-batcher", setup, observer("embed"),
                                          self.bulk_batch)
        self.analyse_batcher: MicroBatcher | None = None
        if settings.analysis:
            analyser = Analyser(settings.model_dir, self.device, threads,
                                settings.liveness_threshold)
            # Faces of many tasks share the analysis networks' passes, like the embedder's.
            self.analyse_batcher = MicroBatcher(analyser, settings.batch_max, wait,
                                                "analyse-batcher", setup, observer("analyse"),
                                                self.bulk_batch)
        # decoded pixels held at once, by every task of this process (workers/memory.py hands
        # what a big burst freed back to the system)
        self.decode_budget = ByteBudget(settings.decode_budget_bytes, on_idle=trim)
        # big photos (over the budget's small share) are decoded on one thread of low CPU
        # priority: they wait for each other anyway (the budget), and an ordinary photo's
        # decode and detection take the cores first
        self.large_work = ThreadPoolExecutor(1, "large-photos", initializer=lower_priority)
        self.settings, self._wait, self._setup = settings, wait, setup
        self.pipeline = self._pipeline(self.embedder, self.embed_batcher)
        # the pipelines of other embedders a request named (VisionRequest.model), made on
        # first use: a group re-embedded to another model (services/recognition/reembed.py)
        self._pipelines = {settings.embedder: self.pipeline}
        self._load_lock = threading.Lock()
        log.info("engine ready: device=%s embedder=%s threads per stage=%d", self.device,
                 self.embedder.spec.key, threads)

    def _pipeline(self, embedder, embed) -> FacePipeline:
        settings = self.settings
        return FacePipeline(self.detect, embedder, embed, settings.min_face_px,
                            self.analyse_batcher, settings.detect_min_score,
                            settings.max_pixels, budget=self.decode_budget,
                            run_large=self._run_large)

    def pipeline_for(self, name: str | None) -> FacePipeline:
        """The pipeline of embedder `name` (None: FACEGATE_EMBEDDER's). Another embedder is
        loaded once, on the first request that names it, with a batcher of its own; the
        detector, the analysis heads and the decode budget are the process's one set."""
        if name is None or name == self.settings.embedder:
            return self.pipeline
        with self._load_lock:
            if name not in self._pipelines:
                settings = self.settings
                embedder = load_embedder(name, self.device, settings.model_dir,
                                         half=settings.fp16,
                                         channels_last=settings.channels_last)
                batcher = MicroBatcher(embedder.embed, settings.batch_max, self._wait,
                                       f"embed-{name}-batcher", self._setup, observer("embed"),
                                       self.bulk_batch)
                self._pipelines[name] = self._pipeline(embedder, batcher)
                log.info("embedder %s loaded on request", embedder.spec.key)
            return self._pipelines[name]

    def run(self, request: VisionRequest | dict) -> VisionResult:
        request = VisionRequest.model_validate(request)
        return self.pipeline_for(request.model).run(request)

    def _run_large(self, part: Callable[[], list]) -> list:
        # the caller's context (its batching priority) goes with the work
        return self.large_work.submit(contextvars.copy_context().run, part).result()

    def warm_up(self) -> float:
        """One pass through every stage so the first request does not pay for lazy init."""
        started = time.perf_counter()
        rng = np.random.default_rng(0)
        noise = encode_jpeg(rng.integers(0, 255, (160, 160, 3), dtype=np.uint8))
        self.run({"images": [image_spec(noise, embed=True)]})
        self.embed_batcher([np.zeros((self.embedder.size, self.embedder.size, 3), np.uint8)])
        if self.analyse_batcher is None:
            return time.perf_counter() - started
        blank = np.full((160, 160, 3), 128, np.uint8)
        face = FaceResult(box=(40, 40, 80, 80), prob=1.0,
                          points=[(65, 70), (95, 70), (80, 85), (68, 100), (92, 100)])
        self.analyse_batcher([AnalysisJob(blank, [face], frozenset(ANALYSIS_FIELDS))])
        return time.perf_counter() - started



LARGE_PIXELS = 4_000_000  # a photo over this is detected in the large lane
LOW_PRIORITY_NICE = 10


def lower_priority() -> None:
    """The calling thread yields the CPU to the process's other threads (Linux schedules
    threads on their own nice value); where that is not allowed, nothing changes."""
    with contextlib.suppress(OSError, AttributeError):
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), LOW_PRIORITY_NICE)


def _pixels(image: np.ndarray) -> int:
    return image.shape[0] * image.shape[1]


class DetectLanes:
    """The detector behind two batchers, each with its own thread: photos up to LARGE_PIXELS
    and bigger ones. A big photo's pass takes seconds on a CPU (MTCNN's cost grows with the
    pixels, up to the 24-megapixel working copy); in a lane of their own, big photos never
    hold up an ordinary photo's detection, whichever app sent them; the large lane's thread
    runs at a low CPU priority, so it does not slow the ordinary lane down either."""

    def __init__(self, ordinary: MicroBatcher, large: MicroBatcher) -> None:
        self.ordinary = ordinary
        self.large = large

    def __call__(self, images: list[np.ndarray]) -> list:
        big = [_pixels(image) > LARGE_PIXELS for image in images]
        ordinary = self.ordinary.submit([i for i, b in zip(images, big, strict=True) if not b])
        large = self.large.submit([i for i, b in zip(images, big, strict=True) if b])
        found = iter(ordinary.result()), iter(large.result())
        return [next(found[b]) for b in big]
