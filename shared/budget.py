"""A budget of bytes one process may hold at once for one kind of input, whoever holds them:
request bodies in a gateway (refused when it is spent), decoded pixels in a worker (a big
photo waits for others to be released). Thread-safe. Big holders are served first come,
first served, so a big request is not starved by a stream of others; a small one (at most an
eighth of the budget) goes ahead of big ones waiting whenever its bytes are free, so an
ordinary photo never waits for a burst of huge ones to be decoded one by one.
"""

from __future__ import annotations

import contextlib
import threading
from collections import deque
from collections.abc import Callable, Iterator


class ByteBudget:
    def __init__(self, total: int, on_idle: Callable[[int], None] | None = None) -> None:
        self.total = total
        self.held = 0
        self.peak = 0  # the most held at once: what a benchmark reports
        # called (outside the lock) when the last bytes are given back, with the most that
        # was held since the budget was last idle
        self.on_idle = on_idle
        self._busy_peak = 0
        self.small = total // 8
        self._lock = threading.Condition()
        self._waiting: deque[object] = deque()

    def try_take(self, size: int) -> bool:
        """Takes `size` bytes if they are free now (and, for a big take, nobody waits)."""
        with self._lock:
            if (self._waiting and size > self.small) or self.held + size > self.total:
                return False
            self._grant(size)
            return True

    def take(self, size: int) -> None:
        """Waits until `size` bytes are free, in turn, and takes them. `size` must be at most
        the total (the caller refuses bigger requests: they would wait for ever)."""
        if size > self.total:
            raise ValueError(f"{size} bytes is more than the whole budget ({self.total})")
        with self._lock:
            if size <= self.small:
                self._lock.wait_for(lambda: self.held + size <= self.total)
                self._grant(size)
                return
        turn = object()
        with self._lock:
            self._waiting.append(turn)
            try:
                self._lock.wait_for(lambda: self._waiting[0] is turn
                                    and self.held + size <= self.total)
            finally:
                self._waiting.remove(turn)
                self._lock.notify_all()  # the next in line may fit too
            self._grant(size)

    def give(self, size: int) -> None:
        with self._lock:
            self.held -= size
            busy_peak = self._busy_peak if self.held == 0 else 0
            if busy_peak:
                self._busy_peak = 0
            self._lock.notify_all()
        if busy_peak and self.on_idle is not None:
            self.on_idle(busy_peak)

    @contextlib.contextmanager
    def holding(self, size: int) -> Iterator[None]:
        self.take(size)
        try:
            yield
        finally:
            self.give(size)

    def _grant(self, size: int) -> None:
        self.held += size
        self.peak = max(self.peak, self.held)
        self._busy_peak = max(self._busy_peak, self.held)
