"""/v1 operations: every one can run synchronously (POST /v1/<op>) or as a job (`"async":
true`, or POST /v1/jobs with an "op"): the job id comes back at once and GET /v1/jobs/{id}
reports queued, running, done (with the result) or failed (with the error)."""

from __future__ import annotations

from dataclasses import asdict

from starlette.requests import Request

from gateway.dialects.native import people as people_routes
from gateway.dialects.native.codes import describe
from gateway.dialects.native.dialect import render
from gateway.dialects.native.ingest import job_view, owned_job
from gateway.inputs import image_input
from gateway.params import Params, flag, integer, text
from services.recognition import jobs, people, vision
from services.recognition.context import Recognition
from services.recognition.scoring import feature_similarity
from shared.answers import (
    Analysed,
    ClusterJob,
    ComparedMany,
    CompareResult,
    Detected,
    Feature,
    JobQueued,
    JobStatus,
    Models,
    OperationJob,
    Similarity,
)
from shared.errors import ERRORS, FaceError
from shared.features import from_base64
from shared.images import native_limit
from shared.models import MODELS, RECOMMENDED_SCORE, same_person

# the image parameters of an operation that takes one image, or two
IMAGE_KEYS = {1: [("image", "image_url")],
              2: [("image_a", "image_a_url"), ("image_b", "image_b_url")]}


async def images(ctx: Recognition, params: Params, count: int) -> list[bytes]:
    return [await image_input(params, data_key, url_key, ctx.settings,
                              native_limit(ctx.settings))
            for data_key, url_key in IMAGE_KEYS[count]]


def _options(op: str, params: Params) -> dict:
    if op == "detect":
        return {"crops": flag(params, "crops"), "features": flag(params, "features")}
    if op == "analyse":
        return {"fields": vision.analysis_fields(text(params, "fields")),
                "max_faces": integer(params, "max_faces", 0, low=0, high=100)}
    return {}


async def _operate(ctx: Recognition, request: Request, params: Params, op_name: str
                   ) -> tuple[dict, int]:
    op = vision.JOB_OPERATIONS[op_name]
    data = await images(ctx, params, op.images)
    if flag(params, "async"):
        # the job remembers its app: another app's GET /v1/jobs/{id} answers 404
        options = {**_options(op_name, params), "app": request.state.app_id}
        job_id = await vision.submit(ctx.queue, op, data, options)
        return {"job_id": job_id, "status": "queued", "poll": f"/v1/jobs/{job_id}"}, 202
    return render(await vision.run(ctx.queue, op, data, _options(op_name, params))), 200


ANSWERS = {"detect": Detected, "feature": Feature, "compare": CompareResult,
           "compare_many": ComparedMany, "analyse": Analysed}
SUMMARIES = {
    "detect": "Faces in the image: boxes, probabilities, the 5 landmarks; `crops` and "
              "`features` add each face's crop and embedding.",
    "feature": "The embedding of the image's largest face (upright search included).",
    "compare": "1:1: the largest faces of two images, scored and judged at the recommended "
               "threshold.",
    "compare_many": "The largest face of image_a against every face of image_b.",
    "analyse": "The analysis fields asked for, per face: landmarks, age, gender, emotion, "
               "pose, quality, liveness and the rest of docs/api.md's table.",
}


def operation(op_name: str):
    async def handler(ctx: Recognition, request: Request, params: Params) -> tuple[dict, int]:
        return await _operate(ctx, request, params, op_name)

    handler.__doc__ = SUMMARIES[op_name] + " `async`: run it as a job."
    # the answer, or the job it became (documented from these: gateway/openapi/)
    handler.__annotations__["return"] = tuple[ANSWERS[op_name] | JobQueued, int]
    return handler


async def create_job(ctx: Recognition, request: Request, params: Params
                     ) -> tuple[JobQueued, int]:
    """Any operation (`op`: detect, feature, compare, compare_many, analyse) as a job: 202 and
    a job id to poll."""
    op_name = text(params, "op")
    if op_name not in vision.JOB_OPERATIONS:
        raise FaceError(ERRORS.PARAM_INVALID,
                        f"op must be one of {sorted(vision.JOB_OPERATIONS)}")
    params["async"] = "true"
    return await _operate(ctx, request, params, op_name)


async def get_job(ctx: Recognition, request: Request, params: Params
                  ) -> tuple[OperationJob | JobStatus | ClusterJob, int]:
    """A job's status: an operation's result, an ingestion job's progress and counts, or a
    clustering's progress."""
    ingestion = await owned_job(ctx, request)
    if ingestion is not None:
        return await job_view(ctx, request.state.app_id, ingestion), 200
    clustering = await people.clustering_job(ctx, request.state.app_id,
                                             request.path_params["job_id"])
    if clustering is not None:
        return people_routes.job_view(clustering), 200
    state = await ctx.queue.job(request.path_params["job_id"])
    if state.options.get("app") != request.state.app_id:
        raise FaceError(ERRORS.JOB_NOT_FOUND, "no such job")
    body = {"job_id": state.job_id, "op": state.op, "status": state.status,
            "created": state.created}
    if state.progress:
        body["progress"] = state.progress
    if state.error is not None:
        body["error"] = describe(state.error)
    if state.status == "done":
        try:
            body["result"] = render(jobs.job_result(state.op, state.result, state.options))
        except FaceError as exc:
            body["status"] = "failed"
            body["error"] = describe(exc)
    return body, 200


async def models(ctx: Recognition, request: Request, params: Params) -> tuple[Models, int]:
    """The embedders, their calibrated thresholds and operating points, and which is active."""
    active = ctx.settings.embedder
    return {"recommended_score": RECOMMENDED_SCORE, "models": [
        {"name": name, "key": spec.key, "dimension": spec.dim, "active": name == active,
         "cosine_threshold": round(spec.cos_threshold, 4), "description": spec.description,
         "calibration": {
             "data": "LFW View 1, every pair of its 4,992 images (bench/lfw_calibrate.py)",
             "operating_points": [asdict(point) for point in spec.operating_points]}}
        for name, spec in MODELS.items()]}, 200


async def similarity(ctx: Recognition, request: Request, params: Params
                     ) -> tuple[Similarity, int]:
    """Similarity of two features from /v1/feature (same model), judged at the recommended
    threshold."""
    a, b = text(params, "feature_a"), text(params, "feature_b")
    score = feature_similarity(from_base64(a), from_base64(b))
    return {"score": round(score, 6), "same_person": same_person(score)}, 200


ROUTES = [
    ("/detect", operation("detect"), "POST"),
    ("/feature", operation("feature"), "POST"),
    ("/compare", operation("compare"), "POST"),
    ("/compare/many", operation("compare_many"), "POST"),
    ("/analyse", operation("analyse"), "POST"),
    ("/similarity", similarity, "POST"),
    ("/jobs", create_job, "POST"),
    ("/jobs/{job_id}", get_job, "GET"),
    ("/models", models, "GET"),
]
