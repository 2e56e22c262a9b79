"""/v1 clustering: who is in a group, with nobody labelled (services/recognition/people.py).

POST /v1/groups/{group}/clusters                     {"threshold"} -> 202 {job_id, poll}
GET  /v1/groups/{group}/clusters                     ?offset=0&limit=100: the latest
                                                     clustering, largest cluster first
POST /v1/groups/{group}/clusters/{cluster_id}/name    {"tag"}: every face of it tagged
POST /v1/groups/{group}/clusters/{cluster_id}/confirm {"person_id" | "name"}: it is a person
POST /v1/groups/{group}/clusters/{cluster_id}/merge   {"other"}: the other's faces join it
POST /v1/groups/{group}/clusters/{cluster_id}/faces   {"face_ids"}: faces moved into it
POST /v1/groups/{group}/clusters/{cluster_id}/split   {"face_ids"}: they leave for a new one
Persons last (every run and join keeps a person's faces together and "not this person"
marks apart); merge, move and split last until the group is clustered again.
GET  /v1/jobs/{id}                                   a clustering job's progress (operations.py)
"""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request

from gateway.contract import CallbackUrl, Id, Offset, PersonId, PersonLabel, Tag, declare
from gateway.dialects.native.codes import describe
from gateway.dialects.native.paths import GroupPath
from services.recognition import people, webhooks
from services.recognition.context import Recognition
from services.recognition.people import ClusterRun
from shared.answers import (
    ClusterConfirmed,
    ClusterEdited,
    ClusterJob,
    ClusterNamed,
    ClustersPage,
)
from shared.errors import FaceError

OP = "cluster"
PAGE_MAX = 1000


def job_view(run: ClusterRun) -> ClusterJob:
    """A clustering job as GET /v1/jobs/{id} shows it."""
    body: ClusterJob = {
        "job_id": run.id, "op": OP, "status": run.state, "group": run.group,
        "threshold": round(run.score, 6), "created": run.created_at.timestamp(),
        "progress": {"done": run.done, "total": run.total,
                     "percent": round(100 * run.done / run.total, 1) if run.total else 100.0},
        "clusters": f"/v1/groups/{run.group}/clusters"}
    if run.finished_at:
        body["finished"] = run.finished_at.timestamp()
    if run.state == "done":
        body["result"] = {"clusters": run.clusters or 0, "faces": run.total}
    if run.error:
        body["error"] = describe(FaceError.from_dict(run.error))
    return body


class Clustering(GroupPath):
    # the range is the core's rule (people.threshold_score), documented here
    threshold: float | None = Field(None, allow_inf_nan=False, json_schema_extra={
        "exclusiveMinimum": 0, "exclusiveMaximum": 1,
        "description": f"the score two faces' link needs (default {people.DEFAULT_SCORE})"})
    callback_url: CallbackUrl | None = None


@declare(Clustering, statuses=(202,))
async def start_clustering(ctx: Recognition, request: Request, params: Clustering
                           ) -> tuple[ClusterJob, int]:
    """Clusters the group's faces by person, as a job on the workers: 202 and a job id to
    poll. `threshold`: the score two faces' link needs (default 0.85)."""
    score = people.threshold_score(params.threshold)
    await webhooks.check_room(ctx, request.state.app_id, params.callback_url)
    run = await people.submit(ctx, request.state.app_id, params.group, score)
    await webhooks.watch(ctx, request.state.app_id, "cluster", run.id, params.callback_url)
    return {**job_view(run), "poll": f"/v1/jobs/{run.id}"}, 202


class ClustersQuery(GroupPath):
    offset: Offset = 0
    limit: int = Field(100, ge=1, le=PAGE_MAX)


@declare(ClustersQuery)
async def list_clusters(ctx: Recognition, request: Request, params: ClustersQuery
                        ) -> tuple[ClustersPage, int]:
    """The group's latest clustering, largest cluster first: every face of the group is in
    exactly one cluster (faces enrolled since join the nearest one, or one of their own)."""
    group, offset = params.group, params.offset
    run, total, faces, page = await people.clusters(ctx, request.state.app_id, group, offset,
                                                    params.limit)
    return {"group": group, "job_id": run.id, "threshold": round(run.score, 6),
            "clustered": run.finished_at.timestamp() if run.finished_at else 0.0,
            "total": total, "faces": faces, "offset": offset,
            "clusters": [{"cluster_id": row.cluster_id, "size": row.size, "faces": row.faces,
                          "representative": row.representative, "name": row.name,
                          "person_id": row.person_id, "person": row.person}
                         for row in page]}, 200


