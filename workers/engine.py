"""One worker process's models: device choice, loading, batchers and warm-up."""

from __future__ import annotations

import logging
import os
import time

import numpy as np
import torch

from services.vision.analysis.analyser import Analyser, AnalysisJob
from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN, detect_below
from services.vision.pipeline import FacePipeline
from shared import canonical
from shared.images import encode_jpeg
from shared.settings import Settings
from shared.tasks import image_spec
from workers.batching import MicroBatcher
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
    """
    if settings.torch_threads > 0:
        return settings.torch_threads
    return max(1, (os.cpu_count() or 2) // 2)


def bulk_batch_max(settings: Settings, device: torch.device) -> int:
    """Most images (or faces) in one pass of ingestion work. On a CPU a pass costs about the
    same per image at any size, so small passes cost ingestion nothing and let an interactive
    request in sooner (docs/performance.md, "Ingestion"); a GPU wants full batches."""
    if settings.bulk_batch_max > 0:
        return min(settings.bulk_batch_max, settings.batch_max)
    return settings.batch_max if device.type == "cuda" else min(16, settings.batch_max)


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

        self.bulk_batch = bulk_batch_max(settings, self.device)
        self.detect_batcher = MicroBatcher(self.detector.detect, settings.batch_max, wait,
                                           "detect-batcher", setup, observer("detect"),
                                           self.bulk_batch)
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
        self.pipeline = FacePipeline(self.detect_batcher, self.embedder, self.embed_batcher,
                                     settings.min_face_px, self.analyse_batcher,
                                     settings.detect_min_score, settings.max_pixels)
        log.info("engine ready: device=%s embedder=%s threads per stage=%d", self.device,
                 self.embedder.spec.key, threads)

    def run(self, request: dict) -> dict:
        return self.pipeline.run(request)

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
        face = {"box": [40, 40, 80, 80], "prob": 1.0,
                "points": [[65, 70], [95, 70], [80, 85], [68, 100], [92, 100]]}
        self.analyse_batcher([AnalysisJob(blank, [face], frozenset(canonical.ANALYSIS_FIELDS))])
        return time.perf_counter() - started

