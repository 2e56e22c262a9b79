"""Clusterings in memory: services/gallery/clusters.py, method for method: a run queued, started,
saved whole (the group's older runs dropped), new faces joined one by one, clusters named."""

from __future__ import annotations

import uuid

import numpy as np

from services.gallery.clusters import ClusterRow, ClusterRun, Constraints, Vote, run_uuid
from services.gallery.records import Group
from shared.errors import ERRORS, FaceError
from tests.fakes.tables import ClusterMeta, IntegrityError, RunRow, Tables


def real(value: float) -> float:
    """A value as a REAL column gives it back: float32, printed shortest (0.85 stays 0.85)."""
    return float(str(np.float32(value)))


class FakeClusterRuns:
    def __init__(self, tables: Tables) -> None:
        self.t = tables

    def _record(self, run: RunRow) -> ClusterRun:
        return ClusterRun(str(run.id), run.app, run.group_id, self.t.groups[run.group_id].name,
                          run.score, run.state, run.total, run.done, run.clusters, run.error,
                          run.created_at, run.started_at, run.finished_at)

    async def create(self, app: int, group: Group, score: float) -> ClusterRun:
        self.t.require_app(app)
        if group.id not in self.t.groups:
            raise IntegrityError(f"no group {group.id}")
        run = RunRow(uuid.uuid4(), app, group.id, real(score), group.face_count, self.t.now())
        self.t.runs[run.id] = run
        return self._record(run)

    async def run(self, run_id: str, app: int | None = None) -> ClusterRun | None:
        key = run_uuid(run_id)
        run = self.t.runs.get(key) if key is not None else None
        if run is None or (app is not None and run.app != app):
            return None
        return self._record(run)

    async def latest(self, group: Group) -> ClusterRun | None:
        done = [r for r in self.t.runs.values() if r.group_id == group.id and r.state == "done"]
        return self._record(max(done, key=lambda r: r.finished_at)) if done else None

    async def start(self, run_id: str) -> bool:
        run = self.t.runs.get(uuid.UUID(run_id))
        if run is None or run.state not in ("queued", "running"):
            return False
        run.state, run.done = "running", 0
        run.started_at = run.started_at or self.t.now()
        return True

    async def progress(self, run_id: str, done: int) -> None:
        run = self.t.runs.get(uuid.UUID(run_id))
        if run is not None:
            run.done = done

    async def snapshot(self, group_id: int) -> tuple[np.ndarray, np.ndarray]:
        faces = sorted((f for f in self.t.faces.values() if f.group_id == group_id),
                       key=lambda f: f.id)
        ids = np.array([f.id for f in faces], np.int64)
        vectors = (np.stack([f.vector for f in faces]).astype(np.float32)
                   if faces else np.zeros((0, 0), np.float32))
        return ids, vectors

    async def save(self, run_id: str, face_ids: np.ndarray, labels: np.ndarray,
                   representatives: np.ndarray) -> int:
        key = uuid.UUID(run_id)
        count = len(representatives)
        with self.t.atomic():
            run = self.t.runs.get(key)
            if run is None or run.state not in ("queued", "running"):
                return count  # ended meanwhile (a redelivered task that finished elsewhere)
            # faces deleted since the snapshot are left out (the SQL joins faces)
            run.placed = {int(f): int(c) for f, c in zip(face_ids.tolist(),
                                                         labels.astype(np.int64).tolist(),
                                                         strict=True) if f in self.t.faces}
            run.meta = {c: ClusterMeta(int(r) if r in self.t.faces else None)
                        for c, r in enumerate(representatives.astype(np.int64).tolist())}
            run.state, run.clusters, run.next_cluster = "done", count, count
            run.done, run.finished_at = run.total, self.t.now()
            for other in [r.id for r in self.t.runs.values() if r.group_id == run.group_id
                          and r.id != key and r.state == "done"]:
                del self.t.runs[other]
        return count

    async def fail(self, run_id: str, error: FaceError) -> None:
        run = self.t.runs.get(uuid.UUID(run_id))
        if run is not None and run.state in ("queued", "running"):
            run.state, run.error, run.finished_at = "failed", error.to_dict(), self.t.now()

    async def join_unassigned(self, run: ClusterRun, group: Group, k: int, vote: Vote) -> int:
        key = uuid.UUID(run.id)
        with self.t.atomic():
            held = self.t.runs.get(key)
            if held is None or held.state != "done":  # replaced while this one waited
                return 0
            new = sorted((f for f in self.t.faces.values()
                          if f.group_id == group.id and f.id not in held.placed),
                         key=lambda f: f.id)
            owners = self.t.owners(held)
            for face in new:
                found = [m for m in self.t.search_on(group, face.vector, k + 1)
                         if m.face_id != face.id][:k]
                placed = {m.face_id: held.placed[m.face_id] for m in found
                          if m.face_id in held.placed}
                marked = {u for f, u in self.t.not_persons if f == face.id}
                user_id = face.user_id
                own = next((c for c, p in owners.items() if p == user_id), None)
                forbidden = frozenset(c for c, p in owners.items() if p in marked
                                      or (user_id is not None and p != user_id))
                cluster = vote([m.face_id for m in found], [m.cosine for m in found], placed,
                               None if user_id is None else own, forbidden)
                if cluster is None:
                    cluster = held.next_cluster
                    held.next_cluster += 1
                    held.meta[cluster] = ClusterMeta(face.id)
                elif not face.tag:  # an untagged face joining a named cluster takes its name
                    meta = held.meta.get(cluster)
                    if meta is not None and meta.name is not None:
                        face.tag, face.updated_at = meta.name, self.t.now()
                held.placed[face.id] = cluster
                if user_id is not None and cluster not in owners:
                    owners[cluster] = user_id
        return len(new)

    async def page(self, run: ClusterRun, offset: int, limit: int
                   ) -> tuple[int, int, list[ClusterRow]]:
        held = self.t.runs.get(uuid.UUID(run.id))
        placed = held.placed if held is not None else {}
        members: dict[int, list[int]] = {}
        for face_id, cluster in placed.items():
            members.setdefault(cluster, []).append(face_id)
        ordered = sorted(members.items(), key=lambda kv: (-len(kv[1]), kv[0]))
        owners = self.t.owners(held) if held is not None else {}
        page = []
        for cluster, ids in ordered[offset:offset + limit]:
            ids = sorted(ids)
            meta = held.meta.get(cluster, ClusterMeta()) if held is not None else ClusterMeta()
            representative = meta.representative if meta.representative in ids else ids[0]
            owner = self.t.users.get(owners.get(cluster, 0))
            page.append(ClusterRow(cluster, len(ids), ids, representative, meta.name,
                                   owner.uid if owner else None,
                                   owner.user_info if owner else None))
        return len(members), len(placed), page

    async def constraints(self, group_id: int) -> Constraints:
        persons = {f.id: f.user_id for f in self.t.faces.values()
                   if f.group_id == group_id and f.user_id is not None}
        marks: dict[int, set[int]] = {}
        for face_id, user_id in self.t.not_persons:
            if self.t.faces[face_id].group_id == group_id:
                marks.setdefault(face_id, set()).add(user_id)
        return Constraints(persons, marks)

    async def edit(self, run: ClusterRun, cluster_id: int | None,
                   face_ids: list[int] | None = None, from_cluster: int | None = None) -> int:
        held = self.t.runs[uuid.UUID(run.id)]
        if from_cluster is not None:
            face_ids = [f for f, c in held.placed.items() if c == from_cluster]
            if not face_ids:
                raise FaceError(ERRORS.CLUSTER_NOT_FOUND, f"no cluster {from_cluster}")
        face_ids = list(dict.fromkeys(face_ids or []))
        missing = [f for f in face_ids if f not in held.placed]
        if missing or not face_ids:
            raise FaceError(ERRORS.CLUSTER_NOT_FOUND,
                            f"face {missing[0]} is in no cluster of the clustering"
                            if missing else "no faces to move")
        if cluster_id is None:
            cluster_id = held.next_cluster
            held.next_cluster += 1
            held.meta[cluster_id] = ClusterMeta(face_ids[0])
        elif cluster_id not in held.placed.values():
            raise FaceError(ERRORS.CLUSTER_NOT_FOUND, f"no cluster {cluster_id}")
        for face_id in face_ids:
            held.placed[face_id] = cluster_id
        return cluster_id

    async def cluster_faces(self, run: ClusterRun, cluster_id: int) -> list[int]:
        held = self.t.runs.get(uuid.UUID(run.id))
        found = sorted(f for f, c in (held.placed.items() if held else ()) if c == cluster_id)
        if not found:
            raise FaceError(ERRORS.CLUSTER_NOT_FOUND,
                            f"no cluster {cluster_id} in group {run.group}'s clustering")
        return found

    async def name(self, run: ClusterRun, cluster_id: int, tag: str) -> int:
        held = self.t.runs.get(uuid.UUID(run.id))
        faces = [] if held is None else [
            self.t.faces[f] for f, c in held.placed.items()
            if c == cluster_id and self.t.faces[f].group_id == run.group_id]
        if not faces:
            raise FaceError(ERRORS.CLUSTER_NOT_FOUND,
                            f"no cluster {cluster_id} in group {run.group}'s clustering")
        now = self.t.now()
        for face in faces:
            face.tag, face.updated_at = tag, now
        held.meta.setdefault(cluster_id, ClusterMeta()).name = tag
        return len(faces)
