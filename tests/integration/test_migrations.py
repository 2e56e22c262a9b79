"""Schema migrations on real PostgreSQL (the stack's embedded server, a fresh database per test):
two processes started at once apply each migration once; a database migrated before yoyo
upgrades in place; a migration edited after it was applied is refused; a lock left by a killed
process does not block the next start."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from services.cli.stack import Stack
from services.gallery.migrate import MIGRATIONS, MigrationError, migrate

IDS = sorted(p.stem for p in MIGRATIONS.glob("*.sql"))


@pytest.fixture
def empty_database(stack: Stack) -> Iterator[str]:
    name = f"migrate_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(stack.database_url, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    parts = urlsplit(stack.database_url)
    yield urlunsplit(parts._replace(path=f"/{name}"))
    with psycopg.connect(stack.database_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def _applied(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [row[0] for row in conn.execute(
            "SELECT migration_id FROM _yoyo_migration ORDER BY applied_at_utc, migration_id")]


def test_two_processes_at_once_apply_each_migration_once(empty_database: str):
    env = {**os.environ, "FACEGATE_DATABASE_URL": empty_database, "FACEGATE_LOG_LEVEL": "INFO"}
    command = [sys.executable, "-m", "services.cli.main", "migrate"]
    runs = [subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for _ in range(2)]
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    together = "\n".join(outputs)
    for migration_id in IDS:  # applied by exactly one of the two
        assert together.count(f"applied migration {migration_id}") == 1, together
    assert sorted(_applied(empty_database)) == IDS
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT count(*) FROM yoyo_lock").fetchone()[0] == 0
        assert conn.execute("SELECT to_regclass('faces')").fetchone()[0] == "faces"
    assert migrate(empty_database) == []  # a third start finds nothing to do


def test_a_database_migrated_before_yoyo_upgrades_in_place(empty_database: str):
    old = IDS[:-1]  # as the hand-written migrator left it, one migration behind
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("""CREATE TABLE schema_migrations (version integer PRIMARY KEY,
            name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())""")
        for migration_id in old:
            with conn.transaction():
                conn.execute((MIGRATIONS / f"{migration_id}.sql").read_text())
                conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                             (int(migration_id[:3]), migration_id))
        conn.execute("INSERT INTO apps (name, api_key) VALUES ('kept', 'kept-key')")
    assert migrate(empty_database) == [IDS[-1]]  # only the new one runs
    assert sorted(_applied(empty_database)) == IDS
    with psycopg.connect(empty_database) as conn:
        assert conn.execute("SELECT name FROM apps WHERE api_key = 'kept-key'").fetchone() \
            == ("kept",)


def test_an_edited_migration_is_refused(empty_database: str):
    migrate(empty_database)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("UPDATE facegate_migration_checksum SET sha256 = repeat('0', 64) "
                     "WHERE migration_id = %s", (IDS[0],))
    with pytest.raises(MigrationError, match=f"migration {IDS[0]} was changed"):
        migrate(empty_database)


def test_a_lock_left_by_a_killed_process_does_not_block(empty_database: str):
    migrate(empty_database)
    with psycopg.connect(empty_database, autocommit=True) as conn:
        conn.execute("INSERT INTO yoyo_lock (locked, ctime, pid) VALUES (1, now(), 999999)")
    assert migrate(empty_database) == []
