"""Who is in a group: its faces clustered by person as a job, new faces joined, clusters named.

    gateway: submit -> a run stored queued, its task on the bulk queue -> 202 with the job id
    any worker (run): a snapshot of the group's faces; each face's K_NEIGHBOURS nearest through
      the group's HNSW index, the search every identify uses (a group too small for an index
      is scanned exactly, as the gallery scans it, in one matrix product); Chinese whispers
      over that graph (clustering.py); the clusters saved in one transaction
    GET clusters (clusters): faces enrolled since the run join the nearest cluster first
      (join_new_faces; ingestion chunks join theirs as they finish), so every face of the group
      is in exactly one cluster
    naming a cluster tags its faces: identify then answers with that tag

The threshold is a calibrated score (shared.models), so it means the same for every embedder;
the default, DEFAULT_SCORE, was chosen on half of LFW View 1 (docs/performance.md).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import numpy as np

from services.gallery.clusters import ClusterRow, ClusterRun, Constraints
from services.gallery.records import Group, Person
from services.recognition import persons
from services.recognition.clustering import (
    DEFAULT_SCORE,
    K_NEIGHBOURS,
    Clusters,
    cluster,
    constrain,
    exact_neighbours,
    nearest_cluster,
    relabel,
)
from services.recognition.context import Recognition
from services.recognition.gallery_port import GalleryPort
from shared.errors import ERRORS, FaceError
from shared.job_metrics import JOBS_FINISHED
from shared.models import BY_CODE
from shared.tasks import ClusterRequest

__all__ = ["DEFAULT_SCORE", "ClusterRow", "ClusterRun"]
log = logging.getLogger("facegate.worker")
_SEARCHES = 8  # index searches a run keeps in flight
_PROGRESS_S = 2.0  # how often a run writes its progress


def threshold_score(value: float | None) -> float:
    """A clustering threshold (a calibrated score), or PARAM_INVALID."""
    if value is None:
        return DEFAULT_SCORE
    # scores are kept to 6 decimals (a REAL column): 5e-324 is 0, refused like 0
    score = round(value, 6)
    if not 0.0 < score < 1.0:
        raise FaceError(ERRORS.PARAM_INVALID,
                        "threshold must be a score between 0 and 1 (at most 6 decimals)")
    return score


async def submit(ctx: Recognition, app: int, group_name: str, score: float) -> ClusterRun:
    """A clustering run of the group, queued for a worker."""
    gallery = ctx.gallery
    group = await gallery.groups.group(app, group_name)
    run = await gallery.clusters.create(app, group, score)
    try:
        ctx.queue.send_cluster_run(ClusterRequest(run_id=run.id))
    except Exception as exc:  # never a run left queued that no task will take
        await gallery.clusters.fail(run.id, FaceError(ERRORS.SYSTEM_BUSY, "queue unreachable"))
        raise exc
    return run


async def abandon(gallery: GalleryPort, request: ClusterRequest, error: FaceError) -> None:
    """A run whose workers died too often (FACEGATE_MAX_DELIVERIES) fails with `error`."""
    held = await gallery.clusters.run(request.run_id)
    if held is not None and held.state in ("queued", "running"):
        await gallery.clusters.fail(held.id, error)


async def run(gallery: GalleryPort, request: ClusterRequest) -> ClusterRun | None:
    """One run, start to end, on a worker (idempotent: a redelivered run starts over and saves
    in one transaction). The run after it; None if it had ended or its group is gone."""
    held = await gallery.clusters.run(request.run_id)
    if held is None or not await gallery.clusters.start(held.id):
        return None
    try:
        group = await gallery.groups.group(held.app, held.group)
        threshold = BY_CODE[group.model].cosine_for_score(held.score)
        if await gallery.indexes.ensure_index(group):  # a big group's index, first
            group = await gallery.groups.group(held.app, held.group)
        face_ids, vectors = await gallery.clusters.snapshot(group.id)
        if group.indexed:
            async def progress(done: int) -> None:
                await gallery.clusters.progress(held.id, done)

            indices, cosines = await index_graph(gallery, group, face_ids, vectors, K_NEIGHBOURS,
                                                 progress)
        else:
            indices, cosines = exact_neighbours(vectors)
        found = await asyncio.to_thread(cluster, indices, cosines, threshold, 0, vectors)
        found = corrected(found, face_ids, vectors,
                          await gallery.clusters.constraints(group.id))
        count = await gallery.clusters.save(held.id, face_ids, found.labels,
                                            face_ids[found.representatives])
        log.info("clustered group %s: %d faces, %d clusters", group.name, len(face_ids), count)
    except FaceError as exc:
        await gallery.clusters.fail(held.id, exc)
    after = await gallery.clusters.run(held.id)
    if after is not None and after.state in ("done", "failed"):
        JOBS_FINISHED.labels("cluster", after.state).inc()
    return after


def corrected(found: Clusters, face_ids: np.ndarray, vectors: np.ndarray,
              constraints: Constraints) -> Clusters:
    """A run's clusters with the corrections kept (clustering.constrain): each person's
    faces together, no face with a person it is marked "not"."""
    if not constraints.persons and not constraints.not_persons:
        return found
    position = {int(face): i for i, face in enumerate(face_ids)}
    persons = np.full(len(face_ids), -1, np.int64)
    for face, user_id in constraints.persons.items():
        if face in position:
            persons[position[face]] = user_id
    marks = {position[face]: users for face, users in constraints.not_persons.items()
             if face in position}
    return relabel(constrain(found.labels, persons, marks), vectors)


async def index_graph(gallery: GalleryPort, group: Group, face_ids: np.ndarray,
                      vectors: np.ndarray, neighbours: int,
                      progress: Callable[[int], Awaitable[None]] | None = None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """Each snapshot face's `neighbours` nearest others through the group's index (the search
    identify uses), as positions in the snapshot (a face enrolled since is left out: cosine
    -1, never an edge); `progress` hears how many faces are done now and then."""
    n = len(face_ids)
    k = min(neighbours, max(n - 1, 0))
    indices = np.tile(np.arange(n)[:, None], (1, k))
    cosines = np.full((n, k), -1.0, np.float32)
    todo = iter(range(n))
    done = 0
    reported = time.monotonic()

    async def searcher() -> None:
        nonlocal done, reported
        for i in todo:
            found = [m for m in await gallery.groups.search(group, vectors[i], k + 1)
                     if m.face_id != face_ids[i]][:k]
            ids = np.array([m.face_id for m in found], np.int64)
            at = np.searchsorted(face_ids, ids).clip(max=n - 1)
            known = face_ids[at] == ids
            indices[i, :len(found)] = np.where(known, at, i)
            cosines[i, :len(found)] = np.where(known, [m.cosine for m in found], -1.0)
            done += 1
            if progress is not None and time.monotonic() - reported > _PROGRESS_S:
                reported = time.monotonic()
                await progress(done)

    await asyncio.gather(*(searcher() for _ in range(_SEARCHES)))
    return indices, cosines


async def join_new_faces(gallery: GalleryPort, group: Group) -> int:
    """Faces enrolled since the group's latest clustering, each into the cluster its nearest
    clustered neighbours point to (or its own); how many. Nothing if it was never clustered."""
    latest = await gallery.clusters.latest(group)
    return 0 if latest is None else await _join(gallery, group, latest)


async def _join(gallery: GalleryPort, group: Group, latest: ClusterRun) -> int:
    threshold = BY_CODE[group.model].cosine_for_score(latest.score)

    def vote(neighbours: list[int], cosines: list[float], placed: dict[int, int],
             own: int | None, forbidden: frozenset[int]) -> int | None:
        return nearest_cluster(neighbours, cosines, placed, threshold, own, forbidden)

    return await gallery.clusters.join_unassigned(latest, group, K_NEIGHBOURS, vote)


async def _joined_latest(ctx: Recognition, app: int, group_name: str) -> ClusterRun:
    """The group's latest clustering with its new faces joined, or CLUSTER_NOT_FOUND."""
    gallery = ctx.gallery
    group = await gallery.groups.group(app, group_name)
    latest = await _latest(gallery, group)
    await _join(gallery, group, latest)
    return latest


