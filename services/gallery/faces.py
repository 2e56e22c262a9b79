"""Groups and their faces: the only writer of the `groups` and `faces` tables.

Search. Embeddings are L2-normalised, so cosine distance (`<=>`) ranks exactly as similarity.
A search is always restricted to one group, which is where HNSW in pgvector < 0.8 loses recall:
a global index returns its ef_search nearest rows first and the group filter runs afterwards,
so a group that is a small slice of the table gets few or no rows back. facegate never filters
after an approximate search:
- a group below `hnsw_min_faces` is scanned exactly (its rows by the (group_id, id) index, every
  distance computed, sorted): exact by construction;
- a group at or above it gets its own partial HNSW index (`WHERE group_id = N`, indexes.py) and
  queries name the group as a literal so the planner uses that index; the graph holds only that
  group's faces, so there is nothing to filter away.

The connection-level functions (lock_group, open_groups, insert_face, ...) are how other
repositories (Baidu users) change these tables inside their own transactions.
"""

from __future__ import annotations

import time
from dataclasses import replace as replace_fields

import numpy as np
import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from services.gallery import sql
from services.gallery.erasure import erase_face_traces, erase_group_traces, group_members
from services.gallery.records import (
    GROUP_COLUMNS,
    KEEP,
    FaceRow,
    FaceWritten,
    Group,
    Keep,
    ListedFace,
    Match,
    PersonFace,
    StoredFace,
    StoredFaceData,
    vector_array,
)
from shared.errors import ERRORS, FaceError
from shared.models import require_same_model
from shared.settings import GateLevel

HNSW_EF_SEARCH = 100
PEOPLE_COUNT_SECONDS = 30.0


async def lock_group(conn, app: int, name: str) -> Group:
    # FOR UPDATE: concurrent enrolments into one group serialise on the group row, so the
    # count stays exact and a group deleted meanwhile is noticed.
    row = await (await conn.execute(sql.LOCK_GROUP, (app, name))).fetchone()
    if row is None:
        raise FaceError(ERRORS.GROUP_NOT_FOUND, f"group {name}")
    return Group(*row)


async def open_groups(conn, app: int, names: list[str], model: int, *, check_model: bool = True
                      ) -> list[Group]:
    """The named groups (in the order of `names`), created on first use with `model` (as
    Baidu does) and locked; with check_model each must hold `model` (else the caller checks).
    Every write that holds several groups locks them in id order (here, and users'
    _lock_user_groups), so two such writes never wait on each other in a circle; the missing
    ones are created first, in name order, for the same reason. A group deleted between its
    INSERT (which takes no lock on a row already there) and the lock is GROUP_NOT_FOUND, as
    lock_group answers."""
    wanted = sorted(set(names))
    for name in wanted:
        await conn.execute("INSERT INTO groups (app_id, name, model) VALUES (%s, %s, %s) "
                           "ON CONFLICT (app_id, name) DO NOTHING", (app, name, model))
    rows = await (await conn.execute(
        f"SELECT {GROUP_COLUMNS} FROM groups WHERE app_id = %s AND name = ANY(%s) "
        "ORDER BY id FOR UPDATE", (app, wanted))).fetchall()
    held = {group.name: group for group in (Group(*row) for row in rows)}
    for name in names:
        if name not in held:
            raise FaceError(ERRORS.GROUP_NOT_FOUND, f"group {name} (deleted meanwhile)")
        if check_model:
            require_same_model(held[name].model, model, f"group {name}")
    return [replace_fields(held[name]) for name in names]


async def insert_face_once(conn, app: int, group: Group, face: FaceRow, tag: str,
                           request_key: str | None, user_id: int | None = None) -> FaceWritten:
    """A face in a locked group (of the person `user_id` when given), unless its request_key
    made one before (that face comes back, `created` false); the model checked against the
    group's. The group's count in the database and in `group` go up with a new face."""
    require_same_model(group.model, face.model, f"group {group.name}")
    if request_key:
        row = await (await conn.execute(sql.FACE_BY_KEY, (group.id, request_key))).fetchone()
        if row:
            return FaceWritten(row[0], False)
    face_id = await insert_face(conn, app, group, face, tag, request_key, user_id)
    group.face_count += 1
    return FaceWritten(face_id, True)


