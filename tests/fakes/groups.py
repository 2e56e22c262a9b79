"""Groups, faces and index upkeep in memory: services/gallery/faces.py and indexes.py, method for
method, with the same FaceError kinds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import numpy as np

from services.gallery.faces import searchable
from services.gallery.records import (
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
)
from shared.errors import ERRORS, FaceError
from shared.models import require_same_model
from shared.settings import GateLevel
from tests.fakes.tables import FaceEntry, Tables, cosine, stored_vector


class FakeGroupFaces:
    def __init__(self, tables: Tables) -> None:
        self.t = tables

    # groups -----------------------------------------------------------------------------
    async def create_group(self, app: int, name: str, tag: str, model: int,
                           quality: GateLevel | None = None) -> Group:
        if self.t.group_row(app, name) is not None:
            raise FaceError(ERRORS.GROUP_CREATE, f"group {name} already exists")
        with self.t.atomic():
            return self.t.new_group(app, name, tag, model, quality).record()

    async def group(self, app: int, name: str) -> Group:
        return self.t.lock_group(app, name)

    async def groups_named(self, app: int, names: list[str]) -> list[Group]:
        rows = (self.t.group_row(app, name) for name in sorted(set(names)))
        return [row.record() for row in rows if row is not None]

    async def update_group(self, app: int, name: str, quality: GateLevel | Keep | None = KEEP,
                           tag: str | None = None) -> Group:
        row = self.t.group_row(app, name)
        if row is None:
            raise FaceError(ERRORS.GROUP_NOT_FOUND, f"group {name}")
        with self.t.atomic():
            if quality is not KEEP:
                row.quality = quality
            if tag is not None:
                row.tag = tag
            return row.record()

    async def delete_group(self, app: int, name: str) -> None:
        row = self.t.group_row(app, name)
        if row is None:
            raise FaceError(ERRORS.GROUP_NOT_FOUND, f"group {name}")
        with self.t.atomic():
            self.t.drop_group(row.id)

    async def groups_page(self, app: int, page: int, size: int) -> tuple[int, list[Group]]:
        mine = self._groups(app)
        offset = (page - 1) * size
        return len(mine), [g.record() for g in mine[offset:offset + size]]

    async def group_names(self, app: int, start: int, num: int) -> list[str]:
        return [g.name for g in self._groups(app)[start:start + num]]

    def _groups(self, app: int) -> list:
        return sorted((g for g in self.t.groups.values() if g.app == app), key=lambda g: g.id)

    async def searchable_group(self, app: int, name: str, model: int) -> Group:
        return searchable(await self.group(app, name), model)

    # faces ------------------------------------------------------------------------------
    async def add_face(self, app: int, group_name: str, face: FaceRow, tag: str,
                       request_key: str | None = None, person: str | None = None
                       ) -> tuple[FaceWritten, Group]:
        with self.t.atomic():
            group = self.t.lock_group(app, group_name)
            user_id = None if person is None else self.t.person_in_group(app, group, person)
            written = self.t.insert_face_once(app, group, face, tag, request_key, user_id)
            return written, group

    async def delete_face(self, app: int, group_name: str, face_id: int) -> None:
        with self.t.atomic():
            group = self.t.lock_group(app, group_name)
            self._entry(group, face_id)
            self.t.drop_faces([face_id])
            self.t.groups[group.id].face_count -= 1

    async def edit_face(self, app: int, group_name: str, face_id: int, tag: str | None = None,
                        face: FaceRow | None = None) -> None:
        with self.t.atomic():
            group = self.t.lock_group(app, group_name)
            if face is not None:
                require_same_model(group.model, face.model, f"group {group_name}")
            entry = self._entry(group, face_id)
            entry.updated_at = self.t.now()
            if tag is not None:
                entry.tag = tag
            if face is not None:  # the model column stays: it was checked equal
                entry.vector = stored_vector(face.vector)
                entry.box, entry.quality = list(face.box or []), face.quality
                entry.sha256, entry.thumbnail = face.sha256, face.thumbnail
                entry.region = face.region

    async def face(self, app: int, group_name: str, face_id: int) -> StoredFace:
        group = self.t.lock_group(app, group_name)  # 12357 if it is the group that is missing
        entry = self._entry(group, face_id)
        return StoredFace(entry.id, group.name, entry.tag, list(entry.box), entry.quality,
                          entry.created_at, entry.updated_at)

    async def faces_page(self, app: int, group_name: str, tag: str, offset: int, limit: int,
                         person: str | None = None) -> tuple[int, list[ListedFace]]:
        group = await self.group(app, group_name)
        user_id = None if person is None else self.t.person_in_group(app, group, person)
        # ILIKE '%tag%' with the tag's wildcards escaped: a plain case-insensitive substring
        needle = tag.lower()
        found = sorted((f for f in self.t.faces.values()
                        if f.group_id == group.id and needle in f.tag.lower()
                        and (user_id is None or f.user_id == user_id)),
                       key=lambda f: -f.id)
        return len(found), [self._listed(f) for f in found[offset:offset + limit]]

    def _listed(self, entry: FaceEntry) -> ListedFace:
        user = self.t.users.get(entry.user_id) if entry.user_id is not None else None
        return ListedFace(entry.id, entry.tag, list(entry.box), entry.quality,
                          entry.created_at, user.uid if user else None,
                          entry.thumbnail is not None)

    async def thumbnail(self, app: int, group_name: str, face_id: int) -> bytes | None:
        group = await self.group(app, group_name)
        return self._entry(group, face_id).thumbnail

    async def face_vector(self, app: int, group_name: str, face_id: int
                          ) -> tuple[int, np.ndarray]:
        group = await self.group(app, group_name)
        entry = self._entry(group, face_id)
        return entry.model, entry.vector.copy()

    def _entry(self, group: Group, face_id: int) -> FaceEntry:
        entry = self.t.faces.get(face_id)
        if entry is None or entry.group_id != group.id:
            raise FaceError(ERRORS.FACE_NOT_FOUND, f"face {face_id} in group {group.name}")
        return entry

    # search -----------------------------------------------------------------------------
    async def search(self, group: Group, vector: np.ndarray, top_n: int) -> list[Match]:
        return self.t.search_on(group, vector, top_n)

    async def export_faces(self, group: Group, after: int, limit: int) -> list[StoredFaceData]:
        found = sorted((f for f in self.t.faces.values()
                        if f.group_id == group.id and f.id > after), key=lambda f: f.id)
        out = []
        for f in found[:limit]:
            user = self.t.users.get(f.user_id) if f.user_id is not None else None
            out.append(StoredFaceData(f.id, f.tag, f.request_key, user.uid if user else None,
                                      user.user_info if user else None, list(f.box),
                                      f.quality, f.vector.copy(), f.sha256, f.thumbnail,
                                      f.created_at, f.region))
        return out

    async def people_faces(self, group: Group, vector: np.ndarray, user_ids: list[int]
                           ) -> list[PersonFace]:
        query = stored_vector(vector)
        faces = [f for f in self.t.faces.values()
                 if f.group_id == group.id and f.user_id in user_ids]
        norms = {u: float(np.linalg.norm(np.mean([f.vector for f in faces if f.user_id == u],
                                                 axis=0)))
                 for u in {f.user_id for f in faces}}
        return [PersonFace(f.user_id, self.t.users[f.user_id].uid,
                           self.t.users[f.user_id].user_info, f.id, cosine(f.vector, query),
                           f.quality, norms[f.user_id]) for f in faces]

    async def people_sizes(self, group: Group) -> dict[int, int]:
        held = [f.user_id for f in self.t.faces.values() if f.group_id == group.id]
        persons = Counter(u for u in held if u is not None)
        sizes = Counter(persons.values())
        sizes[1] += sum(u is None for u in held)
        return {faces: n for faces, n in sizes.items() if n}


class FakeIndexes:
    """Index upkeep: no index exists, only the `indexed` flag, which the fake's search
    ignores (it is always exact). `built` lists the groups whose index was made, in order."""

    def __init__(self, tables: Tables, min_faces: int) -> None:
        self.t = tables
        self.min_faces = min_faces
        self.built: list[int] = []

    def needs_index(self, group: Group) -> bool:
        return not group.indexed and group.face_count >= self.min_faces

    async def ensure_index(self, group: Group) -> bool:
        if not self.needs_index(group):
            return False
        return self._build(group.id)

    def build_soon(self, groups: Iterable[Group]) -> None:
        """At once rather than in a background task: a test sees the outcome without waiting
        for a task it cannot name."""
        for group in groups:
            if self.needs_index(group):
                self._build(group.id)

    def _build(self, group_id: int) -> bool:
        row = self.t.groups.get(group_id)
        if row is None:  # deleted meanwhile: CREATE INDEX would index nothing, MARK nothing
            return True
        row.indexed = True
        self.built.append(group_id)
        return True