async def clusters(ctx: Recognition, app: int, group_name: str, offset: int, limit: int
                   ) -> tuple[ClusterRun, int, int, list[ClusterRow]]:
    """The group's latest clustering, new faces joined: (the run, clusters, faces, a page of
    clusters largest first). CLUSTER_NOT_FOUND if the group was never clustered."""
    latest = await _joined_latest(ctx, app, group_name)
    return (latest, *await ctx.gallery.clusters.page(latest, offset, limit))


async def name_cluster(ctx: Recognition, app: int, group_name: str, cluster_id: int, tag: str
                       ) -> int:
    """Tags every face of a cluster of the latest clustering with `tag`; how many faces."""
    latest = await _joined_latest(ctx, app, group_name)
    return await ctx.gallery.clusters.name(latest, cluster_id, tag)


async def confirm_cluster(ctx: Recognition, app: int, group_name: str, cluster_id: int,
                          person: str | None, name: str | None
                          ) -> tuple[Person, int, list[int]]:
    """A cluster confirmed as a person (`person`, or a new one named `name`): its faces
    that are nobody's and not marked "not" that person join it. (the person, how many joined,
    the faces left as they were: another person's, or marked "not" it.)"""
    gallery = ctx.gallery
    latest = await _joined_latest(ctx, app, group_name)
    faces = await gallery.clusters.cluster_faces(latest, cluster_id)
    made = person is None
    if person is None:
        if not name:
            raise FaceError(ERRORS.PARAM_MISSING, "person_id or name is required")
        person = (await persons.create(ctx, app, group_name, name, None))[0].person_id
    try:
        joined, left = await gallery.users.confirm_faces(app, group_name, faces, person)
    except Exception:
        # the person made for this call goes with it, so a failed confirmation leaves nothing
        # behind and a retry makes one; only while it holds no face (the faces join in one
        # transaction, which may have committed before the error reached here)
        if made:
            await _drop_if_faceless(ctx, app, group_name, person)
        raise
    return await gallery.users.person(app, group_name, person), len(joined), left


