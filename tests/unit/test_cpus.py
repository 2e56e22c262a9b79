"""shared/cpus.py on fake cgroup trees: v2's cpu.max, v1's CFS quota, no limit, nonsense."""

from pathlib import Path

import pytest

from shared import cpus


@pytest.fixture
def many_cores(monkeypatch):
    """A 64-core node, every core allowed."""
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    monkeypatch.setattr(cpus.os, "cpu_count", lambda: 64)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text + "\n")
    return root


@pytest.mark.parametrize(("files", "expected"), [
    ({"cpu.max": "200000 100000"}, 2),  # v2: limits.cpu 2
    ({"cpu.max": "150000 100000"}, 2),  # 1500m: two threads may run
    ({"cpu.max": "50000 100000"}, 1),  # 500m: still one
    ({"cpu.max": "max 100000"}, 64),  # v2 without a limit
    ({"cpu,cpuacct/cpu.cfs_quota_us": "400000",
      "cpu,cpuacct/cpu.cfs_period_us": "100000"}, 4),  # v1, Docker's mount name
    ({"cpu/cpu.cfs_quota_us": "300000", "cpu/cpu.cfs_period_us": "100000"}, 3),
    ({"cpu.cfs_quota_us": "-1", "cpu.cfs_period_us": "100000"}, 64),  # v1 without a limit
    ({"cpu.max": "garbage"}, 64),
    ({"cpu.max": "100000 0"}, 64),
    ({}, 64),  # no cgroup files at all: the scheduler's view
])
def test_available_cpus_follows_the_quota(tmp_path, many_cores, files, expected):
    assert cpus.available_cpus(_write(tmp_path, files)) == expected


def test_v2_wins_over_v1_files(tmp_path, many_cores):
    root = _write(tmp_path, {"cpu.max": "max 100000", "cpu/cpu.cfs_quota_us": "100000",
                             "cpu/cpu.cfs_period_us": "100000"})
    assert cpus.cgroup_quota(root) is None  # v2 says no limit: v1 leftovers are not read
    assert cpus.available_cpus(root) == 64


def test_the_affinity_mask_caps_a_larger_quota(tmp_path, monkeypatch):
    monkeypatch.setattr(cpus.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    assert cpus.available_cpus(_write(tmp_path, {"cpu.max": "800000 100000"})) == 3


def test_without_affinity_the_core_count_is_used(tmp_path, monkeypatch):
    def unsupported(pid):
        raise OSError("no")

    monkeypatch.setattr(cpus.os, "sched_getaffinity", unsupported, raising=False)
    monkeypatch.setattr(cpus.os, "cpu_count", lambda: None)
    assert cpus.available_cpus(tmp_path) == 1  # nothing known: one, never zero
    monkeypatch.setattr(cpus.os, "cpu_count", lambda: 16)
    assert cpus.available_cpus(_write(tmp_path, {"cpu.max": "250000 100000"})) == 3


def test_this_machine_answers_something_sane():
    assert 1 <= cpus.available_cpus() <= (cpus.os.cpu_count() or 1)