async def insert_face(conn, app: int, group: Group, face: FaceRow, tag: str,
                      request_key: str | None = None, user_id: int | None = None) -> int:
    """A face row in a locked group, and the group's count with it."""
    row = await (await conn.execute(sql.INSERT_FACE, (
        app, group.id, user_id, face.model, np.asarray(face.vector, np.float32), face.box,
        face.quality, tag, face.sha256, request_key, face.thumbnail, face.region))).fetchone()
    await conn.execute(sql.COUNT_UP, (1, group.id))
    return row[0]


async def person_in_group(conn, app: int, group: Group, person_id: str) -> int:
    """The users row id of the group's person `person_id` (a Baidu uid), else
    USER_NOT_FOUND."""
    row = await (await conn.execute(
        "SELECT u.id FROM users u JOIN group_users gu ON gu.user_id = u.id "
        "WHERE u.app_id = %s AND u.uid = %s AND gu.group_id = %s",
        (app, person_id, group.id))).fetchone()
    if row is None:
        raise FaceError(ERRORS.USER_NOT_FOUND, f"person {person_id} in group {group.name}")
    return row[0]


async def require_faces(conn, group: Group, face_ids: list[int]) -> None:
    """FACE_NOT_FOUND naming the first of `face_ids` the group does not hold."""
    held = {row[0] for row in await (await conn.execute(
        "SELECT id FROM faces WHERE group_id = %s AND id = ANY(%s)",
        (group.id, face_ids))).fetchall()}
    missing = [f for f in face_ids if f not in held]
    if missing:
        raise FaceError(ERRORS.FACE_NOT_FOUND, f"face {missing[0]} in group {group.name}")


async def set_person(conn, group_id: int, face_ids: list[int], user_id: int | None,
                     only: int | None = None) -> int:
    """The faces' person (None: none), of those that are `only`'s when given; how many
    changed."""
    cur = await conn.execute(
        "UPDATE faces SET user_id = %s, updated_at = now() WHERE group_id = %s AND "
        "id = ANY(%s) AND user_id IS DISTINCT FROM %s AND (%s::bigint IS NULL OR user_id = %s)",
        (user_id, group_id, face_ids, user_id, only, only))
    return cur.rowcount


async def move_person_faces(conn, group_id: int, source: int, target: int) -> list[int]:
    """Every face of person `source` in the group becomes `target`'s; their ids."""
    rows = await (await conn.execute(
        "UPDATE faces SET user_id = %s, updated_at = now() WHERE group_id = %s AND "
        "user_id = %s RETURNING id", (target, group_id, source))).fetchall()
    return [row[0] for row in rows]


async def delete_user_faces(conn, group_id: int, user_id: int) -> int:
    cur = await conn.execute("DELETE FROM faces WHERE group_id = %s AND user_id = %s "
                             "RETURNING id", (group_id, user_id))
    await erase_face_traces(conn, [row[0] for row in await cur.fetchall()])
    if cur.rowcount:
        await conn.execute(sql.COUNT_UP, (-cur.rowcount, group_id))
    return cur.rowcount


async def copy_user_faces(conn, target_id: int, source_id: int, user_id: int) -> int:
    copied = await conn.execute(sql.COPY_USER_FACES, (target_id, source_id, user_id))
    await conn.execute(sql.COUNT_UP, (copied.rowcount, target_id))
    return copied.rowcount


async def delete_group_if_empty(conn, group_id: int) -> bool:
    """A group with no face and no Baidu user left goes (not one with an HNSW index, whose
    DROP INDEX CONCURRENTLY cannot run in the caller's transaction: it stays, empty)."""
    cur = await conn.execute(
        "DELETE FROM groups g WHERE id = %s AND face_count = 0 AND NOT indexed AND NOT EXISTS "
        "(SELECT 1 FROM group_users WHERE group_id = g.id)", (group_id,))
    return bool(cur.rowcount)


async def user_has_image(conn, group_id: int, user_id: int, sha256: bytes) -> bool:
    return bool(await (await conn.execute(
        "SELECT 1 FROM faces WHERE group_id = %s AND user_id = %s AND image_sha256 = %s",
        (group_id, user_id, sha256))).fetchone())


def searchable(group: Group, model: int) -> Group:
    """The group, if faces of `model` can be searched in it: its model (12356), not empty
    (12358)."""
    require_same_model(group.model, model, f"group {group.name}")
    if group.face_count == 0:
        raise FaceError(ERRORS.GROUP_EMPTY, f"group {group.name}")
    return group


