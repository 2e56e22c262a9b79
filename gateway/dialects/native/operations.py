"""/v1 operations: every one can run synchronously (POST /v1/<op>) or as a job (`"async":
true`, or POST /v1/jobs with an "op"): the job id comes back at once and GET /v1/jobs/{id}
reports queued, running, done (with the result) or failed (with the error)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from pydantic import Field
from starlette.requests import Request

from gateway.contract import (
    CallbackUrl,
    Fields,
    ImageData,
    ImageUrl,
    NoFields,
    comma_list,
    declare,
)
from gateway.dialects.native import people as people_routes
from gateway.dialects.native.codes import describe
from gateway.dialects.native.dialect import render
from gateway.dialects.native.ingest import job_view, owned_job
from gateway.dialects.native.paths import JobPath
from gateway.inputs import image_input
from services.recognition import jobs, people, vision, webhooks
from services.recognition.context import Recognition
from services.recognition.scoring import feature_similarity
from shared import canonical
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


class OneImage(Fields):
    """An image as `image` (base64, or the file in a multipart upload) or `image_url`."""

    image: ImageData | None = None
    image_url: ImageUrl | None = None


class Operation(OneImage):
    run_async: bool = Field(False, alias="async", description="run it as a job: 202 and a "
                            "job id to poll at /v1/jobs/{job_id}")
    callback_url: CallbackUrl | None = None


class TwoImages(Operation):
    image_a: ImageData | None = None
    image_a_url: ImageUrl | None = None
    image_b: ImageData | None = None
    image_b_url: ImageUrl | None = None


class DetectParams(Operation):
    crops: bool = Field(False, description="each face's crop, base64 JPEG")
    features: bool = Field(False, description="each face's embedding, base64")


Analysis = comma_list(canonical.ANALYSIS_FIELDS, "comma-separated (or a JSON list) among "
                      + ", ".join(canonical.ANALYSIS_FIELDS))


class AnalyseParams(Operation):
    fields: Analysis
    max_faces: int = Field(0, ge=0, le=100, description="0: every face")


class JobParams(DetectParams, TwoImages):
    """POST /v1/jobs: an operation's own parameters, with `op` naming it."""

    op: Literal["detect", "feature", "compare", "compare_many", "analyse"]
    fields: Analysis | None = Field(None, description="analyse's fields (required for it)")
    max_faces: int = Field(0, ge=0, le=100)


async def images(ctx: Recognition, params: Any, count: int) -> list[bytes]:
    """The operation's one image (image / image_url) or two (image_a..., image_b...)."""
    limit = native_limit(ctx.settings)
    if count == 1:
        return [await image_input(params.image, params.image_url, ctx.settings, limit)]
    return [await image_input(params.image_a, params.image_a_url, ctx.settings, limit,
                              "image_a or image_a_url"),
            await image_input(params.image_b, params.image_b_url, ctx.settings, limit,
                              "image_b or image_b_url")]


def _options(op: str, params: Any) -> dict:
    if op == "detect":
        return {"crops": params.crops, "features": params.features}
    if op == "analyse":
        if not params.fields:
            raise FaceError(ERRORS.PARAM_MISSING, "fields is required")
        return {"fields": params.fields, "max_faces": params.max_faces}
    return {}


async def _operate(ctx: Recognition, request: Request, params: Any, op_name: str,
                   run_async: bool) -> tuple[dict, int]:
    op = vision.JOB_OPERATIONS[op_name]
    options = _options(op_name, params)
    if params.callback_url is not None and not run_async:
        raise FaceError(ERRORS.PARAM_INVALID, "callback_url needs async: true")
    await webhooks.check_room(ctx, request.state.app_id, params.callback_url)
    data = await images(ctx, params, op.images)
    if run_async:
        # the job remembers its app: another app's GET /v1/jobs/{id} answers 404
        job_id = await vision.submit(ctx.queue, op, data,
                                     {**options, "app": request.state.app_id})
        await webhooks.watch(ctx, request.state.app_id, "operation", job_id,
                             params.callback_url)
        return {"job_id": job_id, "status": "queued", "poll": f"/v1/jobs/{job_id}"}, 202
    return render(await vision.run(ctx.queue, op, data, options)), 200


ANSWERS = {"detect": Detected, "feature": Feature, "compare": CompareResult,
           "compare_many": ComparedMany, "analyse": Analysed}
PARAMS = {"detect": DetectParams, "feature": Operation, "compare": TwoImages,
          "compare_many": TwoImages, "analyse": AnalyseParams}
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
    async def handler(ctx: Recognition, request: Request, params: Operation) -> tuple[dict, int]:
        return await _operate(ctx, request, params, op_name, params.run_async)

    handler.__doc__ = SUMMARIES[op_name] + " `async`: run it as a job."
    # the answer, or the job it became
    return declare(PARAMS[op_name], answer=ANSWERS[op_name] | JobQueued,
                   statuses=(200, 202))(handler)


@declare(JobParams, statuses=(202,))
async def create_job(ctx: Recognition, request: Request, params: JobParams
                     ) -> tuple[JobQueued, int]:
    """Any operation (`op`: detect, feature, compare, compare_many, analyse) as a job: 202 and
    a job id to poll."""
    return await _operate(ctx, request, params, params.op, run_async=True)


@declare(JobPath)
async def get_job(ctx: Recognition, request: Request, params: JobPath
                  ) -> tuple[OperationJob | JobStatus | ClusterJob, int]:
    """A job's status: an operation's result, an ingestion job's progress and counts, or a
    clustering's progress."""
    body = await _job_body(ctx, request.state.app_id, params.job_id)
    delivery = await webhooks.status(ctx, params.job_id)
    if delivery is not None:
        body["webhook"] = delivery
    return body, 200


async def _job_body(ctx: Recognition, app: int, job_id: str) -> dict:
    ingestion = await owned_job(ctx, app, job_id)
    if ingestion is not None:
        return await job_view(ctx, app, ingestion)
    clustering = await people.clustering_job(ctx, app, job_id)
    if clustering is not None:
        return people_routes.job_view(clustering)
    state = await ctx.queue.job(job_id)
    if state.options.get("app") != app:
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
    return body


@declare(NoFields)
async def models(ctx: Recognition, request: Request, params: NoFields) -> tuple[Models, int]:
    """The embedders, their calibrated thresholds and operating points, and which is active."""
    active = ctx.settings.embedder
    return {"recommended_score": RECOMMENDED_SCORE, "models": [
        {"name": name, "key": spec.key, "dimension": spec.dim, "active": name == active,
         "cosine_threshold": round(spec.cos_threshold, 4), "description": spec.description,
         "calibration": {
             "data": "LFW View 1, every pair of its 4,992 images (bench/lfw_calibrate.py)",
             "operating_points": [asdict(point) for point in spec.operating_points]}}
        for name, spec in MODELS.items()]}, 200


class FeaturePair(Fields):
    feature_a: str = Field(description="a feature from /v1/feature (base64)")
    feature_b: str


@declare(FeaturePair)
async def similarity(ctx: Recognition, request: Request, params: FeaturePair
                     ) -> tuple[Similarity, int]:
    """Similarity of two features from /v1/feature (same model), judged at the recommended
    threshold."""
    score = feature_similarity(from_base64(params.feature_a), from_base64(params.feature_b))
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
