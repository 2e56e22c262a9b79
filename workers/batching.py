"""Dynamic batching: many task threads submit small lists, one model thread runs them together.

A Celery worker runs its tasks on a thread pool; each task hands its images (or face crops) to
a MicroBatcher and waits. The batcher's own thread takes whatever is queued, waits up to
`max_wait_s` for more until `max_items` are there, runs the model once over all of them and
hands each caller its slice. So the faces of many requests share one forward pass, and decoding
and cropping on the task threads overlap with model time.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any


@dataclass
class BatchStats:
    batches: int = 0
    items: int = 0
    busy_s: float = 0.0
    sizes: list[int] = field(default_factory=list)  # the most recent batch sizes

    @property
    def mean_batch(self) -> float:
        return self.items / self.batches if self.batches else 0.0


class MicroBatcher:
    def __init__(self, fn: Callable[[list[Any]], Sequence[Any]], max_items: int,
                 max_wait_s: float, name: str,
                 setup: Callable[[], None] | None = None,
                 observe: Callable[[int, float], None] | None = None) -> None:
        self.fn = fn
        self.setup = setup
        self.observe = observe  # (batch size, seconds) after each pass, e.g. for metrics
        self.max_items = max_items
        self.max_wait_s = max_wait_s
        self.stats = BatchStats()
        self._queue: queue.Queue[tuple[list[Any], Future]] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def __call__(self, items: list[Any]) -> list[Any]:
        if not items:
            return []
        future: Future = Future()
        self._queue.put((items, future))
        return future.result()

    def _collect(self) -> list[tuple[list[Any], Future]]:
        batch = [self._queue.get()]
        count = len(batch[0][0])
        deadline = time.monotonic() + self.max_wait_s
        while count < self.max_items:
            timeout = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            batch.append(item)
            count += len(item[0])
        return batch

    def _loop(self) -> None:
        if self.setup:
            self.setup()  # per-thread state, e.g. torch's intra-op thread count
        while True:
            batch = self._collect()
            items = [item for request, _ in batch for item in request]
            started = time.perf_counter()
            try:
                outputs = list(self.fn(items))
            except BaseException as exc:  # every waiting caller learns of the failure
                for _, future in batch:
                    future.set_exception(exc)
                continue
            elapsed = time.perf_counter() - started
            self.stats.busy_s += elapsed
            if self.observe:
                self.observe(len(items), elapsed)
            self.stats.batches += 1
            self.stats.items += len(items)
            self.stats.sizes = [*self.stats.sizes[-99:], len(items)]
            offset = 0
            for request, future in batch:
                future.set_result(outputs[offset:offset + len(request)])
                offset += len(request)