async def _drop_if_faceless(ctx: Recognition, app: int, group_name: str, person: str) -> None:
    try:
        if (await ctx.gallery.users.person(app, group_name, person)).faces == 0:
            await persons.delete(ctx, app, group_name, person)
    except Exception as exc:  # the outage that failed the call, most likely: logged, not raised
        log.warning("the person %s made for a failed cluster confirmation stays: %s", person,
                    type(exc).__name__)


async def split_cluster(ctx: Recognition, app: int, group_name: str, cluster_id: int,
                        face_ids: list[int]) -> int:
    """Faces of a cluster leave it for a new cluster, whose id comes back (PARAM_INVALID for
    a face of another cluster)."""
    latest = await _joined_latest(ctx, app, group_name)
    held = await ctx.gallery.clusters.cluster_faces(latest, cluster_id)
    outside = [f for f in face_ids if f not in held]
    if outside:
        raise FaceError(ERRORS.PARAM_INVALID, f"face {outside[0]} is not in cluster {cluster_id}")
    return await ctx.gallery.clusters.edit(latest, None, face_ids)


async def edit_clusters(ctx: Recognition, app: int, group_name: str, cluster_id: int | None,
                        face_ids: list[int] | None = None, from_cluster: int | None = None
                        ) -> int:
    """Corrections of the latest clustering: merge (`from_cluster`'s faces into
    `cluster_id`), move (`face_ids` into `cluster_id`), split (`face_ids` into a new cluster:
    cluster_id None). They last until the group is clustered again; confirm the cluster as a
    person to keep them. The cluster the faces are in now."""
    if from_cluster is not None and from_cluster == cluster_id:
        raise FaceError(ERRORS.PARAM_INVALID, "a cluster cannot be merged into itself")
    latest = await _joined_latest(ctx, app, group_name)
    return await ctx.gallery.clusters.edit(latest, cluster_id, face_ids, from_cluster)


async def clustering_job(ctx: Recognition, app: int, job_id: str) -> ClusterRun | None:
    """The clustering run a job id names, if it is one of this app's."""
    return await ctx.gallery.clusters.run(job_id, app) if ctx.database is not None else None


async def _latest(gallery: GalleryPort, group: Group) -> ClusterRun:
    latest = await gallery.clusters.latest(group)
    if latest is None:
        raise FaceError(ERRORS.CLUSTER_NOT_FOUND, f"group {group.name} has not been clustered")
    return latest
