"""Run the locust mix headless against a private local stack and save its report.

    .venv/bin/python -m bench.loadtest [--users 8] [--spawn-rate 2] [--seconds 60]
    .venv/bin/python -m bench.loadtest --url https://facegate.example.com   # a deployment
        (with FACEGATE_APP_ID / FACEGATE_APP_SECRET of an app made there)

Local: embedded Redis and PostgreSQL in a temporary folder, one worker, the gateway on a free
loopback port, an app made for the run. The report (locust's HTML and CSV files) goes to
bench/out/locust/; the summary table is printed.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from pathlib import Path

from bench.stack import bench_stack

OUT = Path(__file__).resolve().parent / "out" / "locust"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--spawn-rate", type=float, default=2.0)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--url", default=None)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with bench_stack(args.url) as (url, _):
        env = dict(os.environ)  # FACEGATE_APP_ID / _SECRET: the run's app (bench/stack.py)
        command = [sys.executable, "-m", "locust", "-f", "bench/locustfile.py", "--headless",
                   "-u", str(args.users), "-r", str(args.spawn_rate), "-t", f"{args.seconds}s",
                   "--host", url, "--csv", str(OUT / "report"), "--html",
                   str(OUT / "report.html"), "--only-summary", "--stop-timeout", "30"]
        print(" ".join(command[2:]))
        subprocess.run(command, env=env, check=False, cwd=Path(__file__).resolve().parents[1])
    with open(OUT / "report_stats.csv") as handle:
        rows = list(csv.DictReader(handle))
    print(f"\n{'request':14s} {'count':>6s} {'fail':>5s} {'req/s':>6s} {'p50':>6s} {'p95':>6s} "
          f"{'p99':>6s} ms")
    for row in rows:
        print(f"{row['Name']:14s} {row['Request Count']:>6s} {row['Failure Count']:>5s} "
              f"{float(row['Requests/s']):6.2f} {row['50%']:>6s} {row['95%']:>6s} "
              f"{row['99%']:>6s}")
    print(f"report: {OUT / 'report.html'}")


if __name__ == "__main__":
    main()
