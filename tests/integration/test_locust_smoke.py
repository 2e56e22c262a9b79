"""The locust scenarios (bench/locustfile.py) run headless for a few seconds each against the
suite's stack: every scenario's requests succeed and there are some of them. A smoke run, not a
benchmark: nothing here asserts a timing (bench/loadtest.py measures)."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import make_app

ROOT = Path(__file__).resolve().parents[2]
SECONDS = 8
# scenario (user classes) -> ({request name: at least this many}, requests of the loop proper,
# at least one of which must have run: the users got past their set-up)
SCENARIOS = {
    "CloudWalkUser": ({"group/create": 2, "face/create": 2, "Aggregated": 6},
                      {"identify", "detect", "compare"}),
    "BaiduUser": ({"oauth/token": 2, "user/add": 2, "Aggregated": 6},
                  {"identify", "detect", "match"}),
    "NativeUser": ({"groups create": 2, "faces create": 2, "Aggregated": 6},
                   {"identify", "detect", "compare"}),
    "IngestUser NativeIdentifyUser": ({"bulk job (2 photos)": 1, "faces/bulk (submit)": 1,
                                       "identify": 1, "Aggregated": 6}, set()),
}


@pytest.fixture(scope="module")
def locust_app(stack):
    return make_app(stack, "locust")


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_a_locust_scenario_runs_without_failures(stack, locust_app, scenario, tmp_path):
    env = {**os.environ, "FACEGATE_APP_ID": locust_app.app.api_key,
           "FACEGATE_APP_SECRET": locust_app.secret,
           # the portrait test faces only: LFW is for measuring, not a fixture of the suite
           "FACEGATE_LOAD_LFW": "none", "FACEGATE_LOAD_BULK_PHOTOS": "2",
           "FACEGATE_LOAD_START_ENROL": "1"}
    env.pop("FACEGATE_LOAD_GROUP", None)
    users = len(scenario.split()) + 1
    command = [sys.executable, "-m", "locust", "-f", "bench/locustfile.py", "--headless",
               "-u", str(users), "-r", str(users), "-t", f"{SECONDS}s", "--stop-timeout", "30",
               "--host", stack.base_url, "--csv", str(tmp_path / "run"), "--only-summary",
               "--loglevel", "WARNING", *scenario.split()]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    with open(tmp_path / "run_stats.csv") as handle:
        rows = {row["Name"]: row for row in csv.DictReader(handle)}
    output = f"{done.stdout}\n{done.stderr}"  # locust's summary table and any errors
    print(output)  # shown by pytest when an assertion below fails
    assert int(rows["Aggregated"]["Failure Count"]) == 0, output
    least, loop = SCENARIOS[scenario]
    for name, count in least.items():
        assert name in rows, (name, sorted(rows), output)
        assert int(rows[name]["Request Count"]) >= count, (name, rows[name], output)
    assert not loop or sum(int(rows[name]["Request Count"]) for name in loop if name in rows
                           ) >= 1, (sorted(rows), output)
    assert done.returncode == 0, output
