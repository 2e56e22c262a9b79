"""How many CPUs this process may really use: a container's CPU quota, not the host's cores.

os.cpu_count() reports every core of the node, so a pod limited to 2 CPUs on a 64-core node
would start 64-thread OpenMP teams and 256 task threads, and spend its quota on contention.
The quota comes from the cgroup (v2: cpu.max; v1: cpu.cfs_quota_us / cpu.cfs_period_us), then
the CPUs the scheduler lets us run on (taskset, cpusets), then the core count.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except (OSError, UnicodeDecodeError):
        return None


def _quota(quota: str, period: str) -> float | None:
    """quota / period in CPUs, or None for no limit ("max" in v2, -1 in v1) or nonsense."""
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    return q / p if q > 0 and p > 0 else None


def cgroup_quota(root: Path = CGROUP) -> float | None:
    """The CPU limit of the cgroup at `root` in CPUs (fractional: 1.5 for 1500m), or None."""
    v2 = _read(root / "cpu.max")  # "200000 100000", or "max 100000" without a limit
    if v2 is not None:
        parts = v2.split()
        return _quota(parts[0], parts[1]) if len(parts) == 2 and parts[0] != "max" else None
    for folder in (root / "cpu,cpuacct", root / "cpu", root):  # v1 mount names vary
        quota = _read(folder / "cpu.cfs_quota_us")
        period = _read(folder / "cpu.cfs_period_us")
        if quota is not None and period is not None:
            return _quota(quota, period)
    return None


def _affinity() -> int | None:
    try:
        return len(os.sched_getaffinity(0)) or None
    except (AttributeError, OSError):  # not on Linux
        return None


def available_cpus(root: Path = CGROUP) -> int:
    """Whole CPUs to size thread pools on: the cgroup quota rounded up (1.5 CPUs may run 2
    threads), at most the CPUs we may be scheduled on; never less than 1."""
    cpus = _affinity() or os.cpu_count() or 1
    quota = cgroup_quota(root)
    if quota is not None:
        cpus = min(cpus, math.ceil(quota))
    return max(1, cpus)
