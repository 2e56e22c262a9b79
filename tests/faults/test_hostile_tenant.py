"""The hostile-tenant test, short: bench/hostile_tenant.py's "all" phase (one app's async
flood at its rate limit, an ingestion of 2,000 photos, a zip bomb, a tar.gz bomb and a zip of
200,000 entries, 100-megapixel PNGs three at a time, and wrong secrets from a third address,
all at once) against a private stack, while another app sends synchronous detects and
identifies. Checked: no gateway or worker process died, the honest app got no failure and
kept every face it enrolled, and each attack got its refusal. Latency is the bench's to
report (docs/performance.md, "One app against another"), never asserted here.

Run alone: .venv/bin/python -m pytest tests/faults/test_hostile_tenant.py -s
"""

from __future__ import annotations

import json
import re

import pytest

from bench.hostile_tenant import run
from bench.stack import bench_stack

pytestmark = pytest.mark.faults


def test_one_app_attacking_within_its_limits_harms_no_other():
    with bench_stack(FACEGATE_RATE_LIMIT="100", FACEGATE_LOG_LEVEL="WARNING",
                     FACEGATE_TRUSTED_PROXIES="127.0.0.1") as (_, stack):
        summary = run(stack, ["all"], seconds=10.0, drain_s=240.0, report=lambda _: None)
    [phase] = summary["phases"]
    print("\n" + json.dumps(phase))
    assert all(phase["alive"].values()), phase["alive"]
    assert phase["honest"]["failures"] == {}, phase["honest"]
    assert phase["honest"]["detect"]["n"] > 0 and phase["honest"]["identify"]["n"] > 0
    assert summary["honest_faces_after"] == summary["honest_faces_before"] == 2
    answers = phase["attacker"]
    for bomb in ("zip bomb", "tar.gz bomb", "200k entries"):  # refused, whichever limit first
        [answer] = [k for k in answers if k.startswith(bomb + " ")]
        assert answer.split()[-2] in ("400", "429") or answer.endswith("400"), answers
    assert answers.get("async 429 RATE_LIMIT", 0) > 0, answers  # its job share
    assert answers.get("login 429 RATE_LIMIT", 0) > 0, answers  # the guard
    # every answer an HTTP status the attack deserves (no exception, no server error)
    statuses = [re.search(r" (\d{3})(?: |$)", k) for k in answers]
    deserved = ("200", "202", "400", "401", "413", "429", "503")
    assert all(s and s[1] in deserved for s in statuses), answers
    assert phase["drained_s"] < 240.0  # the backlog ended: nothing stuck
