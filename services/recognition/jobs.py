"""Jobs: an operation queued now and read later (GET /v1/jobs/{id}), and bulk enrolment.

A job record keeps its op name and options; the result is finished (vision.py) when it is
read. Bulk enrolment sends its checked images to the bulk queue as one task, which a worker
enrols a chunk at a time (workers/bulk.py, through enrolment.enrol_embedded). Each item has an
idempotency key, by default the SHA-256 of its image: retrying a request (or a task redelivered
after a worker died) enrols nothing twice, and an item already enrolled reports
`created: false` with its face id.
"""

from __future__ import annotations

from services.recognition import vision
from services.recognition.context import Recognition
from shared.errors import FaceError
from shared.tasks import BULK_ENROL_TASK

BULK_ENROL = "bulk_enrol"  # the op name bulk jobs are stored under


async def submit_bulk_enrol(ctx: Recognition, app: int, group: str, accepted: list[dict],
                            rejected: list[dict], total: int) -> str:
    """accepted: {"index", "data", "tag", "key"} per checked image; rejected: outcomes the
    caller already decided (bad_image, errors as FaceError.to_dict()), reported with the rest."""
    await ctx.gallery.groups.group(app, group)  # 12357 now, not in the job
    request = {"app": app, "group": group, "items": accepted}
    return await ctx.queue.submit_job(BULK_ENROL, {"total": total, "rejected": rejected,
                                                   "app": app},
                                      request, bulk=True, task=BULK_ENROL_TASK)


def bulk_outcomes(result: dict, options: dict) -> dict:
    """Every item's outcome in request order, errors as FaceError, and counts by status."""
    outcomes = []
    for outcome in sorted(options["rejected"] + result["items"], key=lambda o: o["index"]):
        if "error" in outcome:
            outcome = {**outcome, "error": FaceError.from_dict(outcome["error"])}
        outcomes.append(outcome)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1
    return {"total": options["total"], "counts": counts, "items": outcomes}


def job_result(op: str, result: dict, options: dict) -> object:
    """A finished job's canonical result (a dict for bulk enrolment)."""
    if op == BULK_ENROL:
        return bulk_outcomes(result, options)
    return vision.JOB_OPERATIONS[op].finish(result, options)
