"""A worker's memory: handing freed memory back to the system, and the ceiling past which a
worker is recycled.

glibc keeps what a big decode freed in its heaps (a burst of three 100-megapixel PNGs left a
worker 5.6 GB larger for good); malloc_trim hands it back, and the worker calls it whenever
its decode budget falls idle after holding a lot. Should the worker still grow past its
ceiling (FACEGATE_WORKER_MAX_RSS_BYTES: by default 80% of its container's memory limit),
it finishes the tasks it holds and exits between tasks, and its supervisor starts a fresh one
(`facegate run`, compose's restart policy, a Kubernetes Deployment): tasks are acknowledged
late, so nothing is lost.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import threading
from pathlib import Path

log = logging.getLogger("facegate.worker")
TRIM_FROM = 64 * 2**20  # a budget that held less than this since it was last idle: no trim
_CGROUP_LIMITS = (Path("/sys/fs/cgroup/memory.max"),  # cgroup v2
                  Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"))  # v1
_UNLIMITED = 1 << 60


def _libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not glibc (musl, macOS): nothing to trim
        return None


_LIBC = _libc()


def trim(held: int = TRIM_FROM) -> None:
    """Hands the memory glibc holds free back to the system (after `held` bytes were in use
    for decoding); a no-op off glibc or after a small burst."""
    if held >= TRIM_FROM and _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


def rss_bytes() -> int:
    """This process's resident memory."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def container_limit() -> int | None:
    """The memory limit of this process's cgroup, if one is set."""
    for path in _CGROUP_LIMITS:
        try:
            text = path.read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < _UNLIMITED:
            return int(text)
    return None


def ceiling(setting: int) -> int | None:
    """FACEGATE_WORKER_MAX_RSS_BYTES as bytes: None for never (-1, or 0 with no limit)."""
    if setting > 0:
        return setting
    if setting < 0:
        return None
    limit = container_limit()
    return int(limit * 0.8) if limit else None


class Recycler:
    """After each task: past the ceiling, ask this worker to stop warmly (once)."""

    def __init__(self, ceiling_bytes: int | None) -> None:
        self.ceiling = ceiling_bytes
        self._asked = threading.Event()

    def after_task(self) -> None:
        if self.ceiling is None or self._asked.is_set():
            return
        used = rss_bytes()
        if used <= self.ceiling:
            return
        trim()  # what glibc holds free may be all of it
        used = rss_bytes()
        if used <= self.ceiling:
            return
        self._asked.set()
        log.warning("worker memory %d MiB is over its ceiling of %d MiB: finishing the tasks "
                    "in hand, then exiting to be started afresh", used >> 20,
                    self.ceiling >> 20)
        # Celery's warm shutdown: no new task is taken, those running finish and are
        # acknowledged, the rest go back to the queue.
        os.kill(os.getpid(), signal.SIGTERM)
