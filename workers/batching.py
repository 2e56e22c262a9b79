"""Dynamic batching: many task threads submit small lists, one model thread runs them together.

A Celery worker runs its tasks on a thread pool; each task hands its images (or face crops) to
a MicroBatcher and waits. The batcher's own thread takes whatever is queued, waits up to
`max_wait_s` for more until `max_items` are there, runs the model once over all of them and
hands each caller its slice. So the faces of many requests share one forward pass, and decoding
and cropping on the task threads overlap with model time.

Interactive work goes first: a caller running under `bulk_priority()` (an ingestion chunk)
queues behind every interactive request waiting, and a pass that starts with interactive work
takes no bulk work, so an identify that arrives during a big load waits for the pass in
progress and then runs in a pass of its own, not behind or beside the load's images.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

INTERACTIVE, BULK = 0, 1
_PRIORITY: contextvars.ContextVar[int] = contextvars.ContextVar("batch_priority",
                                                                default=INTERACTIVE)


@contextlib.contextmanager
def bulk_priority() -> Iterator[None]:
    """Batched calls made inside this block (on this thread) yield to interactive ones."""
    token = _PRIORITY.set(BULK)
    try:
        yield
    finally:
        _PRIORITY.reset(token)


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
                 observe: Callable[[int, float], None] | None = None,
                 bulk_max_items: int | None = None) -> None:
        self.fn = fn
        self.setup = setup
        self.observe = observe  # (batch size, seconds) after each pass, e.g. for metrics
        self.max_items = max_items
        # A pass of bulk work holds fewer items: the pass an interactive caller may find in
        # progress is shorter (bulk callers send slices no larger: workers/ingest.py).
        self.bulk_max_items = bulk_max_items or max_items
        self.max_wait_s = max_wait_s
        self.stats = BatchStats()
        # (priority, arrival, items, future): lowest priority first, then first come
        self._queue: queue.PriorityQueue[tuple[int, int, list[Any], Future]] = \
            queue.PriorityQueue()
        self._arrivals = itertools.count()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def __call__(self, items: list[Any]) -> list[Any]:
        if not items:
            return []
        future: Future = Future()
        self._queue.put((_PRIORITY.get(), next(self._arrivals), items, future))
        return future.result()

    def _collect(self) -> list[tuple[list[Any], Future]]:
        first = self._queue.get()
        batch = [first[2:]]
        count = len(first[2])
        limit = self.max_items if first[0] == INTERACTIVE else self.bulk_max_items
        deadline = time.monotonic() + self.max_wait_s
        while count < limit:
            timeout = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            if item[0] > first[0]:
                # A pass that serves interactive callers takes no bulk work: an identify's pass
                # stays one image long instead of carrying a 32-photo ingestion chunk with it.
                self._queue.put(item)
                break
            batch.append(item[2:])
            count += len(item[2])
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
