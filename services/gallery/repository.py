"""The gallery repository: apps -> groups -> faces (and Baidu users), on PostgreSQL + pgvector.

Everything that touches the gallery tables goes through this class; handlers never see SQL.

Search. Embeddings are L2-normalised, so cosine distance (`<=>`) ranks exactly as similarity.
A search is always restricted to one group, which is where HNSW in pgvector < 0.8 loses recall:
a global index returns its ef_search nearest rows first and the group filter runs afterwards,
so a group that is a small slice of the table gets few or no rows back. facegate never filters
after an approximate search:
- a group below `hnsw_min_faces` is scanned exactly (its rows by the (group_id, id) index, every
  distance computed, sorted): exact by construction;
- a group at or above it gets its own partial HNSW index (`WHERE group_id = N`) and queries name
  the group as a literal so the planner uses that index; the graph holds only that group's
  faces, so there is nothing to filter away.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import psycopg
from pgvector import Vector
from pgvector.psycopg import register_vector_async
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from services.gallery import enrol, sql
from services.gallery.apps import APP_COLUMNS, App
from services.gallery.migrate import migrate, pgvector_version
from services.gallery.users import BaiduUsers
from shared.errors import ERRORS, FaceError

DEFAULT_APP = 1
HNSW_EF_SEARCH = 100


@dataclass
class Group:
    id: int
    name: str
    tag: str
    model: int
    face_count: int
    indexed: bool


@dataclass
class StoredFace:
    id: int
    group: str
    tag: str
    box: list[int]
    quality: float | None
    created_at: datetime
    updated_at: datetime


@dataclass
class Match:
    face_id: int
    cosine: float
    tag: str
    user_id: int | None = None


@dataclass
class Identity:
    id_card_number: str
    name: str
    model: int
    vector: np.ndarray


def image_hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def _array(stored) -> np.ndarray:
    if isinstance(stored, Vector):  # pgvector-python's binary loader wraps the array
        stored = stored.to_numpy()
    return np.asarray(stored, np.float32)


class Gallery(BaiduUsers):
    def __init__(self, pool: AsyncConnectionPool, hnsw_min_faces: int = 2000,
                 pgvector: tuple[int, ...] = ()) -> None:
        self.pool = pool
        self.hnsw_min_faces = hnsw_min_faces
        self.pgvector = pgvector

    @classmethod
    async def open(cls, database_url: str, hnsw_min_faces: int = 2000,
                   max_size: int = 16) -> Gallery:
        migrate(database_url)
        with psycopg.connect(database_url) as conn:
            version = pgvector_version(conn)

        async def configure(conn: psycopg.AsyncConnection) -> None:
            await register_vector_async(conn)
            # Once per connection rather than SET LOCAL per query: a search is one round trip.
            await conn.execute(f"SET hnsw.ef_search = {HNSW_EF_SEARCH}")
            if version >= (0, 8, 0):
                # Safety net: should a plan ever filter after an index scan, 0.8 keeps scanning
                # until enough rows pass instead of returning too few.
                await conn.execute("SET hnsw.iterative_scan = relaxed_order")

        # Autocommit: a read is one round trip (no BEGIN, no ROLLBACK when the connection goes
        # back to the pool); writes open explicit transactions.
        pool = AsyncConnectionPool(database_url, min_size=1, max_size=max_size,
                                   kwargs={"autocommit": True}, configure=configure, open=False)
        await pool.open(wait=True)
        return cls(pool, hnsw_min_faces, version)

    async def close(self) -> None:
        await self.pool.close()

    # apps -------------------------------------------------------------------------------
    async def app_by_credential(self, key_or_name: str) -> App | None:
        """The app whose API key (or, for CloudWalk's app_id, name) this is."""
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                f"SELECT {APP_COLUMNS} FROM apps WHERE api_key = %s OR name = %s "
                "ORDER BY api_key = %s DESC LIMIT 1",
                (key_or_name, key_or_name, key_or_name))).fetchone()
        return App(*row) if row else None

    async def app_by_id(self, app_id: int) -> App | None:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                f"SELECT {APP_COLUMNS} FROM apps WHERE id = %s", (app_id,))).fetchone()
        return App(*row) if row else None

    # identities (person/verify) ---------------------------------------------------------
    async def put_identity(self, app: int, id_card_number: str, name: str, vector: np.ndarray,
                           model: int) -> bool:
        """Add or replace a registered identity photo; True when it is new."""
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                "INSERT INTO identities (app_id, id_card_number, name, model, embedding) "
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (app_id, id_card_number) DO UPDATE "
                "SET name = EXCLUDED.name, model = EXCLUDED.model, "
                "embedding = EXCLUDED.embedding, updated_at = now() RETURNING xmax = 0",
                (app, id_card_number, name, model, np.asarray(vector, np.float32)))).fetchone()
        return bool(row[0])

    async def identity(self, app: int, id_card_number: str) -> Identity:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                "SELECT id_card_number, name, model, embedding FROM identities "
                "WHERE app_id = %s AND id_card_number = %s", (app, id_card_number))).fetchone()
        if row is None:
            raise FaceError(ERRORS.IDENTITY_NOT_FOUND, f"{id_card_number} is not registered")
        return Identity(row[0], row[1], row[2], _array(row[3]))

    async def delete_identity(self, app: int, id_card_number: str) -> None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(
                "DELETE FROM identities WHERE app_id = %s AND id_card_number = %s",
                (app, id_card_number))
        if not cur.rowcount:
            raise FaceError(ERRORS.IDENTITY_NOT_FOUND, f"{id_card_number} is not registered")

    # groups -----------------------------------------------------------------------------
    async def create_group(self, app: int, name: str, tag: str, model: int) -> Group:
        async with self.pool.connection() as conn:
            try:
                row = await (await conn.execute(
                    "INSERT INTO groups (app_id, name, tag, model) VALUES (%s, %s, %s, %s) "
                    "RETURNING id, name, tag, model, face_count, indexed",
                    (app, name, tag, model))).fetchone()
            except psycopg.errors.UniqueViolation:
                raise FaceError(ERRORS.GROUP_CREATE, f"group {name} already exists") from None
        return Group(*row)

    async def group(self, app: int, name: str) -> Group:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                "SELECT id, name, tag, model, face_count, indexed FROM groups "
                "WHERE app_id = %s AND name = %s", (app, name))).fetchone()
        if row is None:
            raise FaceError(ERRORS.GROUP_NOT_FOUND, f"group {name}")
        return Group(*row)

    async def delete_group(self, app: int, name: str) -> None:
        async with self.pool.connection() as conn:
            async with conn.transaction():
                row = await (await conn.execute(
                    "DELETE FROM groups WHERE app_id = %s AND name = %s RETURNING id",
                    (app, name))).fetchone()  # its faces go with it (ON DELETE CASCADE)
            if row is None:
                raise FaceError(ERRORS.GROUP_NOT_FOUND, f"group {name}")
            # After the commit and CONCURRENTLY: a plain DROP INDEX would lock the whole faces
            # table and stall every search while it waits.
            await conn.execute(f"DROP INDEX CONCURRENTLY IF EXISTS faces_hnsw_g{int(row[0])}")

    async def groups_page(self, app: int, page: int, size: int) -> tuple[int, list[Group]]:
        async with self.pool.connection() as conn:
            total = (await (await conn.execute(
                "SELECT count(*) FROM groups WHERE app_id = %s", (app,))).fetchone())[0]
            rows = await (await conn.execute(
                "SELECT id, name, tag, model, face_count, indexed FROM groups WHERE app_id = %s "
                "ORDER BY id LIMIT %s OFFSET %s", (app, size, (page - 1) * size))).fetchall()
        return total, [Group(*row) for row in rows]

    # faces ------------------------------------------------------------------------------
    async def add_face(self, app: int, group_name: str, vector: np.ndarray, model: int,
                       box: list[int], quality: float | None, tag: str, sha256: bytes | None,
                       request_key: str | None = None) -> int:
        """One transaction: the face row and the group's count, or neither. With a
        request_key, a retried enrolment returns the face it already made."""
        async with self.pool.connection() as conn, conn.transaction():
            group = await self._lock_group(conn, app, group_name)
            if group.model != model:
                raise FaceError(ERRORS.MODEL_MISMATCH,
                                f"group {group_name} holds model {group.model}, face is {model}")
            if request_key:
                row = await (await conn.execute(sql.FACE_BY_KEY, (group.id, request_key))
                             ).fetchone()
                if row:
                    return row[0]
            row = await (await conn.execute(sql.INSERT_FACE, (
                app, group.id, model, np.asarray(vector, np.float32), box, quality, tag, sha256,
                request_key))).fetchone()
            await conn.execute(sql.COUNT_UP, (1, group.id))
            return row[0]

    async def _lock_group(self, conn, app: int, name: str) -> Group:
        # FOR UPDATE: concurrent enrolments into one group serialise on the group row, so the
        # count stays exact and a group deleted meanwhile is noticed.
        row = await (await conn.execute(sql.LOCK_GROUP, (app, name))).fetchone()
        if row is None:
            raise FaceError(ERRORS.GROUP_NOT_FOUND, f"group {name}")
        return Group(*row)

    async def delete_face(self, app: int, group_name: str, face_id: int) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            group = await self._lock_group(conn, app, group_name)
            row = await (await conn.execute(
                "DELETE FROM faces WHERE id = %s AND group_id = %s RETURNING id",
                (face_id, group.id))).fetchone()
            if row is None:
                raise FaceError(ERRORS.FACE_NOT_FOUND, f"face {face_id} in group {group_name}")
            await conn.execute(sql.COUNT_UP, (-1, group.id))

    async def edit_face(self, app: int, group_name: str, face_id: int, tag: str | None = None,
                        vector: np.ndarray | None = None, model: int | None = None,
                        box: list[int] | None = None, quality: float | None = None,
                        sha256: bytes | None = None) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            group = await self._lock_group(conn, app, group_name)
            if vector is not None and model != group.model:
                raise FaceError(ERRORS.MODEL_MISMATCH,
                                f"group {group_name} holds model {group.model}, face is {model}")
            sets, values = ["updated_at = now()"], []
            if tag is not None:
                sets.append("tag = %s")
                values.append(tag)
            if vector is not None:
                sets += ["embedding = %s", "box = %s", "quality = %s", "image_sha256 = %s"]
                values += [np.asarray(vector, np.float32), box or [], quality, sha256]
            row = await (await conn.execute(
                f"UPDATE faces SET {', '.join(sets)} WHERE id = %s AND group_id = %s "
                "RETURNING id", (*values, face_id, group.id))).fetchone()
            if row is None:
                raise FaceError(ERRORS.FACE_NOT_FOUND, f"face {face_id} in group {group_name}")

    async def face(self, app: int, group_name: str, face_id: int) -> StoredFace:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            row = await (await cur.execute(
                "SELECT f.id, g.name AS group, f.tag, f.box, f.quality, f.created_at, "
                "f.updated_at FROM faces f JOIN groups g ON g.id = f.group_id "
                "WHERE g.app_id = %s AND g.name = %s AND f.id = %s",
                (app, group_name, face_id))).fetchone()
        if row is None:
            await self.group(app, group_name)  # 12357 if it is the group that is missing
            raise FaceError(ERRORS.FACE_NOT_FOUND, f"face {face_id} in group {group_name}")
        return StoredFace(**row)

    async def face_vector(self, app: int, group_name: str, face_id: int
                          ) -> tuple[int, np.ndarray]:
        group = await self.group(app, group_name)
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                "SELECT model, embedding FROM faces WHERE id = %s AND group_id = %s",
                (face_id, group.id))).fetchone()
        if row is None:
            raise FaceError(ERRORS.FACE_NOT_FOUND, f"face {face_id} in group {group_name}")
        return row[0], _array(row[1])

    # search -----------------------------------------------------------------------------
    async def identify(self, app: int, group_name: str, vector: np.ndarray, model: int,
                       top_n: int) -> list[Match]:
        group = await self.searchable_group(app, group_name, model)
        return await self.search(group, vector, top_n)

    async def searchable_group(self, app: int, group_name: str, model: int) -> Group:
        """The group, if faces of `model` can be searched in it (else 12357, 12356, 12358)."""
        group = await self.group(app, group_name)
        if group.model != model:
            raise FaceError(ERRORS.MODEL_MISMATCH,
                            f"group {group_name} holds model {group.model}, face is {model}")
        if group.face_count == 0:
            raise FaceError(ERRORS.GROUP_EMPTY, f"group {group_name}")
        return group

    async def search(self, group: Group, vector: np.ndarray, top_n: int) -> list[Match]:
        query = np.asarray(vector, np.float32)
        async with self.pool.connection() as conn:
            if group.indexed and top_n > HNSW_EF_SEARCH:  # HNSW returns at most ef_search rows
                await conn.execute(f"SET hnsw.ef_search = {top_n}")
            # The group id is an integer from our own row, inlined so the planner can match
            # the group's partial index (a bind parameter would hide it from a generic plan).
            rows = await (await conn.execute(
                "SELECT id, 1 - (embedding <=> %s) AS cosine, tag, user_id FROM faces "
                f"WHERE group_id = {int(group.id)} ORDER BY embedding <=> %s LIMIT %s",
                (query, query, top_n))).fetchall()
            if group.indexed and top_n > HNSW_EF_SEARCH:
                await conn.execute(f"SET hnsw.ef_search = {HNSW_EF_SEARCH}")
        return [Match(row[0], float(row[1]), row[2], row[3]) for row in rows]

    def needs_index(self, group: Group) -> bool:
        return not group.indexed and group.face_count >= self.hnsw_min_faces

    async def ensure_index(self, group: Group) -> bool:
        """Give a large group its own HNSW index (built CONCURRENTLY: writes go on meanwhile,
        and searches stay exact until it is there). Runs in a thread: the build takes minutes."""
        if not self.needs_index(group):
            return False

        def build() -> bool:
            with enrol.connect(self.pool.conninfo) as conn:
                return enrol.build_index(conn, group.id)

        return await asyncio.to_thread(build)
