"""/v1 gallery calls: bulk enrolment into a group, and the identity registry behind Baidu's
person/verify."""

from __future__ import annotations

import hashlib
import json

from starlette.requests import Request

from gateway.dialects.native.operations import images
from gateway.inputs import image_input
from gateway.params import Params, text
from services.recognition import enrolment, jobs
from services.recognition.context import Recognition
from shared.errors import ERRORS, FaceError
from shared.resident_id import validate_id_number, validate_name

MAX_BULK_ITEMS = 1000
_MAX_TAG_BYTES = 128


async def bulk_enrol(ctx: Recognition, request: Request, params: Params) -> tuple[dict, int]:
    """Many images into one group, as a job with progress. Each image is checked here (base64
    decoded or URL fetched, header probed); the ones refused are reported at once as
    `bad_image`, the rest go to a worker (services.recognition.jobs)."""
    group, app = request.path_params["group"], request.state.app_id
    try:
        items = json.loads(text(params, "items"))
    except ValueError:
        raise FaceError(ERRORS.PARAM_INVALID, "items must be a JSON list") from None
    if not isinstance(items, list) or not items:
        raise FaceError(ERRORS.PARAM_MISSING, "items must be a non-empty list")
    if len(items) > MAX_BULK_ITEMS:
        raise FaceError(ERRORS.PARAM_INVALID, f"at most {MAX_BULK_ITEMS} items per request")
    await ctx.gallery.groups.group(app, group)  # 12357 before reading any image
    accepted, rejected = [], []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise FaceError(ERRORS.PARAM_INVALID, f"item {index} must be an object")
        try:
            data = await image_input(item, "image", "image_url", ctx.settings)
        except FaceError as exc:
            rejected.append({"index": index, "key": item.get("key"), "status": "bad_image",
                             "error": exc.to_dict()})
            continue
        tag = str(item.get("tag", ""))
        if len(tag.encode()) > _MAX_TAG_BYTES:
            raise FaceError(ERRORS.PARAM_INVALID, f"item {index}: tag is over 128 bytes")
        key = str(item.get("key") or hashlib.sha256(data).hexdigest())
        accepted.append({"index": index, "data": data, "tag": tag, "key": key})
    job_id = await jobs.submit_bulk_enrol(ctx, app, group, accepted, rejected, len(items))
    return {"job_id": job_id, "status": "queued", "total": len(items),
            "poll": f"/v1/jobs/{job_id}"}, 202


async def put_identity(ctx: Recognition, request: Request, params: Params) -> tuple[dict, int]:
    """An operator registers the photo of each ID number (GB 11643 checked) and name;
    person/verify compares against it."""
    number = validate_id_number(text(params, "id_card_number"))
    name = validate_name(text(params, "name"))
    [image] = await images(ctx, params, 1)
    created, model = await enrolment.register_identity(ctx, request.state.app_id, number, name,
                                                       image)
    return {"id_card_number": number, "name": name, "created": created,
            "model": model.key}, 201 if created else 200


async def delete_identity(ctx: Recognition, request: Request, params: Params
                          ) -> tuple[dict, int]:
    number = validate_id_number(request.path_params["number"])
    await ctx.gallery.identities.delete(request.state.app_id, number)
    return {"id_card_number": number, "deleted": True}, 200


ROUTES = [
    ("/groups/{group}/faces/bulk", bulk_enrol, "POST"),
    ("/identities", put_identity, "POST"),
    ("/identities/{number}", delete_identity, "DELETE"),
]
