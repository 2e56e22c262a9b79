"""Clusterings of a group: the only writer of `cluster_runs`, `face_clusters` and `clusters`.

A run is created queued by the gateway, clustered by a worker from a snapshot of the group's
faces, and saved in one transaction (its assignments, each cluster's representative, the run
marked done, the group's older runs dropped), so a reader sees the old clustering or the new
one, never half of one. A face enrolled afterwards joins the latest run one face at a time
(`join_unassigned`), under a per-group lock (taken by a save too) so two joins never open two
clusters for one person and a join never writes into a clustering being replaced.
Deleted faces leave their clusters by cascade.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from services.gallery.faces import search_on
from services.gallery.records import Group, vector_array
from shared.errors import ERRORS, FaceError

_JOIN_LOCK = 0x434C5553  # "CLUS": with the group id, one join per group at a time
_COLUMNS = ("r.id, r.app_id, r.group_id, g.name, r.score, r.state, r.total, r.done, r.clusters, "
            "r.error, r.created_at, r.started_at, r.finished_at")

# A new face's cluster from its neighbours: (face ids, cosines) -> cluster ids of those that
# have one -> the cluster of the face's person, if it has one there -> clusters it may not
# join (another person's, or a person it is marked "not") -> the cluster to join, or None for
# a cluster of its own.
Vote = Callable[[list[int], list[float], dict[int, int], int | None, frozenset[int]],
                int | None]


@dataclass
class ClusterRun:
    id: str
    app: int
    group_id: int
    group: str
    score: float
    state: str  # queued, running, done, failed
    total: int
    done: int
    clusters: int | None
    error: dict | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


@dataclass
class ClusterRow:
    cluster_id: int
    size: int
    faces: list[int]
    representative: int
    name: str | None
    person_id: str | None = None  # the person most of its faces are, if any
    person: str | None = None  # that person's name


@dataclass
class Constraints:
    """What corrections fix for a clustering of the group's faces: each face's person (None:
    nobody's) and the persons each face is marked "not"."""

    persons: dict[int, int]  # face id: users row id, for faces that have a person
    not_persons: dict[int, set[int]]  # face id: users row ids it is not


async def lock_joins(conn, group_id: int) -> None:
    """No join into the group's clustering until the caller's transaction ends. A correction
    takes it right after the group's row, before any face row, in the order a join takes
    them (this lock, then faces), so the two never wait on each other in a circle."""
    await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_JOIN_LOCK, group_id))


async def unplace_faces(conn, group_id: int, face_ids: list[int]) -> None:
    """The faces leave the group's clustering, inside the caller's transaction (a correction
    moved them to or from a person, holding lock_joins): the next join places them again
    under the corrected constraints (join_unassigned)."""
    await lock_joins(conn, group_id)
    await conn.execute(
        "DELETE FROM face_clusters WHERE face_id = ANY(%s) AND run_id IN "
        "(SELECT id FROM cluster_runs WHERE group_id = %s AND state = 'done')",
        (face_ids, group_id))