class ClusterName(GroupPath):
    cluster_id: Offset
    tag: Tag


@declare(ClusterName)
async def name_cluster(ctx: Recognition, request: Request, params: ClusterName
                       ) -> tuple[ClusterNamed, int]:
    """Tags every face of a cluster with `tag`: identify then answers with that name."""
    group, cluster_id, tag = params.group, params.cluster_id, params.tag
    tagged = await people.name_cluster(ctx, request.state.app_id, group, cluster_id, tag)
    return {"group": group, "cluster_id": cluster_id, "tag": tag, "faces": tagged}, 200


class ClusterPath(GroupPath):
    cluster_id: Offset


class Confirm(ClusterPath):
    person_id: PersonId | None = Field(None, description="the group's person the cluster is")
    name: PersonLabel | None = Field(None, description="else a new person of this name")


@declare(Confirm)
async def confirm_cluster(ctx: Recognition, request: Request, params: Confirm
                          ) -> tuple[ClusterConfirmed, int]:
    """Confirms a cluster as a person (`person_id`, or a new one named `name`): its faces
    that are nobody's and not marked "not" that person become the person's, which every
    later clustering and join keeps. `left`: its faces left as they were."""
    person, joined, left = await people.confirm_cluster(
        ctx, request.state.app_id, params.group, params.cluster_id, params.person_id,
        params.name)
    return {"group": params.group, "cluster_id": params.cluster_id,
            "person_id": person.person_id, "name": person.name, "joined": joined,
            "left": left, "faces": person.faces}, 200


class ClusterMerge(ClusterPath):
    other: Offset = Field(description="the cluster whose faces join this one")


@declare(ClusterMerge)
async def merge_clusters(ctx: Recognition, request: Request, params: ClusterMerge
                         ) -> tuple[ClusterEdited, int]:
    """Every face of cluster `other` joins this cluster (until the group is clustered again:
    confirm it as a person to keep it)."""
    into = await people.edit_clusters(ctx, request.state.app_id, params.group,
                                      params.cluster_id, from_cluster=params.other)
    return {"group": params.group, "cluster_id": into}, 200


class ClusterFaces(ClusterPath):
    face_ids: list[Id] = Field(min_length=1, max_length=PAGE_MAX,
                               description="faces of the clustering")


@declare(ClusterFaces)
async def move_to_cluster(ctx: Recognition, request: Request, params: ClusterFaces
                          ) -> tuple[ClusterEdited, int]:
    """The faces (of any cluster) move into this cluster (until the group is clustered
    again)."""
    into = await people.edit_clusters(ctx, request.state.app_id, params.group,
                                      params.cluster_id, face_ids=list(params.face_ids))
    return {"group": params.group, "cluster_id": into}, 200


@declare(ClusterFaces)
async def split_cluster(ctx: Recognition, request: Request, params: ClusterFaces
                        ) -> tuple[ClusterEdited, int]:
    """The faces leave this cluster for a new one, whose id comes back (until the group is
    clustered again)."""
    made = await people.split_cluster(ctx, request.state.app_id, params.group,
                                      params.cluster_id, list(params.face_ids))
    return {"group": params.group, "cluster_id": made}, 200


ROUTES = [
    ("/groups/{group}/clusters", start_clustering, "POST"),
    ("/groups/{group}/clusters", list_clusters, "GET"),
    ("/groups/{group}/clusters/{cluster_id}/name", name_cluster, "POST"),
    ("/groups/{group}/clusters/{cluster_id}/confirm", confirm_cluster, "POST"),
    ("/groups/{group}/clusters/{cluster_id}/merge", merge_clusters, "POST"),
    ("/groups/{group}/clusters/{cluster_id}/faces", move_to_cluster, "POST"),
    ("/groups/{group}/clusters/{cluster_id}/split", split_cluster, "POST"),
]
