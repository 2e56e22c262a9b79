"""Synchronous enrolment for workers (bulk jobs): the same statements and the same rules as the
repository's add_face, one transaction per face."""

from __future__ import annotations

import numpy as np
import psycopg
from pgvector.psycopg import register_vector

from services.gallery import sql
from shared.errors import ERRORS, FaceError


def connect(database_url: str) -> psycopg.Connection:
    conn = psycopg.connect(database_url, autocommit=True)
    register_vector(conn)
    return conn


def check_group(conn: psycopg.Connection, app: int, group_name: str, model: int) -> None:
    row = conn.execute("SELECT model FROM groups WHERE app_id = %s AND name = %s",
                       (app, group_name)).fetchone()
    if row is None:
        raise FaceError(ERRORS.GROUP_NOT_FOUND, f"group {group_name}")
    if row[0] != model:
        raise FaceError(ERRORS.MODEL_MISMATCH,
                        f"group {group_name} holds model {row[0]}, this worker makes {model}")


def enrol(conn: psycopg.Connection, app: int, group_name: str, model: int, vector: np.ndarray,
          box: list[int], quality: float, tag: str, sha256: bytes, key: str) -> tuple[int, bool]:
    """(face id, created). A key seen before in the group returns its face: retries and
    redelivered tasks enrol nothing twice."""
    with conn.transaction():
        group = conn.execute(sql.LOCK_GROUP, (app, group_name)).fetchone()
        if group is None:
            raise FaceError(ERRORS.GROUP_NOT_FOUND, f"group {group_name}")
        existing = conn.execute(sql.FACE_BY_KEY, (group[0], key)).fetchone()
        if existing:
            return existing[0], False
        (face_id,) = conn.execute(sql.INSERT_FACE, (
            app, group[0], model, np.asarray(vector, np.float32), box, quality, tag, sha256,
            key)).fetchone()
        conn.execute(sql.COUNT_UP, (1, group[0]))
    return face_id, True


def build_index(conn: psycopg.Connection, group_pk: int) -> bool:
    """Build a group's HNSW index unless another process is already at it. `conn` must be in
    autocommit mode (CREATE INDEX CONCURRENTLY cannot run in a transaction)."""
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
    with connect(database_url) as conn:
        groups = [row[0] for row in conn.execute(sql.GROUPS_TO_INDEX, (min_faces,))]
        return [group for group in groups if build_index(conn, group)]
