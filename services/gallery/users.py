"""Persons, which are Baidu's users: a person (uid, user_info; /v1 calls them person_id and
name) belongs to one or more groups and owns faces there. /v1 makes persons in a group
(POST /v1/groups/{group}/people), Baidu in user/add; either dialect reads and deletes both.

The only writer of the `users` and `group_users` tables; faces and groups change through
faces.py's functions, inside this repository's transactions. A face row is per group (so a
search reads one group and its index); a user in two groups has a copy of each face in each.
Every method is one transaction, so a failed call leaves nothing half-written.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace as replace_fields
from typing import Protocol

import numpy as np
from psycopg_pool import AsyncConnectionPool

from services.gallery import faces
from services.gallery.clusters import lock_joins, unplace_faces
from services.gallery.erasure import drop_unheld_persons
from services.gallery.faces import GroupFaces
from services.gallery.records import (
    FaceRow,
    Group,
    Imported,
    Match,
    Person,
    StoredFaceData,
    UserEntry,
    UserMatch,
)
from shared.errors import ERRORS, FaceError
from shared.models import require_same_model

# How many faces a search reads per group to rank users: a user has several faces, and the
# best faces may all be one person's.
FACES_PER_USER_SEARCH = 5
# a person as Person takes it, `gu` its group membership: its faces counted in that group
PERSON_COLUMNS = ("u.uid, u.user_info, (SELECT count(*) FROM faces f WHERE f.group_id = "
                  "gu.group_id AND f.user_id = u.id), u.created_at")


def groups_to_leave(uid: str, groups: list[str], member: list[tuple[int, str]]) -> list[int]:
    """The ids of the groups a user leaves (`member`: its groups' ids and names): each named
    one must hold it (USER_NOT_FOUND), and at least one must remain (USER_ONE_GROUP: deleting
    the user is another call)."""
    held = {name: group_id for group_id, name in member}
    missing = [g for g in groups if g not in held]
    if missing:
        raise FaceError(ERRORS.USER_NOT_FOUND, f"user {uid} in {','.join(missing)}")
    if len(set(groups)) >= len(held):
        raise FaceError(ERRORS.USER_ONE_GROUP, "use faceset/user/delete")
    return [held[name] for name in set(groups)]


async def claim_user(conn, app: int, uid: str, name: str) -> tuple[int, bool]:
    """The app's user (person) `uid`, made named `name` when new, its row locked until the
    transaction ends, so a concurrent deletion of a person in no group waits and then sees
    the membership this transaction adds (erasure.drop_unheld_persons): (id, created)."""
    row = await (await conn.execute(
        "INSERT INTO users (app_id, uid, user_info) VALUES (%s, %s, %s) "
        "ON CONFLICT (app_id, uid) DO UPDATE SET user_info = users.user_info "
        "RETURNING id, xmax = 0", (app, uid, name))).fetchone()
    return row[0], bool(row[1])


class GroupSearch(Protocol):
    """What best_users needs of the groups' repository (GroupFaces, or a test's fake)."""

    async def searchable_group(self, app: int, name: str, model: int) -> Group: ...

    async def search(self, group: Group, vector: np.ndarray, top_n: int) -> list[Match]: ...


async def best_users(groups: GroupSearch, app: int, names: list[str], vector: np.ndarray,
                     model: int, user_top: int) -> list[tuple[str, int, list[float]]]:
    """(group, user id, its faces' cosines best first) of the best users over the groups, best
    first. A user is one candidate however many of the groups hold it (users are what identify
    ranks): it is reported in the group where its best face is. Groups that do not exist or
    are empty are passed over; GROUP_EMPTY when none is left or no user is found."""
    searchable = []
    for name in names:
        try:
            searchable.append(await groups.searchable_group(app, name, model))
        except FaceError as exc:
            if exc.kind not in (ERRORS.GROUP_NOT_FOUND, ERRORS.GROUP_EMPTY):
                raise
    if not searchable:
        raise FaceError(ERRORS.GROUP_EMPTY, ",".join(names))
    by_user: dict[tuple[str, int], list[float]] = defaultdict(list)
    for group in searchable:
        for match in await groups.search(group, vector, user_top * FACES_PER_USER_SEARCH):
            if match.user_id is not None:
                by_user[(group.name, match.user_id)].append(match.cosine)
    best: dict[int, tuple[tuple[str, int], list[float]]] = {}
    for (group, user_id), cosines in by_user.items():
        if user_id not in best or max(cosines) > max(best[user_id][1]):
            best[user_id] = ((group, user_id), cosines)
    ranked = sorted(best.values(), key=lambda kv: -max(kv[1]))[:user_top]
    if not ranked:
        raise FaceError(ERRORS.GROUP_EMPTY, "no users in " + ",".join(names))
    return [(group, user_id, sorted(cosines, reverse=True))
            for (group, user_id), cosines in ranked]


class BaiduUsers:
    def __init__(self, pool: AsyncConnectionPool, groups: GroupFaces) -> None:
        self.pool = pool
        self.groups = groups

    async def _user_id(self, conn, app: int, uid: str) -> int | None:
        row = await (await conn.execute(
            "SELECT id FROM users WHERE app_id = %s AND uid = %s", (app, uid))).fetchone()
        return row[0] if row else None

    async def add_user_face(self, app: int, uid: str, user_info: str, groups: list[str],
                            face: FaceRow, replace: bool, must_exist: bool = False
                            ) -> list[Group]:
        """Register a face for a user in each group (user/add; user/update with must_exist).
        replace: the user's earlier faces in those groups go. Returns the groups touched, with
        their face counts after the write (for index maintenance)."""
        touched = []
        async with self.pool.connection() as conn, conn.transaction():
            user_id = await self._user_id(conn, app, uid)
            if must_exist:
                linked = user_id is not None and await (await conn.execute(
                    "SELECT 1 FROM group_users gu JOIN groups g ON g.id = gu.group_id "
                    "WHERE gu.user_id = %s AND g.name = ANY(%s)", (user_id, groups))).fetchone()
                if not linked:
                    raise FaceError(ERRORS.USER_NOT_FOUND, f"user {uid} in {','.join(groups)}")
            # the groups before the user's row, the order a group's deletion locks them in
            # (erasure.drop_unheld_persons), so the two never wait on each other in a circle
            opened = await faces.open_groups(conn, app, groups, face.model)
            user_id = (await (await conn.execute(
                "INSERT INTO users (app_id, uid, user_info) VALUES (%s, %s, %s) "
                "ON CONFLICT (app_id, uid) DO UPDATE SET user_info = EXCLUDED.user_info, "
                "updated_at = now() RETURNING id", (app, uid, user_info))).fetchone())[0]
            for name, group in zip(groups, opened, strict=True):
                await conn.execute("INSERT INTO group_users (group_id, user_id) VALUES (%s, %s) "
                                   "ON CONFLICT DO NOTHING", (group.id, user_id))
                dropped = 0
                if replace:
                    dropped = await faces.delete_user_faces(conn, group.id, user_id)
                elif await faces.user_has_image(conn, group.id, user_id, face.sha256):
                    raise FaceError(ERRORS.IMAGE_EXISTS, f"user {uid} in group {name}")
                await faces.insert_face(conn, app, group, face, uid, user_id=user_id)
                touched.append(replace_fields(group, face_count=group.face_count - dropped + 1))
        return touched

    async def _lock_user_groups(self, conn, app: int, uid: str) -> tuple[int, list]:
        """The user's id and its (group id, group name) rows, the groups locked."""
        user_id = await self._user_id(conn, app, uid)
        if user_id is None:
            raise FaceError(ERRORS.USER_NOT_FOUND, f"user {uid}")
        rows = await (await conn.execute(
            "SELECT g.id, g.name FROM group_users gu JOIN groups g ON g.id = gu.group_id "
            "WHERE gu.user_id = %s ORDER BY g.id FOR UPDATE OF g", (user_id,))).fetchall()
        return user_id, rows

    async def _leave_group(self, conn, group_id: int, user_id: int) -> None:
        await faces.delete_user_faces(conn, group_id, user_id)
        await conn.execute("DELETE FROM group_users WHERE group_id = %s AND user_id = %s",
                           (group_id, user_id))
        # Baidu v2 has no call to delete a group: one goes with its last user (and face)
        await faces.delete_group_if_empty(conn, group_id)

    async def delete_user(self, app: int, uid: str, group: str | None = None) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            user_id, rows = await self._lock_user_groups(conn, app, uid)
            chosen = [r for r in rows if group is None or r[1] == group]
            if not chosen:
                raise FaceError(ERRORS.USER_NOT_FOUND, f"user {uid} in group {group}")
            for group_id, _ in chosen:
                await self._leave_group(conn, group_id, user_id)
            if len(chosen) == len(rows):
                await drop_unheld_persons(conn, [user_id])

    async def get_user(self, app: int, uid: str, group: str | None = None) -> list[UserEntry]:
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(
                "SELECT u.uid, u.user_info, g.name FROM users u "
                "JOIN group_users gu ON gu.user_id = u.id JOIN groups g ON g.id = gu.group_id "
                "WHERE u.app_id = %s AND u.uid = %s AND (%s::text IS NULL OR g.name = %s) "
                "ORDER BY g.id", (app, uid, group, group))).fetchall()
        if not rows:
            raise FaceError(ERRORS.USER_NOT_FOUND, f"user {uid}")
        return [UserEntry(*row) for row in rows]

    async def group_users(self, app: int, group: str, start: int, num: int
                          ) -> list[tuple[str, str]]:
        found = await self.groups.group(app, group)  # 216618 when there is no such group
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(
                "SELECT u.uid, u.user_info FROM group_users gu JOIN users u ON u.id = gu.user_id "
                "WHERE gu.group_id = %s ORDER BY u.id OFFSET %s LIMIT %s",
                (found.id, start, num))).fetchall()
        return [(row[0], row[1]) for row in rows]

    async def copy_user(self, app: int, uid: str, source: str, targets: list[str]
                        ) -> list[Group]:
        touched = []
        async with self.pool.connection() as conn, conn.transaction():
            user_id = await self._user_id(conn, app, uid)
            model = await (await conn.execute(
                "SELECT model FROM groups WHERE app_id = %s AND name = %s",
                (app, source))).fetchone()
            if model is None:
                raise FaceError(ERRORS.GROUP_NOT_FOUND, f"group {source}")
            # the source with the targets, all locked in id order (faces.open_groups); the
            # checks then go as they always did: the user, then each target's model (against
            # the locked source's: a re-embedding may have changed it since the read above)
            src, *opened = await faces.open_groups(conn, app, [source, *targets], model[0],
                                                   check_model=False)
            if user_id is None or not await (await conn.execute(
                    "SELECT 1 FROM group_users WHERE group_id = %s AND user_id = %s",
                    (src.id, user_id))).fetchone():
                raise FaceError(ERRORS.USER_NOT_FOUND, f"user {uid} in group {source}")
            for name, group in zip(targets, opened, strict=True):
                require_same_model(group.model, src.model, f"group {name}")
                cur = await conn.execute("INSERT INTO group_users (group_id, user_id) "
                                         "VALUES (%s, %s) ON CONFLICT DO NOTHING",
                                         (group.id, user_id))
                if not cur.rowcount:
                    raise FaceError(ERRORS.USER_IN_GROUP, f"user {uid} is in group {name}")
                copied = await faces.copy_user_faces(conn, group.id, src.id, user_id)
                touched.append(replace_fields(group, face_count=group.face_count + copied))
        return touched

    async def remove_user_from_groups(self, app: int, uid: str, groups: list[str]) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            user_id, rows = await self._lock_user_groups(conn, app, uid)
            for group_id in groups_to_leave(uid, groups, rows):
                await self._leave_group(conn, group_id, user_id)

    # persons, as /v1 names them --------------------------------------------------------
    async def create_person(self, app: int, group: str, person_id: str, name: str
                            ) -> tuple[Person, bool]:
        """The person `person_id` in the group (GROUP_NOT_FOUND: /v1 never makes a group on
        the way), named `name` when new; (person, created). An id the app already has (a
        retried call, a Baidu user of another group) is that person, joining the group,
        its name unchanged."""
        async with self.pool.connection() as conn, conn.transaction():
            held = await faces.lock_group(conn, app, group)
            user_id, created = await claim_user(conn, app, person_id, name)
            await conn.execute("INSERT INTO group_users (group_id, user_id) VALUES (%s, %s) "
                               "ON CONFLICT DO NOTHING", (held.id, user_id))
            return await self._person(conn, app, held, person_id), created

    async def _person(self, conn, app: int, group: Group, person_id: str) -> Person:
        row = await (await conn.execute(
            f"SELECT {PERSON_COLUMNS} FROM users u JOIN group_users gu ON gu.user_id = u.id "
            "WHERE gu.group_id = %s AND u.app_id = %s AND u.uid = %s",
            (group.id, app, person_id))).fetchone()
        if row is None:
            raise FaceError(ERRORS.USER_NOT_FOUND, f"person {person_id} in group {group.name}")
        return Person(*row)

    async def person(self, app: int, group: str, person_id: str) -> Person:
        """The group's person (GROUP_NOT_FOUND, USER_NOT_FOUND), with its face count there."""
        held = await self.groups.group(app, group)
        async with self.pool.connection() as conn:
            return await self._person(conn, app, held, person_id)

    async def persons_page(self, app: int, group: str, offset: int, limit: int
                           ) -> tuple[int, list[Person]]:
        """The group's persons, oldest first, and how many it has."""
        held = await self.groups.group(app, group)
        async with self.pool.connection() as conn:
            total = (await (await conn.execute(
                "SELECT count(*) FROM group_users WHERE group_id = %s", (held.id,))).fetchone())[0]
            rows = await (await conn.execute(
                f"SELECT {PERSON_COLUMNS} FROM group_users gu JOIN users u ON u.id = gu.user_id "
                "WHERE gu.group_id = %s ORDER BY u.id OFFSET %s LIMIT %s",
                (held.id, offset, limit))).fetchall()
        return total, [Person(*row) for row in rows]

    async def delete_person(self, app: int, group: str, person_id: str) -> None:
        """The person leaves the group with its faces there; the person goes when it is in
        no group left. Unlike Baidu's user/delete, the group stays (a /v1 group is deleted
        by its own call)."""
        async with self.pool.connection() as conn, conn.transaction():
            held = await faces.lock_group(conn, app, group)
            person = await self._person(conn, app, held, person_id)
            user_id = await self._user_id(conn, app, person.person_id)
            await faces.delete_user_faces(conn, held.id, user_id)
            await conn.execute("DELETE FROM group_users WHERE group_id = %s AND user_id = %s",
                               (held.id, user_id))
            await drop_unheld_persons(conn, [user_id])

    async def import_faces(self, app: int, group: str, model: int, tag: str,
                           faces_in: list[StoredFaceData]) -> tuple[Imported, Group]:
        """One batch of an import, in one transaction: the group (made with `model` and `tag`
        if missing; else its model must be `model`), the batch's persons (made when new, named
        as the file says; an id the app has is that person, joining the group) and its faces,
        each once per key (a part imported again writes nothing twice). Also the group after
        the write."""
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("INSERT INTO groups (app_id, name, tag, model) VALUES "
                               "(%s, %s, %s, %s) ON CONFLICT (app_id, name) DO NOTHING",
                               (app, group, tag, model))
            held = await faces.lock_group(conn, app, group)
            require_same_model(held.model, model, f"group {group}")
            users: dict[str, int] = {}
            made = created = existing = 0
            named = dict.fromkeys(
                (f.person_id, f.person_name or "") for f in faces_in if f.person_id)
            # the persons that exist, locked in id order first (as drop_unheld_persons locks
            # them), then the new ones made in person_id order: two imports, or an import and
            # a deletion, never wait on each other in a circle
            await conn.execute("SELECT id FROM users WHERE app_id = %s AND uid = ANY(%s) "
                               "ORDER BY id FOR UPDATE", (app, [p for p, _ in named]))
            for person_id, name in sorted(named, key=lambda pair: pair[0]):
                if person_id in users:
                    continue
                users[person_id], created_now = await claim_user(conn, app, person_id, name)
                made += created_now
                await conn.execute("INSERT INTO group_users (group_id, user_id) VALUES "
                                   "(%s, %s) ON CONFLICT DO NOTHING", (held.id, users[person_id]))
            for face in faces_in:
                row = FaceRow(face.vector, model, face.box, face.quality, face.sha256,
                              face.thumbnail, face.region)
                written = await faces.insert_face_once(
                    conn, app, held, row, face.tag, face.key,
                    users[face.person_id] if face.person_id else None)
                created += written.created
                existing += not written.created
            return Imported(made, created, existing), held

    # corrections ------------------------------------------------------------------------
    async def assign_faces(self, app: int, group: str, face_ids: list[int],
                           person_id: str | None) -> int:
        """The faces become the person's (None: nobody's), a "not this person" between them
        cleared: moving a face to a person on purpose says it is that person. FACE_NOT_FOUND
        if one is not the group's; USER_NOT_FOUND. How many faces changed."""
        async with self.pool.connection() as conn, conn.transaction():
            held = await faces.lock_group(conn, app, group)
            await lock_joins(conn, held.id)
            user_id = (None if person_id is None
                       else await faces.person_in_group(conn, app, held, person_id))
            await faces.require_faces(conn, held, face_ids)
            changed = await faces.set_person(conn, held.id, face_ids, user_id)
            if user_id is not None:
                await conn.execute("DELETE FROM face_not_person WHERE user_id = %s AND "
                                   "face_id = ANY(%s)", (user_id, face_ids))
            await unplace_faces(conn, held.id, face_ids)
        return changed

    async def confirm_faces(self, app: int, group: str, face_ids: list[int], person_id: str
                            ) -> tuple[list[int], list[int]]:
        """A cluster confirmed as the person: of `face_ids`, those that are nobody's and not
        marked "not" the person become its. (the faces that joined, the faces left out:
        another person's, or marked.) They keep their place in the clustering."""
        async with self.pool.connection() as conn, conn.transaction():
            held = await faces.lock_group(conn, app, group)
            await lock_joins(conn, held.id)
            user_id = await faces.person_in_group(conn, app, held, person_id)
            joined = [row[0] for row in await (await conn.execute(
                "UPDATE faces f SET user_id = %s, updated_at = now() WHERE group_id = %s AND "
                "id = ANY(%s) AND user_id IS NULL AND NOT EXISTS (SELECT 1 FROM "
                "face_not_person n WHERE n.face_id = f.id AND n.user_id = %s) RETURNING id",
                (user_id, held.id, face_ids, user_id))).fetchall()]
            others = {row[0] for row in await (await conn.execute(
                "SELECT id FROM faces WHERE group_id = %s AND id = ANY(%s) AND "
                "user_id IS DISTINCT FROM %s", (held.id, face_ids, user_id))).fetchall()}
        return joined, [f for f in face_ids if f in others]

    async def not_person(self, app: int, group: str, person_id: str, face_id: int) -> bool:
        """"Not this person": the face leaves the person if it was its, and never joins it
        again (re-clustering and joins respect it). Whether it was the person's."""
        async with self.pool.connection() as conn, conn.transaction():
            held = await faces.lock_group(conn, app, group)
            await lock_joins(conn, held.id)
            user_id = await faces.person_in_group(conn, app, held, person_id)
            await faces.require_faces(conn, held, [face_id])
            was = bool(await faces.set_person(conn, held.id, [face_id], None, only=user_id))
            await conn.execute("INSERT INTO face_not_person (face_id, user_id) VALUES (%s, %s) "
                               "ON CONFLICT DO NOTHING", (face_id, user_id))
            await unplace_faces(conn, held.id, [face_id])
        return was

    async def merge_persons(self, app: int, group: str, into: str, other: str) -> Person:
        """`other`'s faces in the group become `into`'s and `other` leaves the group (gone if
        in no other); its "not this person" marks move to `into`, but for faces that are
        `into`'s own. PARAM_INVALID for a person merged into itself."""
        if into == other:
            raise FaceError(ERRORS.PARAM_INVALID, "a person cannot be merged into itself")
        async with self.pool.connection() as conn, conn.transaction():
            held = await faces.lock_group(conn, app, group)
            await lock_joins(conn, held.id)
            target = await faces.person_in_group(conn, app, held, into)
            source = await faces.person_in_group(conn, app, held, other)
            moved = await faces.move_person_faces(conn, held.id, source, target)
            await conn.execute(
                "INSERT INTO face_not_person (face_id, user_id) SELECT n.face_id, %s FROM "
                "face_not_person n JOIN faces f ON f.id = n.face_id WHERE n.user_id = %s AND "
                "f.group_id = %s AND f.user_id IS DISTINCT FROM %s ON CONFLICT DO NOTHING",
                (target, source, held.id, target))
            await conn.execute("DELETE FROM face_not_person n USING faces f WHERE "
                               "f.id = n.face_id AND f.group_id = %s AND n.user_id = %s",
                               (held.id, source))
            await conn.execute("DELETE FROM group_users WHERE group_id = %s AND user_id = %s",
                               (held.id, source))
            await drop_unheld_persons(conn, [source])
            await unplace_faces(conn, held.id, moved)
            return await self._person(conn, app, held, into)

    async def rename_person(self, app: int, group: str, person_id: str, name: str) -> Person:
        """The person's new name (Baidu's user_info: it is one person in every group)."""
        async with self.pool.connection() as conn, conn.transaction():
            held = await faces.lock_group(conn, app, group)
            person = await self._person(conn, app, held, person_id)
            await conn.execute("UPDATE users SET user_info = %s, updated_at = now() "
                               "WHERE app_id = %s AND uid = %s", (name, app, person_id))
        person.name = name
        return person

    async def identify_users(self, app: int, groups: list[str], vector: np.ndarray, model: int,
                             user_top: int) -> list[UserMatch]:
        """The best users over the groups, each with its faces' cosines, best first
        (best_users)."""
        ranked = await best_users(self.groups, app, groups, vector, model, user_top)
        async with self.pool.connection() as conn:
            info = {row[0]: (row[1], row[2]) for row in await (await conn.execute(
                "SELECT id, uid, user_info FROM users WHERE id = ANY(%s)",
                ([user_id for _, user_id, _ in ranked],))).fetchall()}
        return [UserMatch(group, *info[user_id], cosines) for group, user_id, cosines in ranked]

    async def verify_user(self, app: int, uid: str, groups: list[str], vector: np.ndarray,
                          model: int, top: int) -> list[float]:
        """Cosines of the query against the user's own faces in those groups, best first."""
        query = np.asarray(vector, np.float32)
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(
                "SELECT 1 - (f.embedding <=> %s), f.model FROM faces f "
                "JOIN users u ON u.id = f.user_id JOIN groups g ON g.id = f.group_id "
                "WHERE u.app_id = %s AND u.uid = %s AND g.name = ANY(%s) "
                "ORDER BY f.embedding <=> %s LIMIT %s",
                (query, app, uid, groups, query, top))).fetchall()
        if not rows:
            raise FaceError(ERRORS.USER_NOT_FOUND, f"user {uid} in {','.join(groups)}")
        for _, held in rows:
            require_same_model(held, model, f"user {uid}'s face")
        return [float(row[0]) for row in rows]
