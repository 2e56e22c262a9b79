"""/v1 re-embedding: a group moved to another model from the face regions stored at enrolment
(services/recognition/reembed.py), without re-enrolling.

POST /v1/groups/{group}/reembed   {"model", "drop_faces", "callback_url"} -> 202 {job_id, poll}
GET  /v1/jobs/{id}                its progress and skipped faces (operations.py)
POST /v1/jobs/{id}/cancel         cancelled: no swap, the group as it was (ingest.py)
"""

from __future__ import annotations

from pydantic import Field
from starlette.requests import Request

from gateway.contract import CallbackUrl, declare
from gateway.dialects.native.codes import describe
from gateway.dialects.native.paths import GroupPath
from services.recognition import reembed, webhooks
from services.recognition.context import Recognition
from services.recognition.reembed import ReembedJob, model_name
from shared.answers import ReembedStatus
from shared.errors import FaceError
from shared.models import EmbedderName

OP = "reembed"


def job_view(job: ReembedJob) -> ReembedStatus:
    """A re-embedding job as GET /v1/jobs/{id} shows it."""
    body: ReembedStatus = {
        "job_id": job.id, "op": OP, "status": job.state, "group": job.group,
        "model": model_name(job.model), "from_model": model_name(job.from_model),
        "drop_faces": job.drop_faces, "created": job.created_at.timestamp(),
        "progress": {"done": job.done, "total": job.total,
                     "percent": round(100 * job.done / job.total, 1) if job.total else 100.0},
        "skipped": {"no_region": job.no_region, "no_face": job.no_face,
                    "dropped": job.dropped}}
    if job.finished_at:
        body["finished"] = job.finished_at.timestamp()
    if job.state == "done":
        body["result"] = {"model": model_name(job.model), "faces": job.total - job.dropped}
    if job.error:
        body["error"] = describe(FaceError.from_dict(job.error))
    return body


class Reembedding(GroupPath):
    model: EmbedderName = Field(description="the embedder to move the group to (GET /v1/models)")
    drop_faces: bool = Field(False, description=(
        "drop the faces that cannot be re-embedded (enrolled before regions were kept, or no "
        "face found in the region); without it such faces refuse the swap and the job fails "
        "with the group unchanged"))
    callback_url: CallbackUrl | None = None


@declare(Reembedding, statuses=(202,))
async def start_reembedding(ctx: Recognition, request: Request, params: Reembedding
                            ) -> tuple[ReembedStatus, int]:
    """Re-embeds the group's faces with another model from the regions stored at enrolment, as
    a job on the workers: 202 and a job id to poll. The group serves its old model until every
    face is done, then every vector and the group's model change in one transaction."""
    app = request.state.app_id
    await webhooks.check_room(ctx, app, params.callback_url)
    job = await reembed.submit(ctx, app, params.group, params.model, params.drop_faces)
    await webhooks.watch(ctx, app, OP, job.id, params.callback_url)
    return {**job_view(job), "poll": f"/v1/jobs/{job.id}"}, 202


ROUTES = [
    ("/groups/{group}/reembed", start_reembedding, "POST"),
]
