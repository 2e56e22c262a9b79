"""Index maintenance: a group that reaches FACEGATE_HNSW_MIN_FACES gets its own partial HNSW
index (faces.py explains why per group). The only writer of the `indexed` flag and of the
indexes themselves; builds run CONCURRENTLY (writes go on, searches stay exact meanwhile) under
an advisory lock, so two processes never build one group's index twice."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import psycopg
from pgvector.psycopg import register_vector

from services.gallery import sql
from services.gallery.records import Group


def connect(database_url: str) -> psycopg.Connection:
    """A synchronous autocommit connection (CREATE INDEX CONCURRENTLY cannot run in a
    transaction)."""
    conn = psycopg.connect(database_url, autocommit=True)
    register_vector(conn)
    return conn


def build_index(conn: psycopg.Connection, group_pk: int) -> bool:
    """Build a group's HNSW index unless another process is already at it."""
    locked = conn.execute("SELECT pg_try_advisory_lock(%s, %s)",
                          (sql.INDEX_LOCK, group_pk)).fetchone()[0]
    if not locked:
        return False
    try:
        conn.execute(sql.HNSW_INDEX.format(id=int(group_pk)))
        conn.execute(sql.MARK_INDEXED, (group_pk,))
        return True
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s, %s)", (sql.INDEX_LOCK, group_pk))


def index_large_groups(database_url: str, min_faces: int) -> list[int]:
    """Every group at or past the threshold without its index gets one (`facegate index`)."""
    with connect(database_url) as conn:
        groups = [row[0] for row in conn.execute(sql.GROUPS_TO_INDEX, (min_faces,))]
        return [group for group in groups if build_index(conn, group)]


class Indexes:
    def __init__(self, database_url: str, min_faces: int) -> None:
        self.database_url = database_url
        self.min_faces = min_faces
        self._builds: set[asyncio.Task] = set()

    def needs_index(self, group: Group) -> bool:
        return not group.indexed and group.face_count >= self.min_faces

    async def ensure_index(self, group: Group) -> bool:
        """Build the group's index if it needs one; in a thread (a build takes minutes)."""
        if not self.needs_index(group):
            return False

        def build() -> bool:
            with connect(self.database_url) as conn:
                return build_index(conn, group.id)

        return await asyncio.to_thread(build)

    def build_soon(self, groups: Iterable[Group]) -> None:
        """Groups (with their face counts after a write) that reached the threshold get their
        index built in the background; the caller's request does not wait for it."""
        for group in groups:
            if self.needs_index(group):
                task = asyncio.create_task(self.ensure_index(group))
                self._builds.add(task)  # the loop keeps only weak references to tasks
                task.add_done_callback(self._builds.discard)

    def build_pending(self) -> list[int]:
        """Synchronously, every group past the threshold (the end of a bulk enrolment)."""
        return index_large_groups(self.database_url, self.min_faces)
