"""Baidu's users and the identity registry in memory: services/gallery/users.py and
identities.py, method for method, with the same FaceError kinds."""

from __future__ import annotations

from dataclasses import replace as replace_fields

import numpy as np

from services.gallery.records import (
    FaceRow,
    Group,
    Identity,
    Imported,
    Person,
    StoredFaceData,
    UserEntry,
    UserMatch,
)
from services.gallery.users import best_users, groups_to_leave
from shared.errors import ERRORS, FaceError
from shared.models import require_same_model
from tests.fakes.groups import FakeGroupFaces
from tests.fakes.tables import IdentityRow, Tables, UserRow, cosine, stored_vector


class FakeBaiduUsers:
    def __init__(self, tables: Tables, groups: FakeGroupFaces) -> None:
        self.t = tables
        self.groups = groups

    def _user(self, app: int, uid: str) -> UserRow | None:
        return next((u for u in self.t.users.values() if u.app == app and u.uid == uid), None)

    def _member_groups(self, user_id: int) -> list[tuple[int, str]]:
        """(group id, name) of the user's groups, by group id."""
        return sorted((g, self.t.groups[g].name) for g, u in self.t.members if u == user_id)

    async def add_user_face(self, app: int, uid: str, user_info: str, groups: list[str],
                            face: FaceRow, replace: bool, must_exist: bool = False
                            ) -> list[Group]:
        touched = []
        with self.t.atomic():
            user = self._user(app, uid)
            if must_exist:
                linked = user is not None and any(
                    name in groups for _, name in self._member_groups(user.id))
                if not linked:
                    raise FaceError(ERRORS.USER_NOT_FOUND, f"user {uid} in {','.join(groups)}")
            if user is None:
                self.t.require_app(app)
                user = UserRow(self.t.next_id("users"), app, uid, user_info)
                self.t.users[user.id] = user
            user.user_info = user_info
            for name in groups:
                group = self.t.open_group(app, name, face.model)
                self.t.members.add((group.id, user.id))
                dropped = 0
                if replace:
                    dropped = self.t.delete_user_faces(group.id, user.id)
                elif self.t.user_has_image(group.id, user.id, face.sha256):
                    raise FaceError(ERRORS.IMAGE_EXISTS, f"user {uid} in group {name}")
                self.t.insert_face(app, group, face, uid, user_id=user.id)
                touched.append(replace_fields(group, face_count=group.face_count - dropped + 1))
        return touched

    def _lock_user_groups(self, app: int, uid: str) -> tuple[int, list[tuple[int, str]]]:
        user = self._user(app, uid)
        if user is None:
            raise FaceError(ERRORS.USER_NOT_FOUND, f"user {uid}")
        return user.id, self._member_groups(user.id)

    def _leave_group(self, group_id: int, user_id: int) -> None:
        self.t.delete_user_faces(group_id, user_id)
        self.t.members.discard((group_id, user_id))
        self.t.delete_group_if_empty(group_id)  # a group goes with its last user and face

    async def delete_user(self, app: int, uid: str, group: str | None = None) -> None:
        with self.t.atomic():
            user_id, rows = self._lock_user_groups(app, uid)
            chosen = [r for r in rows if group is None or r[1] == group]
            if not chosen:
                raise FaceError(ERRORS.USER_NOT_FOUND, f"user {uid} in group {group}")
            for group_id, _ in chosen:
                self._leave_group(group_id, user_id)
            if len(chosen) == len(rows):
                self.t.drop_user(user_id)

    async def get_user(self, app: int, uid: str, group: str | None = None) -> list[UserEntry]:
        user = self._user(app, uid)
        rows = [] if user is None else [
            UserEntry(user.uid, user.user_info, name)
            for _, name in self._member_groups(user.id) if group is None or name == group]
        if not rows:
            raise FaceError(ERRORS.USER_NOT_FOUND, f"user {uid}")
        return rows

    async def group_users(self, app: int, group: str, start: int, num: int
                          ) -> list[tuple[str, str]]:
        found = await self.groups.group(app, group)
        users = sorted((self.t.users[u] for g, u in self.t.members if g == found.id),
                       key=lambda u: u.id)
        return [(u.uid, u.user_info) for u in users[start:start + num]]

    async def copy_user(self, app: int, uid: str, source: str, targets: list[str]
                        ) -> list[Group]:
        touched = []
        with self.t.atomic():
            user = self._user(app, uid)
            src = self.t.lock_group(app, source)
            if user is None or (src.id, user.id) not in self.t.members:
                raise FaceError(ERRORS.USER_NOT_FOUND, f"user {uid} in group {source}")
            for name in targets:
                group = self.t.open_group(app, name, src.model)
                if (group.id, user.id) in self.t.members:
                    raise FaceError(ERRORS.USER_IN_GROUP, f"user {uid} is in group {name}")
                self.t.members.add((group.id, user.id))
                copied = self.t.copy_user_faces(group.id, src.id, user.id)
                touched.append(replace_fields(group, face_count=group.face_count + copied))
        return touched

    async def remove_user_from_groups(self, app: int, uid: str, groups: list[str]) -> None:
        with self.t.atomic():
            user_id, rows = self._lock_user_groups(app, uid)
            for group_id in groups_to_leave(uid, groups, rows):
                self._leave_group(group_id, user_id)

    # persons ---------------------------------------------------------------------------
    def _person(self, app: int, group: Group, person_id: str) -> Person:
        user_id = self.t.person_in_group(app, group, person_id)
        user = self.t.users[user_id]
        faces = sum(f.group_id == group.id and f.user_id == user_id
                    for f in self.t.faces.values())
        return Person(user.uid, user.user_info, faces, user.created_at)

    async def create_person(self, app: int, group: str, person_id: str, name: str
                            ) -> tuple[Person, bool]:
        with self.t.atomic():
            held = self.t.lock_group(app, group)
            user = self._user(app, person_id)
            created = user is None
            if user is None:
                user = UserRow(self.t.next_id("users"), app, person_id, name)
                self.t.users[user.id] = user
            self.t.members.add((held.id, user.id))
            return self._person(app, held, person_id), created

    async def person(self, app: int, group: str, person_id: str) -> Person:
        return self._person(app, await self.groups.group(app, group), person_id)

    async def persons_page(self, app: int, group: str, offset: int, limit: int
                           ) -> tuple[int, list[Person]]:
        held = await self.groups.group(app, group)
        users = sorted((self.t.users[u] for g, u in self.t.members if g == held.id),
                       key=lambda u: u.id)
        return len(users), [self._person(app, held, u.uid) for u in users[offset:offset + limit]]

    async def delete_person(self, app: int, group: str, person_id: str) -> None:
        with self.t.atomic():
            held = self.t.lock_group(app, group)
            user_id = self.t.person_in_group(app, held, person_id)
            self.t.delete_user_faces(held.id, user_id)
            self.t.members.discard((held.id, user_id))
            if not any(u == user_id for _, u in self.t.members):
                self.t.drop_user(user_id)

    async def import_faces(self, app: int, group: str, model: int, tag: str,
                           faces_in: list[StoredFaceData]) -> tuple[Imported, Group]:
        with self.t.atomic():
            if self.t.group_row(app, group) is None:
                self.t.new_group(app, group, tag, model)
            held = self.t.lock_group(app, group)
            require_same_model(held.model, model, f"group {group}")
            users: dict[str, int] = {}
            made = created = existing = 0
            for face in faces_in:
                if not face.person_id or face.person_id in users:
                    continue
                user = self._user(app, face.person_id)
                if user is None:
                    user = UserRow(self.t.next_id("users"), app, face.person_id,
                                   face.person_name or "")
                    self.t.users[user.id] = user
                    made += 1
                users[face.person_id] = user.id
                self.t.members.add((held.id, user.id))
            for face in faces_in:
                row = FaceRow(face.vector, model, face.box, face.quality, face.sha256,
                              face.thumbnail, face.region)
                written = self.t.insert_face_once(
                    app, held, row, face.tag, face.key,
                    users[face.person_id] if face.person_id else None)
                created += written.created
                existing += not written.created
            return Imported(made, created, existing), self.t.lock_group(app, group)

    async def assign_faces(self, app: int, group: str, face_ids: list[int],
                           person_id: str | None) -> int:
        with self.t.atomic():
            held = self.t.lock_group(app, group)
            user_id = (None if person_id is None
                       else self.t.person_in_group(app, held, person_id))
            self.t.require_faces(held, face_ids)
            changed = 0
            for face_id in set(face_ids):
                face = self.t.faces[face_id]
                if face.user_id != user_id:
                    face.user_id, face.updated_at = user_id, self.t.now()
                    changed += 1
            if user_id is not None:
                self.t.not_persons -= {(f, user_id) for f in face_ids}
            self.t.unplace_faces(held.id, face_ids)
        return changed

    async def confirm_faces(self, app: int, group: str, face_ids: list[int], person_id: str
                            ) -> tuple[list[int], list[int]]:
        with self.t.atomic():
            held = self.t.lock_group(app, group)
            user_id = self.t.person_in_group(app, held, person_id)
            joined = []
            for face_id in face_ids:
                face = self.t.faces.get(face_id)
                if (face is not None and face.group_id == held.id and face.user_id is None
                        and (face_id, user_id) not in self.t.not_persons):
                    face.user_id, face.updated_at = user_id, self.t.now()
                    joined.append(face_id)
            left = [f for f in face_ids if f in self.t.faces
                    and self.t.faces[f].group_id == held.id and self.t.faces[f].user_id != user_id]
        return joined, left

    async def not_person(self, app: int, group: str, person_id: str, face_id: int) -> bool:
        with self.t.atomic():
            held = self.t.lock_group(app, group)
            user_id = self.t.person_in_group(app, held, person_id)
            self.t.require_faces(held, [face_id])
            face = self.t.faces[face_id]
            was = face.user_id == user_id
            if was:
                face.user_id, face.updated_at = None, self.t.now()
            self.t.not_persons.add((face_id, user_id))
            self.t.unplace_faces(held.id, [face_id])
        return was

    async def merge_persons(self, app: int, group: str, into: str, other: str) -> Person:
        if into == other:
            raise FaceError(ERRORS.PARAM_INVALID, "a person cannot be merged into itself")
        with self.t.atomic():
            held = self.t.lock_group(app, group)
            target = self.t.person_in_group(app, held, into)
            source = self.t.person_in_group(app, held, other)
            moved = [f for f in self.t.faces.values()
                     if f.group_id == held.id and f.user_id == source]
            for face in moved:
                face.user_id, face.updated_at = target, self.t.now()
            in_group = {f.id for f in self.t.faces.values() if f.group_id == held.id}
            marks = {(f, u) for f, u in self.t.not_persons if u == source and f in in_group}
            self.t.not_persons -= marks
            self.t.not_persons |= {(f, target) for f, _ in marks
                                   if self.t.faces[f].user_id != target}
            self.t.members.discard((held.id, source))
            if not any(u == source for _, u in self.t.members):
                self.t.drop_user(source)
            self.t.unplace_faces(held.id, [f.id for f in moved])
            return self._person(app, held, into)

    async def rename_person(self, app: int, group: str, person_id: str, name: str) -> Person:
        with self.t.atomic():
            held = self.t.lock_group(app, group)
            person = self._person(app, held, person_id)
            self.t.users[self.t.person_in_group(app, held, person_id)].user_info = name
        person.name = name
        return person

    async def identify_users(self, app: int, groups: list[str], vector: np.ndarray, model: int,
                             user_top: int) -> list[UserMatch]:
        ranked = await best_users(self.groups, app, groups, vector, model, user_top)
        return [UserMatch(group, self.t.users[user_id].uid, self.t.users[user_id].user_info,
                          cosines) for group, user_id, cosines in ranked]

    async def verify_user(self, app: int, uid: str, groups: list[str], vector: np.ndarray,
                          model: int, top: int) -> list[float]:
        user = self._user(app, uid)
        held = [] if user is None else [
            f for f in self.t.faces.values()
            if f.user_id == user.id and self.t.groups[f.group_id].name in groups]
        rows = sorted(((cosine(f.vector, vector), f.model) for f in held),
                      key=lambda row: -row[0])[:top]
        if not rows:
            raise FaceError(ERRORS.USER_NOT_FOUND, f"user {uid} in {','.join(groups)}")
        for _, model_held in rows:
            require_same_model(model_held, model, f"user {uid}'s face")
        return [c for c, _ in rows]


class FakeIdentities:
    def __init__(self, tables: Tables) -> None:
        self.t = tables

    async def put(self, app: int, id_card_number: str, name: str, vector: np.ndarray,
                  model: int) -> bool:
        self.t.require_app(app)
        new = (app, id_card_number) not in self.t.identities
        self.t.identities[(app, id_card_number)] = IdentityRow(
            id_card_number, name, model, stored_vector(vector))
        return new

    async def get(self, app: int, id_card_number: str) -> Identity:
        row = self.t.identities.get((app, id_card_number))
        if row is None:
            raise FaceError(ERRORS.IDENTITY_NOT_FOUND, f"{id_card_number} is not registered")
        return Identity(row.id_card_number, row.name, row.model, row.vector.copy())

    async def delete(self, app: int, id_card_number: str) -> None:
        if self.t.identities.pop((app, id_card_number), None) is None:
            raise FaceError(ERRORS.IDENTITY_NOT_FOUND, f"{id_card_number} is not registered")
