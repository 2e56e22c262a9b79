"""Versioned schema migrations: services/gallery/migrations/NNN_name.sql, applied in order, each
in its own transaction, recorded in schema_migrations. An advisory lock lets several processes
start at once (`facegate migrate`, the gateway at start-up) without racing."""

from __future__ import annotations

import logging
from pathlib import Path

import psycopg

log = logging.getLogger("facegate.migrate")

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x46414345  # "FACE"


def pending(applied: set[int]) -> list[tuple[int, Path]]:
    found = sorted((int(p.name.split("_", 1)[0]), p) for p in MIGRATIONS.glob("*.sql"))
    return [(version, path) for version, path in found if version not in applied]


def migrate(database_url: str) -> list[str]:
    done = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
        try:
            conn.execute("""CREATE TABLE IF NOT EXISTS schema_migrations (
                version integer PRIMARY KEY, name text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now())""")
            applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            for version, path in pending(applied):
                with conn.transaction():
                    conn.execute(path.read_text())
                    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                                 (version, path.stem))
                log.info("applied migration %s", path.stem)
                done.append(path.stem)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    return done


def pgvector_version(conn: psycopg.Connection) -> tuple[int, ...]:
    row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
    return tuple(int(part) for part in row[0].split(".")) if row else ()
