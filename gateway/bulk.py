"""Bulk enrolment (native API): many images into one group, as a job with progress.

The gateway checks each image (decodes base64 or fetches the URL, probes the header) and
reports the ones it refuses at once as `bad_image`; the rest go to the bulk queue as one task,
which a worker enrols a chunk at a time. Each item has an idempotency key, by default the
SHA-256 of its image: retrying a request (or a task redelivered after a worker died) enrols
nothing twice, and an item already enrolled reports `created: false` with its face id.
"""

from __future__ import annotations

import hashlib
import json

from gateway.dispatch import Dispatcher
from gateway.inputs import image_input
from services.gallery.repository import Gallery
from shared.errors import ERRORS, FaceError
from shared.settings import Settings
from shared.tasks import BULK_ENROL_TASK

MAX_ITEMS = 1000
OP = "bulk_enrol"


async def submit(dispatcher: Dispatcher, gallery: Gallery, settings: Settings, app: int,
                 group: str, raw_items: str) -> tuple[str, int]:
    try:
        items = json.loads(raw_items)
    except ValueError:
        raise FaceError(ERRORS.PARAM_INVALID, "items must be a JSON list") from None
    if not isinstance(items, list) or not items:
        raise FaceError(ERRORS.PARAM_MISSING, "items must be a non-empty list")
    if len(items) > MAX_ITEMS:
        raise FaceError(ERRORS.PARAM_INVALID, f"at most {MAX_ITEMS} items per request")
    await gallery.group(app, group)  # 12357 now, not in the job
    accepted, rejected = [], []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise FaceError(ERRORS.PARAM_INVALID, f"item {index} must be an object")
        try:
            data = await image_input(item, "image", "image_url", settings)
        except FaceError as exc:
            rejected.append({"index": index, "key": item.get("key"), "status": "bad_image",
                             "error": exc.describe()})
            continue
        tag = str(item.get("tag", ""))
        if len(tag.encode()) > 128:
            raise FaceError(ERRORS.PARAM_INVALID, f"item {index}: tag is over 128 bytes")
        key = str(item.get("key") or hashlib.sha256(data).hexdigest())
        accepted.append({"index": index, "data": data, "tag": tag, "key": key})
    request = {"app": app, "group": group, "items": accepted}
    job_id = await dispatcher.submit_job(OP, {"total": len(items), "rejected": rejected,
                                              "app": app},
                                         request, bulk=True, task=BULK_ENROL_TASK)
    return job_id, len(items)


def render(result: dict, options: dict) -> dict:
    outcomes = []
    for outcome in sorted(options["rejected"] + result["items"], key=lambda o: o["index"]):
        if "error" in outcome and "cloudwalk_code" not in outcome["error"]:
            outcome = {**outcome, "error": FaceError.from_dict(outcome["error"]).describe()}
        outcomes.append(outcome)
    counts: dict[str, int] = {}
    for outcome in outcomes:
        counts[outcome["status"]] = counts.get(outcome["status"], 0) + 1
    return {"total": options["total"], "counts": counts, "items": outcomes}