class GroupFaces:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool
        # group id: (when, faces per person -> persons)
        self._people_sizes: dict[int, tuple[float, dict[int, int]]] = {}

    # groups -----------------------------------------------------------------------------
    async def create_group(self, app: int, name: str, tag: str, model: int,
                           quality: GateLevel | None = None) -> Group:
        async with self.pool.connection() as conn:
            try:
                row = await (await conn.execute(
                    "INSERT INTO groups (app_id, name, tag, model, quality) "
                    f"VALUES (%s, %s, %s, %s, %s) RETURNING {GROUP_COLUMNS}",
                    (app, name, tag, model, quality))).fetchone()
            except psycopg.errors.UniqueViolation:
                raise FaceError(ERRORS.GROUP_CREATE, f"group {name} already exists") from None
        return Group(*row)

    async def groups_named(self, app: int, names: list[str]) -> list[Group]:
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(
                f"SELECT {GROUP_COLUMNS} FROM groups WHERE app_id = %s AND name = ANY(%s) "
                "ORDER BY name", (app, list(names)))).fetchall()
        return [Group(*row) for row in rows]

    async def group(self, app: int, name: str) -> Group:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                f"SELECT {GROUP_COLUMNS} FROM groups WHERE app_id = %s AND name = %s",
                (app, name))).fetchone()
        if row is None:
            raise FaceError(ERRORS.GROUP_NOT_FOUND, f"group {name}")
        return Group(*row)

    async def update_group(self, app: int, name: str, quality: GateLevel | Keep | None = KEEP,
                           tag: str | None = None) -> Group:
        sets, values = [], []
        if quality is not KEEP:
            sets.append("quality = %s")
            values.append(quality)
        if tag is not None:
            sets.append("tag = %s")
            values.append(tag)
        if not sets:  # nothing to change: the group as it is (GROUP_NOT_FOUND all the same)
            return await self.group(app, name)
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                f"UPDATE groups SET {', '.join(sets)} WHERE app_id = %s AND name = %s "
                f"RETURNING {GROUP_COLUMNS}", (*values, app, name))).fetchone()
        if row is None:
            raise FaceError(ERRORS.GROUP_NOT_FOUND, f"group {name}")
        return Group(*row)

    async def delete_group(self, app: int, name: str) -> None:
        async with self.pool.connection() as conn:
            async with conn.transaction():
                members = await group_members(conn, app, name)
                row = await (await conn.execute(
                    "DELETE FROM groups WHERE app_id = %s AND name = %s RETURNING id",
                    (app, name))).fetchone()  # its faces go with it (ON DELETE CASCADE)
                await erase_group_traces(conn, app, name, members)
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
                f"SELECT {GROUP_COLUMNS} FROM groups WHERE app_id = %s "
                "ORDER BY id LIMIT %s OFFSET %s", (app, size, (page - 1) * size))).fetchall()
        return total, [Group(*row) for row in rows]

    async def group_names(self, app: int, start: int, num: int) -> list[str]:
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(
                "SELECT name FROM groups WHERE app_id = %s ORDER BY id OFFSET %s LIMIT %s",
                (app, start, num))).fetchall()
        return [row[0] for row in rows]

    async def searchable_group(self, app: int, name: str, model: int) -> Group:
        """The group, if faces of `model` can be searched in it (else 12357, 12356, 12358)."""
        return searchable(await self.group(app, name), model)

    # faces ------------------------------------------------------------------------------
    async def add_face(self, app: int, group_name: str, face: FaceRow, tag: str,
                       request_key: str | None = None, person: str | None = None
                       ) -> tuple[FaceWritten, Group]:
        """One transaction: the face row and the group's count, or neither; the face is the
        group's person `person` when given (USER_NOT_FOUND if the group has none of that id).
        With a request_key, a retried enrolment returns the face it already made. Also
        returns the group as it is after the write (for index maintenance)."""
        async with self.pool.connection() as conn, conn.transaction():
            group = await lock_group(conn, app, group_name)
            user_id = None if person is None else await person_in_group(conn, app, group,
                                                                         person)
            written = await insert_face_once(conn, app, group, face, tag, request_key, user_id)
            return written, group

    async def delete_face(self, app: int, group_name: str, face_id: int) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            group = await lock_group(conn, app, group_name)
            row = await (await conn.execute(
                "DELETE FROM faces WHERE id = %s AND group_id = %s RETURNING id",
                (face_id, group.id))).fetchone()
            if row is None:
                raise FaceError(ERRORS.FACE_NOT_FOUND, f"face {face_id} in group {group_name}")
            await conn.execute(sql.COUNT_UP, (-1, group.id))
            await erase_face_traces(conn, [face_id])

    async def edit_face(self, app: int, group_name: str, face_id: int, tag: str | None = None,
                        face: FaceRow | None = None) -> None:
        """A new tag, a new face (from a new image), or both."""
        async with self.pool.connection() as conn, conn.transaction():
            group = await lock_group(conn, app, group_name)
            if face is not None:
                require_same_model(group.model, face.model, f"group {group_name}")
            sets, values = ["updated_at = now()"], []
            if tag is not None:
                sets.append("tag = %s")
                values.append(tag)
            if face is not None:
                sets += ["embedding = %s", "box = %s", "quality = %s", "image_sha256 = %s",
                         "thumbnail = %s", "region = %s"]
                values += [np.asarray(face.vector, np.float32), face.box or [], face.quality,
                           face.sha256, face.thumbnail, face.region]
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

    async def faces_page(self, app: int, group_name: str, tag: str, offset: int, limit: int,
                         person: str | None = None) -> tuple[int, list[ListedFace]]:
        """A group's faces, newest first; `tag`: only faces whose tag contains it (any case);
        `person`: only that person's (USER_NOT_FOUND if the group has none of that id). Also
        the number of faces that match."""
        group = await self.group(app, group_name)
        pattern = "%" + tag.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            user_id = None if person is None else await person_in_group(conn, app, group,
                                                                         person)
            where = ("f.group_id = %s AND f.tag ILIKE %s"
                     + ("" if user_id is None else " AND f.user_id = %s"))
            values = (group.id, pattern) + (() if user_id is None else (user_id,))
            total = (await (await cur.execute(
                f"SELECT count(*) AS n FROM faces f WHERE {where}", values)).fetchone())["n"]
            rows = await (await cur.execute(
                "SELECT f.id, f.tag, f.box, f.quality, f.created_at, u.uid, "
                "f.thumbnail IS NOT NULL AS has_thumbnail FROM faces f "
                f"LEFT JOIN users u ON u.id = f.user_id WHERE {where} "
                "ORDER BY f.id DESC LIMIT %s OFFSET %s", (*values, limit, offset))).fetchall()
        return total, [ListedFace(**row) for row in rows]

    async def _face_columns(self, app: int, group_name: str, face_id: int, columns: str
                            ) -> tuple:
        """Columns of one face of the group (12357 if the group is missing, 12292 the face);
        `columns` is ours, never a caller's text."""
        group = await self.group(app, group_name)
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                f"SELECT {columns} FROM faces WHERE id = %s AND group_id = %s",
                (face_id, group.id))).fetchone()
        if row is None:
            raise FaceError(ERRORS.FACE_NOT_FOUND, f"face {face_id} in group {group_name}")
        return row

    async def thumbnail(self, app: int, group_name: str, face_id: int) -> bytes | None:
        """The face's stored thumbnail (JPEG), None if it has none; 12357 / 12292."""
        [data] = await self._face_columns(app, group_name, face_id, "thumbnail")
        return bytes(data) if data is not None else None

    async def face_vector(self, app: int, group_name: str, face_id: int
                          ) -> tuple[int, np.ndarray]:
        model, embedding = await self._face_columns(app, group_name, face_id,
                                                    "model, embedding")
        return model, vector_array(embedding)

    # search -----------------------------------------------------------------------------
    async def search(self, group: Group, vector: np.ndarray, top_n: int) -> list[Match]:
        async with self.pool.connection() as conn:
            return await search_on(conn, group, vector, top_n)

    async def export_faces(self, group: Group, after: int, limit: int) -> list[StoredFaceData]:
        """A page of the group's faces by id, from after `after`, with everything they hold
        (`group` from an app-scoped read)."""
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(
                "SELECT f.id, f.tag, f.request_key, u.uid, u.user_info, f.box, f.quality, "
                "f.embedding, f.image_sha256, f.thumbnail, f.created_at, f.region FROM faces f "
                "LEFT JOIN users u ON u.id = f.user_id WHERE f.group_id = %s AND f.id > %s "
                "ORDER BY f.id LIMIT %s", (group.id, after, limit))).fetchall()
        return [StoredFaceData(r[0], r[1], r[2], r[3], r[4], list(r[5] or []), r[6],
                               vector_array(r[7]), bytes(r[8]) if r[8] is not None else None,
                               bytes(r[9]) if r[9] is not None else None, r[10],
                               bytes(r[11]) if r[11] is not None else None)
                for r in rows]

    async def people_faces(self, group: Group, vector: np.ndarray, user_ids: list[int]
                           ) -> list[PersonFace]:
        """Every face the persons `user_ids` have in the group, with its cosine to `vector`:
        what identify fuses into each candidate's score (exact, by the (group, user) index)."""
        if not user_ids:
            return []
        async with self.pool.connection() as conn:
            # the norm of each person's mean vector comes with its faces (a window over the
            # person's rows): what the template rule divides by
            rows = await (await conn.execute(
                "SELECT f.user_id, u.uid, u.user_info, f.id, 1 - (f.embedding <=> %s), "
                "f.quality, vector_norm(avg(f.embedding) OVER (PARTITION BY f.user_id)) "
                "FROM faces f JOIN users u ON u.id = f.user_id "
                f"WHERE f.group_id = {int(group.id)} AND f.user_id = ANY(%s)",
                (np.asarray(vector, np.float32), user_ids))).fetchall()
        return [PersonFace(row[0], row[1], row[2], row[3], float(row[4]), row[5],
                           float(row[6])) for row in rows]

    async def people_sizes(self, group: Group) -> dict[int, int]:
        """The group's people by how many faces each has (faces -> persons), each face with no
        person a person of one face: what identify's verdict is calibrated to. Counted by the
        (group, user) index; cached for PEOPLE_COUNT_SECONDS, since a gallery's size moves the
        verdict's threshold by its logarithm only."""
        now = time.monotonic()
        held = self._people_sizes.get(group.id)
        if held is not None and now - held[0] < PEOPLE_COUNT_SECONDS:
            return dict(held[1])
        async with self.pool.connection() as conn:
            # the group's face count and its persons' in one statement (one snapshot), so the
            # faces with no person are their difference at one moment
            rows = await (await conn.execute(
                "SELECT g.face_count, p.faces, p.persons FROM groups g LEFT JOIN ("
                "SELECT faces, count(*) AS persons FROM (SELECT count(*) AS faces FROM faces "
                "WHERE group_id = %s AND user_id IS NOT NULL GROUP BY user_id) AS each_person "
                "GROUP BY faces) AS p ON true WHERE g.id = %s", (group.id, group.id))).fetchall()
        sizes = {int(faces): int(persons) for _, faces, persons in rows if faces is not None}
        total = int(rows[0][0]) if rows else group.face_count
        alone = total - sum(faces * persons for faces, persons in sizes.items())
        if alone > 0:
            sizes[1] = sizes.get(1, 0) + alone
        self._people_sizes[group.id] = (now, sizes)
        return dict(sizes)


async def search_on(conn, group: Group, vector: np.ndarray, top_n: int) -> list[Match]:
    """The group's top_n faces nearest `vector`, on the caller's connection (a clustering join
    searches inside its own transaction: services/gallery/clusters.py)."""
    query = np.asarray(vector, np.float32)
    if group.indexed and top_n > HNSW_EF_SEARCH:  # HNSW returns at most ef_search rows
        await conn.execute(f"SET hnsw.ef_search = {top_n}")
    # The group id is an integer from our own row, inlined so the planner can match the
    # group's partial index (a bind parameter would hide it from a generic plan).
    rows = await (await conn.execute(
        "SELECT id, 1 - (embedding <=> %s) AS cosine, tag, user_id FROM faces "
        f"WHERE group_id = {int(group.id)} ORDER BY embedding <=> %s LIMIT %s",
        (query, query, top_n))).fetchall()
    if group.indexed and top_n > HNSW_EF_SEARCH:
        await conn.execute(f"SET hnsw.ef_search = {HNSW_EF_SEARCH}")
    return [Match(row[0], float(row[1]), row[2], row[3]) for row in rows]
