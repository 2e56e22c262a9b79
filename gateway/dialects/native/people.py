"""/v1 clustering: who is in a group, with nobody labelled (services/recognition/people.py).

POST /v1/groups/{group}/clusters                     {"threshold"} -> 202 {job_id, poll}
GET  /v1/groups/{group}/clusters                     ?offset=0&limit=100: the latest
                                                     clustering, largest cluster first
POST /v1/groups/{group}/clusters/{cluster_id}/name    {"tag"}: every face of it tagged
GET  /v1/jobs/{id}                                   a clustering job's progress (operations.py)
"""

from __future__ import annotations

from starlette.requests import Request

from gateway.dialects.native.codes import describe
from gateway.params import Params, integer, number, text
from services.recognition import catalogue, people
from services.recognition.context import Recognition
from services.recognition.people import ClusterRun
from shared.answers import ClusterJob, ClusterNamed, ClustersPage
from shared.errors import FaceError

OP = "cluster"
PAGE_MAX = 1000


def _group(request: Request) -> str:
    return catalogue.group_name(request.path_params["group"])


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


async def start_clustering(ctx: Recognition, request: Request, params: Params
                           ) -> tuple[ClusterJob, int]:
    """Clusters the group's faces by person, as a job on the workers: 202 and a job id to
    poll. `threshold`: the score two faces' link needs (default 0.85)."""
    score = people.threshold_score(number(params, "threshold"))
    run = await people.submit(ctx, request.state.app_id, _group(request), score)
    return {**job_view(run), "poll": f"/v1/jobs/{run.id}"}, 202


async def list_clusters(ctx: Recognition, request: Request, params: Params
                        ) -> tuple[ClustersPage, int]:
    """The group's latest clustering, largest cluster first: every face of the group is in
    exactly one cluster (faces enrolled since join the nearest one, or one of their own)."""
    offset = integer(params, "offset", 0, low=0)
    limit = integer(params, "limit", 100, high=PAGE_MAX)
    group = _group(request)
    run, total, faces, page = await people.clusters(ctx, request.state.app_id, group, offset,
                                                    limit)
    return {"group": group, "job_id": run.id, "threshold": round(run.score, 6),
            "clustered": run.finished_at.timestamp() if run.finished_at else 0.0,
            "total": total, "faces": faces, "offset": offset,
            "clusters": [{"cluster_id": row.cluster_id, "size": row.size, "faces": row.faces,
                          "representative": row.representative, "name": row.name}
                         for row in page]}, 200


async def name_cluster(ctx: Recognition, request: Request, params: Params
                       ) -> tuple[ClusterNamed, int]:
    """Tags every face of a cluster with `tag`: identify then answers with that name."""
    cluster_id = integer({"cluster_id": request.path_params["cluster_id"]}, "cluster_id", low=0)
    tag = catalogue.tag_text(text(params, "tag"))
    group = _group(request)
    tagged = await people.name_cluster(ctx, request.state.app_id, group, cluster_id, tag)
    return {"group": group, "cluster_id": cluster_id, "tag": tag, "faces": tagged}, 200


ROUTES = [
    ("/groups/{group}/clusters", start_clustering, "POST"),
    ("/groups/{group}/clusters", list_clusters, "GET"),
    ("/groups/{group}/clusters/{cluster_id}/name", name_cluster, "POST"),
]
