"""What a benchmark ran on, and what the machine did meanwhile: the GPU's name, driver and
utilisation (NVML when nvidia-ml-py is installed, else nvidia-smi), and the CPU time of
processes by PID (Linux /proc), so a run can say where the cores went."""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import subprocess
import threading
import time

import torch

_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def describe(device: torch.device) -> str:
    parts = [f"torch {torch.__version__}", f"{os.cpu_count()} CPU cores",
             f"python {platform.python_version()}"]
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        parts.insert(0, f"{props.name} ({props.total_memory / 2**30:.0f} GiB, "
                        f"{props.multi_processor_count} SMs), driver {driver_version()}, "
                        f"CUDA {torch.version.cuda}")
    else:
        parts.insert(0, "CPU only")
    return ", ".join(parts)


def driver_version() -> str:
    if shutil.which("nvidia-smi") is None:
        return "unknown"
    out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                         capture_output=True, text=True, check=False).stdout.strip()
    return out.splitlines()[0] if out else "unknown"


class GpuSampler:
    """Mean GPU utilisation (% of time a kernel ran) over a with-block, sampled every 100 ms."""

    def __init__(self, index: int = 0) -> None:
        self.index = index
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._read = self._reader()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _reader(self):
        with contextlib.suppress(Exception):
            import pynvml

            pynvml.nvmlInit()
            handle = pynvml.nvmlDeviceGetHandleByIndex(self.index)
            return lambda: float(pynvml.nvmlDeviceGetUtilizationRates(handle).gpu)
        if shutil.which("nvidia-smi") and torch.cuda.is_available():
            def smi() -> float:
                out = subprocess.run(["nvidia-smi", "-i", str(self.index),
                                      "--query-gpu=utilization.gpu", "--format=csv,noheader,"
                                      "nounits"], capture_output=True, text=True, check=False)
                return float(out.stdout.strip() or "nan")
            return smi
        return None

    def _loop(self) -> None:
        while not self._stop.wait(0.1):
            self.samples.append(self._read())

    def __enter__(self) -> GpuSampler:
        if self._read is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    @property
    def mean(self) -> float:
        return sum(self.samples) / len(self.samples) if self.samples else float("nan")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (all its threads) has used so far; 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, IndexError, ValueError):
        return 0.0


class CpuMeter:
    """Cores used by named groups of processes over a with-block."""

    def __init__(self, groups: dict[str, list[int]]) -> None:
        self.groups = groups
        self.cores: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(p) for p in pids) for name, pids in self.groups.items()}

    def __enter__(self) -> CpuMeter:
        self._start, self._t0 = self._now(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        elapsed = time.perf_counter() - self._t0
        end = self._now()
        self.cores = {name: (end[name] - self._start[name]) / elapsed for name in self.groups}

    def text(self) -> str:
        return " ".join(f"{name} {value:.1f}" for name, value in self.cores.items())
