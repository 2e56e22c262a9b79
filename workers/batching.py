"""Dynamic batching: many task threads submit small lists, one model thread runs them together.

A Celery worker runs its tasks on a thread pool; each task hands its images (or face crops) to
a MicroBatcher and waits. The batcher's own thread takes whatever is queued, waits up to
`max_wait_s` for more until `max_items` are there, runs the model once over all of them and
hands each caller its slice. So the faces of many requests share one forward pass, and decoding
and cropping on the task threads overlap with model time.

Urgent work goes first. A caller runs at its task's priority (`at_priority`; 0 is the most
urgent, the queue priorities of shared/tasks.py: calls 0-3, jobs 4-6, bulk work 7-9): waiting
items are taken most urgent first, and a pass takes nothing of a later band than the item it
started with (calls, jobs and bulk work are the bands), so an identify that arrives during a
big load waits for the pass in progress and then runs in a pass of its own, not behind or
beside the load's images. A pass that is not of calls holds at most `bulk_max_items` items
and, where a weight is given (an image's pixels for the detector), at most `bulk_max_weight`:
the pass an urgent caller may find in progress stays short.
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

from shared.tasks import CHUNK_PRIORITY, JOB_PRIORITIES

INTERACTIVE, BULK = 0, CHUNK_PRIORITY
_PRIORITY: contextvars.ContextVar[int] = contextvars.ContextVar("batch_priority",
                                                                default=INTERACTIVE)


def band(priority: int) -> int:
    """0: calls, 1: jobs, 2: bulk work."""
    return 0 if priority < JOB_PRIORITIES[0] else 1 if priority <= JOB_PRIORITIES[-1] else 2


@contextlib.contextmanager
def at_priority(priority: int) -> Iterator[None]:
    """Batched calls made inside this block (on this thread) run at `priority`."""
    token = _PRIORITY.set(priority)
    try:
        yield
    finally:
        _PRIORITY.reset(token)


def bulk_priority() -> contextlib.AbstractContextManager[None]:
    """Batched calls made inside this block yield to calls and jobs (ingestion chunks)."""
    return at_priority(BULK)


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
                 bulk_max_items: int | None = None,
                 weight: Callable[[Any], int] | None = None,
                 bulk_max_weight: int | None = None) -> None:
        self.fn = fn
        self.setup = setup
        self.observe = observe  # (batch size, seconds) after each pass, e.g. for metrics
        self.max_items = max_items
        # A pass of jobs or bulk work holds fewer items (and less weight): the pass an urgent
        # caller may find in progress is shorter (bulk callers send slices no larger:
        # workers/ingest.py).
        self.bulk_max_items = bulk_max_items or max_items
        self.weight = weight
        self.bulk_max_weight = bulk_max_weight
        self.max_wait_s = max_wait_s
        self.stats = BatchStats()
        # (priority, arrival, items, future): lowest priority first, then first come
        self._queue: queue.PriorityQueue[tuple[int, int, list[Any], Future]] = \
            queue.PriorityQueue()
        self._arrivals = itertools.count()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def submit(self, items: list[Any]) -> Future:
        """Queues `items` at the caller's priority; the future of their outputs."""
        future: Future = Future()
        if not items:
            future.set_result([])
            return future
        self._queue.put((_PRIORITY.get(), next(self._arrivals), items, future))
        return future

    def __call__(self, items: list[Any]) -> list[Any]:
        return self.submit(items).result()

    def _weigh(self, items: list[Any]) -> int:
        return sum(self.weight(item) for item in items) if self.weight else 0

    def _collect(self) -> list[tuple[list[Any], Future]]:
        first = self._queue.get()
        batch = [first[2:]]
        count = len(first[2])
        urgent = band(first[0]) == 0
        limit = self.max_items if urgent else self.bulk_max_items
        heavy = None if urgent else self.bulk_max_weight
        weight = self._weigh(first[2]) if heavy else 0
        deadline = time.monotonic() + self.max_wait_s
        while count < limit:
            timeout = deadline - time.monotonic()
            try:
                item = self._queue.get(timeout=timeout) if timeout > 0 else self._queue.get_nowait()
            except queue.Empty:
                break
            more = self._weigh(item[2]) if heavy else 0
            if band(item[0]) > band(first[0]) or (heavy and weight + more > heavy):
                # A pass that serves calls takes no jobs or bulk work: an identify's pass
                # stays one image long instead of carrying a 32-photo ingestion chunk with it.
                self._queue.put(item)
                break
            batch.append(item[2:])
            count += len(item[2])
            weight += more
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
