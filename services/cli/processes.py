"""Child-process hygiene for the processes facegate starts."""

from __future__ import annotations

import contextlib
import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child before exec: SIGTERM it when its parent goes, so a killed `facegate run`,
    test session or benchmark leaves no workers behind (Linux). The kernel ties this to the
    spawning *thread*, so children are spawned from the main thread."""
    with contextlib.suppress(OSError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
