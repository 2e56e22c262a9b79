"""The `facegate` command.

    facegate prepare     convert/check model weights into FACEGATE_MODEL_DIR
    facegate run         the whole stack on this host (embedded Redis/PostgreSQL unless URLs set)
    facegate worker      one Celery worker (uses FACEGATE_REDIS_URL)
    facegate gateway     the HTTP gateway (uses FACEGATE_REDIS_URL)
    facegate migrate     apply gallery schema migrations (the gateway also does at start-up)
    facegate index       build HNSW indexes for groups over FACEGATE_HNSW_MIN_FACES
    facegate settings    print the configuration table
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time

from shared.settings import get_settings, settings_table


def _prepare() -> None:
    from services.vision.prepare import prepare_models

    for path in prepare_models(get_settings().model_dir):
        print(f"prepared {path}")


def _migrate() -> None:
    from services.gallery.migrate import migrate

    settings = get_settings()
    if not settings.database_url:
        raise SystemExit("FACEGATE_DATABASE_URL is not set")
    applied = migrate(settings.database_url)
    print("applied: " + (", ".join(applied) if applied else "nothing, schema is current"))


def _index() -> None:
    from services.gallery.enrol import index_large_groups

    settings = get_settings()
    built = index_large_groups(settings.database_url, settings.hnsw_min_faces)
    print(f"built HNSW indexes for {len(built)} group(s)")


def _run() -> None:
    from services.ops.stack import Stack

    settings = get_settings()
    _prepare()
    stack = Stack(settings)

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a process started in the background inherits SIGINT as ignored,
    # and SIGTERM (docker stop, systemd, timeout) must stop the children as Ctrl-C does.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        stack.start_services()
        print(f"redis:    {stack.redis_url}" + (" (embedded)" if stack.redis else ""))
        print(f"postgres: {stack.database_url}" + (" (embedded)" if stack.postgres else ""))
        for _ in range(settings.workers):
            stack.start_worker()
        print(f"workers:  {settings.workers} x {settings.worker_concurrency} threads, "
              f"embedder {settings.embedder}, loading models...")
        stack.wait_for_workers()
        stack.start_gateway()
        print(f"facegate listening on {stack.base_url}  (logs in {stack.log_dir}; Ctrl-C stops)")
        while all(p.poll() is None for p in [stack.gateway, *stack.workers]):
            time.sleep(1.0)
        print("a child process exited; stopping (see the logs)", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping facegate...")
        stack.stop()


def _worker() -> None:
    from services.ops.stack import worker_args

    os.execv(sys.executable, [sys.executable, *worker_args(get_settings())])


def _gateway() -> None:
    from services.ops.stack import gateway_args

    settings = get_settings()
    os.execv(sys.executable, [sys.executable, *gateway_args(settings, settings.port)])


def main() -> None:
    parser = argparse.ArgumentParser(prog="facegate")
    parser.add_argument("command", choices=["prepare", "run", "worker", "gateway", "migrate",
                                            "index", "settings"])
    args = parser.parse_args()
    logging.basicConfig(level=get_settings().log_level)
    {"prepare": _prepare, "run": _run, "worker": _worker, "gateway": _gateway,
     "migrate": _migrate, "index": _index,
     "settings": lambda: print(settings_table())}[args.command]()


if __name__ == "__main__":
    main()