def run_uuid(run_id: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(run_id)
    except ValueError:
        return None


async def _owners(conn, key: uuid.UUID, clusters: list[int] | None = None) -> dict[int, int]:
    """Each cluster's person: the person most of its faces are (clusters with none left
    out)."""
    rows = await (await conn.execute(
        "SELECT DISTINCT ON (c.cluster) c.cluster, f.user_id FROM face_clusters c "
        "JOIN faces f ON f.id = c.face_id WHERE c.run_id = %s AND f.user_id IS NOT NULL "
        "AND (%s::integer[] IS NULL OR c.cluster = ANY(%s)) "
        "GROUP BY c.cluster, f.user_id ORDER BY c.cluster, count(*) DESC, f.user_id",
        (key, clusters, clusters))).fetchall()
    return dict(rows)


async def _not_persons(conn, face_ids: list[int]) -> dict[int, set[int]]:
    marks: dict[int, set[int]] = {}
    for face_id, user_id in await (await conn.execute(
            "SELECT face_id, user_id FROM face_not_person WHERE face_id = ANY(%s)",
            (face_ids,))).fetchall():
        marks.setdefault(face_id, set()).add(user_id)
    return marks


class ClusterRuns:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def create(self, app: int, group: Group, score: float) -> ClusterRun:
        async with self.pool.connection() as conn:  # one statement: written and read back
            row = await (await conn.execute(
                "WITH r AS (INSERT INTO cluster_runs (id, app_id, group_id, score, total) "
                "VALUES (%s, %s, %s, %s, %s) RETURNING *) "
                f"SELECT {_COLUMNS} FROM r JOIN groups g ON g.id = r.group_id",
                (uuid.uuid4(), app, group.id, score, group.face_count))).fetchone()
        return ClusterRun(str(row[0]), *row[1:])

    async def run(self, run_id: str, app: int | None = None) -> ClusterRun | None:
        """A run by id (None if there is none, or it is another app's)."""
        key = run_uuid(run_id)
        if key is None:
            return None
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                f"SELECT {_COLUMNS} FROM cluster_runs r JOIN groups g ON g.id = r.group_id "
                "WHERE r.id = %s", (key,))).fetchone()
        if row is None or (app is not None and row[1] != app):
            return None
        return ClusterRun(str(row[0]), *row[1:])

    async def latest(self, group: Group) -> ClusterRun | None:
        """The group's latest finished clustering."""
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                f"SELECT {_COLUMNS} FROM cluster_runs r JOIN groups g ON g.id = r.group_id "
                "WHERE r.group_id = %s AND r.state = 'done' ORDER BY r.finished_at DESC LIMIT 1",
                (group.id,))).fetchone()
        return None if row is None else ClusterRun(str(row[0]), *row[1:])

    async def start(self, run_id: str) -> bool:
        """Marks a queued (or redelivered running) run running; False if it has ended."""
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                "UPDATE cluster_runs SET state = 'running', done = 0, "
                "started_at = coalesce(started_at, now()) "
                "WHERE id = %s AND state IN ('queued', 'running') RETURNING id",
                (uuid.UUID(run_id),))).fetchone()
        return row is not None

    async def progress(self, run_id: str, done: int) -> None:
        async with self.pool.connection() as conn:
            await conn.execute("UPDATE cluster_runs SET done = %s WHERE id = %s",
                               (done, uuid.UUID(run_id)))

    async def snapshot(self, group_id: int) -> tuple[np.ndarray, np.ndarray]:
        """Every face of the group now: (face ids, embeddings), by id."""
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(
                "SELECT id, embedding FROM faces WHERE group_id = %s ORDER BY id",
                (group_id,))).fetchall()
        ids = np.array([row[0] for row in rows], np.int64)
        vectors = (np.stack([vector_array(row[1]) for row in rows]).astype(np.float32)
                   if rows else np.zeros((0, 0), np.float32))
        return ids, vectors

    async def save(self, run_id: str, face_ids: np.ndarray, labels: np.ndarray,
                   representatives: np.ndarray) -> int:
        """The run's clusters, in one transaction: `labels[i]` is face_ids[i]'s cluster,
        `representatives[c]` cluster c's face id. Faces deleted since the snapshot are left
        out. The group's other finished runs go. Returns the number of clusters."""
        key = uuid.UUID(run_id)
        count = len(representatives)
        async with self.pool.connection() as conn, conn.transaction():
            state = await (await conn.execute(
                "SELECT state, group_id FROM cluster_runs WHERE id = %s FOR UPDATE",
                (key,))).fetchone()
            if state is None or state[0] not in ("queued", "running"):
                return count  # ended meanwhile (a redelivered task that finished elsewhere)
            # not while a join writes into the run this one replaces
            await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_JOIN_LOCK, state[1]))
            await conn.execute("DELETE FROM face_clusters WHERE run_id = %s", (key,))
            await conn.execute("DELETE FROM clusters WHERE run_id = %s", (key,))
            await conn.execute(
                "INSERT INTO face_clusters (run_id, face_id, cluster) SELECT %s, f.id, a.cluster "
                "FROM unnest(%s::bigint[], %s::integer[]) AS a(face_id, cluster) "
                "JOIN faces f ON f.id = a.face_id",
                (key, face_ids.tolist(), labels.astype(np.int64).tolist()))
            await conn.execute(
                "INSERT INTO clusters (run_id, cluster, representative) SELECT %s, a.cluster, "
                "f.id FROM unnest(%s::integer[], %s::bigint[]) AS a(cluster, face_id) "
                "LEFT JOIN faces f ON f.id = a.face_id",
                (key, list(range(count)), representatives.astype(np.int64).tolist()))
            await conn.execute(
                "UPDATE cluster_runs SET state = 'done', clusters = %s, next_cluster = %s, "
                "done = total, finished_at = now() WHERE id = %s", (count, count, key))
            await conn.execute(
                "DELETE FROM cluster_runs WHERE group_id = %s AND id <> %s AND state = 'done'",
                (state[1], key))
        return count

    async def fail(self, run_id: str, error: FaceError) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE cluster_runs SET state = 'failed', error = %s, finished_at = now() "
                "WHERE id = %s AND state IN ('queued', 'running')",
                (Jsonb(error.to_dict()), uuid.UUID(run_id)))

    async def join_unassigned(self, run: ClusterRun, group: Group, k: int, vote: Vote) -> int:
        """Faces of the group the run has not placed (enrolled since it took its snapshot),
        each joined to the cluster `vote` picks from its k nearest placed neighbours, or to a
        cluster of its own; in id order, so a new person's second face finds the first. One
        transaction under the group's join lock. An untagged face that joins a named cluster
        takes its name. Returns how many faces were placed."""
        key = uuid.UUID(run.id)
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_JOIN_LOCK, group.id))
            current = await (await conn.execute(
                "SELECT 1 FROM cluster_runs WHERE id = %s AND state = 'done'", (key,))).fetchone()
            if current is None:  # replaced by a newer clustering while this one waited
                return 0
            rows = await (await conn.execute(
                "SELECT f.id, f.embedding, f.tag, f.user_id FROM faces f WHERE f.group_id = %s "
                "AND NOT EXISTS (SELECT 1 FROM face_clusters c WHERE c.run_id = %s AND "
                "c.face_id = f.id) ORDER BY f.id", (group.id, key))).fetchall()
            owners = await _owners(conn, key)  # cluster: its person
            marks = await _not_persons(conn, [row[0] for row in rows])
            for face_id, embedding, tag, user_id in rows:
                found = [m for m in await search_on(conn, group, vector_array(embedding), k + 1)
                         if m.face_id != face_id][:k]
                placed = dict(await (await conn.execute(
                    "SELECT face_id, cluster FROM face_clusters WHERE run_id = %s "
                    "AND face_id = ANY(%s)", (key, [m.face_id for m in found]))).fetchall())
                own = next((c for c, p in owners.items() if p == user_id), None)
                forbidden = frozenset(c for c, p in owners.items() if p in marks.get(face_id, ())
                                      or (user_id is not None and p != user_id))
                cluster = vote([m.face_id for m in found], [m.cosine for m in found], placed,
                               None if user_id is None else own, forbidden)
                if cluster is None:
                    [cluster] = await (await conn.execute(
                        "UPDATE cluster_runs SET next_cluster = next_cluster + 1 WHERE id = %s "
                        "RETURNING next_cluster - 1", (key,))).fetchone()
                    await conn.execute("INSERT INTO clusters (run_id, cluster, representative) "
                                       "VALUES (%s, %s, %s)", (key, cluster, face_id))
                elif not tag:  # an untagged face joining a named cluster takes its name
                    await conn.execute(
                        "UPDATE faces SET tag = k.name, updated_at = now() FROM clusters k "
                        "WHERE faces.id = %s AND k.run_id = %s AND k.cluster = %s "
                        "AND k.name IS NOT NULL", (face_id, key, cluster))
                await conn.execute("INSERT INTO face_clusters (run_id, face_id, cluster) "
                                   "VALUES (%s, %s, %s)", (key, face_id, cluster))
                if user_id is not None and cluster not in owners:
                    owners[cluster] = user_id
        return len(rows)

    async def page(self, run: ClusterRun, offset: int, limit: int
                   ) -> tuple[int, int, list[ClusterRow]]:
        """(clusters, faces, a page of clusters largest first, each with every face id)."""
        key = uuid.UUID(run.id)
        async with self.pool.connection() as conn:
            clusters, faces = await (await conn.execute(
                "SELECT count(DISTINCT cluster), count(*) FROM face_clusters WHERE run_id = %s",
                (key,))).fetchone()
            rows = await (await conn.execute(
                "SELECT c.cluster, count(*) AS size, array_agg(c.face_id ORDER BY c.face_id), "
                "k.representative, k.name FROM face_clusters c LEFT JOIN clusters k "
                "ON k.run_id = c.run_id AND k.cluster = c.cluster WHERE c.run_id = %s "
                "GROUP BY c.cluster, k.representative, k.name "
                "ORDER BY size DESC, c.cluster LIMIT %s OFFSET %s",
                (key, limit, offset))).fetchall()
            owners = await _owners(conn, key, [row[0] for row in rows])
            people = {row[0]: (row[1], row[2]) for row in await (await conn.execute(
                "SELECT id, uid, user_info FROM users WHERE id = ANY(%s)",
                (list(owners.values()),))).fetchall()}
        page = [ClusterRow(cluster, size, list(ids),
                           representative if representative in ids else ids[0], name,
                           *people.get(owners.get(cluster, 0), (None, None)))
                for cluster, size, ids, representative, name in rows]
        return clusters, faces, page

    async def constraints(self, group_id: int) -> Constraints:
        """The group's faces' persons and "not this person" marks, for a run to respect."""
        async with self.pool.connection() as conn:
            persons = dict(await (await conn.execute(
                "SELECT id, user_id FROM faces WHERE group_id = %s AND user_id IS NOT NULL",
                (group_id,))).fetchall())
            marks: dict[int, set[int]] = {}
            for face_id, user_id in await (await conn.execute(
                    "SELECT n.face_id, n.user_id FROM face_not_person n JOIN faces f "
                    "ON f.id = n.face_id WHERE f.group_id = %s", (group_id,))).fetchall():
                marks.setdefault(face_id, set()).add(user_id)
        return Constraints(persons, marks)

    async def edit(self, run: ClusterRun, cluster_id: int | None,
                   face_ids: list[int] | None = None, from_cluster: int | None = None) -> int:
        """A correction of the clustering (not of persons: it lasts until the next run):
        `face_ids` (of any of its clusters) or every face of `from_cluster` move into
        `cluster_id`; cluster_id None: into a new cluster (a split). The cluster they are in
        now; CLUSTER_NOT_FOUND for a cluster or face the clustering does not have."""
        key = uuid.UUID(run.id)
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_JOIN_LOCK, run.group_id))
            if from_cluster is not None:
                face_ids = [row[0] for row in await (await conn.execute(
                    "SELECT face_id FROM face_clusters WHERE run_id = %s AND cluster = %s",
                    (key, from_cluster))).fetchall()]
                if not face_ids:
                    raise FaceError(ERRORS.CLUSTER_NOT_FOUND, f"no cluster {from_cluster}")
            face_ids = list(dict.fromkeys(face_ids or []))
            held = {row[0] for row in await (await conn.execute(
                "SELECT face_id FROM face_clusters WHERE run_id = %s AND face_id = ANY(%s)",
                (key, face_ids))).fetchall()}
            missing = [f for f in face_ids if f not in held]
            if missing or not face_ids:
                raise FaceError(ERRORS.CLUSTER_NOT_FOUND,
                                f"face {missing[0]} is in no cluster of the clustering"
                                if missing else "no faces to move")
            if cluster_id is None:
                [cluster_id] = await (await conn.execute(
                    "UPDATE cluster_runs SET next_cluster = next_cluster + 1 WHERE id = %s "
                    "RETURNING next_cluster - 1", (key,))).fetchone()
                await conn.execute("INSERT INTO clusters (run_id, cluster, representative) "
                                   "VALUES (%s, %s, %s)", (key, cluster_id, face_ids[0]))
            elif not await (await conn.execute(
                    "SELECT 1 FROM face_clusters WHERE run_id = %s AND cluster = %s",
                    (key, cluster_id))).fetchone():
                raise FaceError(ERRORS.CLUSTER_NOT_FOUND, f"no cluster {cluster_id}")
            await conn.execute("UPDATE face_clusters SET cluster = %s WHERE run_id = %s AND "
                               "face_id = ANY(%s)", (cluster_id, key, face_ids))
        return cluster_id

    async def cluster_faces(self, run: ClusterRun, cluster_id: int) -> list[int]:
        """The cluster's face ids (CLUSTER_NOT_FOUND if it has none)."""
        async with self.pool.connection() as conn:
            found = [row[0] for row in await (await conn.execute(
                "SELECT face_id FROM face_clusters WHERE run_id = %s AND cluster = %s "
                "ORDER BY face_id", (uuid.UUID(run.id), cluster_id))).fetchall()]
        if not found:
            raise FaceError(ERRORS.CLUSTER_NOT_FOUND,
                            f"no cluster {cluster_id} in group {run.group}'s clustering")
        return found

    async def name(self, run: ClusterRun, cluster_id: int, tag: str) -> int:
        """Tags every face of the cluster; how many. CLUSTER_NOT_FOUND if it has none."""
        key = uuid.UUID(run.id)
        async with self.pool.connection() as conn, conn.transaction():
            tagged = await conn.execute(
                "UPDATE faces SET tag = %s, updated_at = now() WHERE group_id = %s AND id IN "
                "(SELECT face_id FROM face_clusters WHERE run_id = %s AND cluster = %s)",
                (tag, run.group_id, key, cluster_id))
            if not tagged.rowcount:
                raise FaceError(ERRORS.CLUSTER_NOT_FOUND,
                                f"no cluster {cluster_id} in group {run.group}'s clustering")
            await conn.execute(
                "INSERT INTO clusters (run_id, cluster, name) VALUES (%s, %s, %s) "
                "ON CONFLICT (run_id, cluster) DO UPDATE SET name = excluded.name",
                (key, cluster_id, tag))
        return tagged.rowcount
