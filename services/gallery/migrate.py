"""Schema migrations: services/gallery/migrations/NNN_name.sql, applied in order by
yoyo-migrations, each in its own transaction, recorded in yoyo's `_yoyo_migration` table.

Two guards yoyo does not give on its own:
- Many processes start at once (`facegate migrate`, every gateway at start-up, in compose and
  Kubernetes): a PostgreSQL advisory lock, held on its own connection, lets one of them migrate
  while the others wait, and PostgreSQL releases it when its holder dies. (yoyo's own lock is a
  row that a killed process leaves behind; under the advisory lock any such row is a dead
  process's, so it is cleared.)
- A migration edited after it was applied would leave databases that differ: each applied
  file's SHA-256 is recorded (`facegate_migration_checksum`) and a changed file stops the
  migration with MigrationError naming it.

A database migrated before yoyo (its `schema_migrations` table lists versions) is adopted in
place: those versions are marked applied in yoyo's table, nothing is run again.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import psycopg
from yoyo import read_migrations
from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
from yoyo.connections import DatabaseURI
from yoyo.migrations import Migration, MigrationList

log = logging.getLogger("facegate.migrate")

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_TABLE = "_yoyo_migration"
_LOCK_KEY = 0x46414345  # "FACE"


class MigrationError(RuntimeError):
    """The database and the migrations on disk disagree; nothing was applied."""


class _Backend(PostgresqlPsycopgBackend):
    """yoyo's psycopg backend on the connection string facegate was given, as it is: yoyo's
    own URI parser would have to re-read passwords, sockets and query options."""

    def connect(self, dburi: DatabaseURI) -> psycopg.Connection:
        return psycopg.connect(dburi.args["conninfo"], autocommit=True)


def _backend(database_url: str, dbname: str) -> _Backend:
    uri = DatabaseURI("postgresql+psycopg", None, None, None, None, dbname,
                      {"conninfo": database_url})
    return _Backend(uri, MIGRATION_TABLE)


def checksum(migration: Migration) -> str:
    return hashlib.sha256(Path(migration.path).read_bytes()).hexdigest()


def migrate(database_url: str) -> list[str]:
    """Apply what is pending; the ids applied, in order."""
    migrations = read_migrations(str(MIGRATIONS))
    done = []
    with psycopg.connect(database_url, autocommit=True) as guard:
        guard.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            backend = _backend(database_url, guard.info.dbname)
            try:
                backend.init_database()
                backend.break_lock()  # under the advisory lock: a dead process's row
                _adopt_versions(guard, backend, migrations)
                _check_sums(guard, backend, migrations)
                with backend.lock():
                    for migration in backend.to_apply(migrations):
                        backend.apply_one(migration)
                        _record_sum(guard, migration)
                        log.info("applied migration %s", migration.id)
                        done.append(migration.id)
            finally:
                backend.connection.close()
        finally:
            guard.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return done


def _adopt_versions(conn: psycopg.Connection, backend: _Backend,
                     migrations: MigrationList) -> None:
    """Mark the versions the pre-yoyo migrator recorded as applied in yoyo's table."""
    if conn.execute("SELECT to_regclass('schema_migrations')").fetchone()[0] is None:
        return
    versions = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
    applied = set(backend.get_applied_migration_hashes())
    adopted = [m for m in migrations
               if int(m.id.split("_", 1)[0]) in versions and m.hash not in applied]
    if adopted:
        backend.mark_migrations(adopted)
        log.info("adopted migrations applied before yoyo: %s",
                 ", ".join(m.id for m in adopted))


def _check_sums(conn: psycopg.Connection, backend: _Backend,
                migrations: MigrationList) -> None:
    conn.execute("""CREATE TABLE IF NOT EXISTS facegate_migration_checksum (
        migration_id text PRIMARY KEY, sha256 text NOT NULL)""")
    recorded = dict(conn.execute("SELECT migration_id, sha256 FROM facegate_migration_checksum"))
    applied = set(backend.get_applied_migration_hashes())
    on_disk = {m.hash for m in migrations}
    unknown = applied - on_disk
    if unknown:
        ids = [row[0] for row in conn.execute(
            f"SELECT migration_id FROM {MIGRATION_TABLE} WHERE migration_hash = ANY(%s)",
            (list(unknown),))]
        # A newer facegate migrated it (a rolling upgrade, or a rollback): carry on, as the
        # schema only grows, but say so.
        log.warning("the database has migrations this version does not know: %s",
                    ", ".join(sorted(ids)))
    for migration in migrations:
        if migration.hash not in applied:
            continue
        if migration.id not in recorded:  # adopted, or applied before checksums were kept
            _record_sum(conn, migration)
        elif recorded[migration.id] != checksum(migration):
            raise MigrationError(f"migration {migration.id} was changed after it was applied "
                                 f"(SHA-256 {checksum(migration)[:12]}, recorded "
                                 f"{recorded[migration.id][:12]}); add a new migration instead")


def _record_sum(conn: psycopg.Connection, migration: Migration) -> None:
    conn.execute("INSERT INTO facegate_migration_checksum (migration_id, sha256) "
                 "VALUES (%s, %s) ON CONFLICT (migration_id) DO NOTHING",
                 (migration.id, checksum(migration)))


def pgvector_version(conn: psycopg.Connection) -> tuple[int, ...]:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    return tuple(int(part) for part in row[0].split(".")) if row else ()
