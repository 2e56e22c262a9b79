"""One worker process's models: device choice, loading, batchers and warm-up."""

from __future__ import annotations

import logging
import threading
import time

import numpy as np
import torch

from services.vision.embedders import load_embedder
from services.vision.mtcnn import MTCNN
from services.vision.pipeline import FacePipeline
from shared import canonical
from shared.images import encode_jpeg
from shared.settings import Settings
from workers.batching import MicroBatcher

log = logging.getLogger("facegate.worker")


def choose_device(setting: str) -> torch.device:
    if setting == "cpu":
        return torch.device("cpu")
    if setting == "cuda":
        if not torch.cuda.is_available():
            raise RuntimeError("FACEGATE_DEVICE=cuda but torch sees no CUDA device")
        return torch.device("cuda")
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Engine:
    def __init__(self, settings: Settings) -> None:
        if settings.torch_threads > 0:
            torch.set_num_threads(settings.torch_threads)
        self.device = choose_device(settings.device)
        # Detect a little below the minimum face so faces right at the limit are not missed;
        # the pipeline then drops anything under FACEGATE_MIN_FACE.
        self.detector = MTCNN(self.device, min_face=max(12, int(settings.min_face_px * 0.8)))
        self.embedder = load_embedder(settings.embedder, self.device, settings.model_dir)
        wait = settings.batch_wait_ms / 1000.0
        self.detect_batcher = MicroBatcher(self.detector.detect, settings.batch_max, wait,
                                           "detect-batcher")
        self.embed_batcher = MicroBatcher(self.embedder.embed, settings.batch_max, wait,
                                          "embed-batcher")
        self.pipeline = FacePipeline(self.detect_batcher, self.embedder, self.embed_batcher,
                                     settings.min_face_px)
        log.info("engine ready: device=%s embedder=%s threads=%d", self.device,
                 self.embedder.spec.key, torch.get_num_threads())

    def run(self, request: dict) -> dict:
        return self.pipeline.run(request)

    def warm_up(self) -> float:
        """One pass through every stage so the first request does not pay for lazy init."""
        started = time.perf_counter()
        rng = np.random.default_rng(0)
        noise = encode_jpeg(rng.integers(0, 255, (160, 160, 3), dtype=np.uint8))
        self.run({"images": [canonical.image_spec(noise, embed=True)]})
        self.embed_batcher([np.zeros((self.embedder.size, self.embedder.size, 3), np.uint8)])
        return time.perf_counter() - started


_engine: Engine | None = None
_lock = threading.Lock()


def get_engine(settings: Settings) -> Engine:
    global _engine
    with _lock:
        if _engine is None:
            _engine = Engine(settings)
        return _engine
