"""/v1 operations: every one can run synchronously (POST /v1/<op>) or as a job (`"async":
true`, or POST /v1/jobs with an "op"): the job id comes back at once and GET /v1/jobs/{id}
reports queued, running, done (with the result) or failed (with the error)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from pydantic import Field
from starlette.requests import Request

from gateway.contract import (
    CallbackUrl,
    Declared,
    Fields,
    ImageData,
    ImageUrl,
    NoFields,
    comma_list,
    declare,
)
from gateway.dialects.native import people as people_routes
from gateway.dialects.native import reembed as reembed_routes
from gateway.dialects.native.codes import describe
from gateway.dialects.native.dialect import render
from gateway.dialects.native.ingest import job_view
from gateway.dialects.native.paths import JobPath
from gateway.inputs import image_input
from services.gallery.clusters import ClusterRun
from services.gallery.ingest import IngestJob
from services.gallery.reembed import ReembedJob
from services.recognition import jobs, vision, webhooks
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
    ReembedStatus,
    Similarity,
)
from shared.errors import ERRORS, FaceError
from shared.features import from_base64
from shared.images import native_limit
from shared.models import MODELS, RECOMMENDED_SCORE, same_person
from shared.results import ANALYSIS_FIELDS


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


Analysis = comma_list(ANALYSIS_FIELDS, "comma-separated (or a JSON list) among "
                      + ", ".join(ANALYSIS_FIELDS))


class AnalyseParams(Operation):
    fields: Analysis
    max_faces: int = Field(0, ge=0, le=100, description="0: every face")


def _no_options(params: Any) -> dict:
    return {}


def _detect_options(params: Any) -> dict:
    return {"crops": params.crops, "features": params.features}


def _analyse_options(params: Any) -> dict:
    # checked here, not by the model: POST /v1/jobs's model serves operations without fields
    if not params.fields:
        raise FaceError(ERRORS.PARAM_MISSING, "fields is required")
    return {"fields": params.fields, "max_faces": params.max_faces}


@dataclass(frozen=True)
class NativeOperation:
    """One /v1 operation: run now at POST /v1<path>, or as a job (`"async": true` there, or
    POST /v1/jobs with `op` its name). Everything about it is here, once: the vision operation
    it runs (vision.JOB_OPERATIONS), the parameters it reads, the answer it gives, what the
    OpenAPI document says of it, and how its parameters become the vision options."""

    vision_op: vision.Operation  # its name is the operation's name: the job's `op`
    path: str  # under /v1
    params: type[Operation]
    answer: type
    summary: str
    options: Callable[[Any], dict] = _no_options

    @property
    def name(self) -> str:
        return self.vision_op.name


def _native(name: str, params: type[Operation], answer: type, summary: str,
            options: Callable[[Any], dict] = _no_options, path: str = "") -> NativeOperation:
    """The entry of the job operation `name`; its path is /<name> unless given."""
    return NativeOperation(vision.JOB_OPERATIONS[name], path or f"/{name}", params, answer,
                           summary, options)


# Every /v1 operation, in the order of the routes and of `op`'s choices
OPERATIONS: dict[str, NativeOperation] = {op.name: op for op in (
    _native("detect", DetectParams, Detected,
            "Faces in the image: boxes, probabilities, the 5 landmarks; `crops` and "
            "`features` add each face's crop and embedding.", _detect_options),
    _native("feature", Operation, Feature,
            "The embedding of the image's largest face (upright search included)."),
    _native("compare", TwoImages, CompareResult,
            "1:1: the largest faces of two images, scored and judged at the recommended "
            "threshold."),
    _native("compare_many", TwoImages, ComparedMany,
            "The largest face of image_a against every face of image_b.",
            path="/compare/many"),
    _native("analyse", AnalyseParams, Analysed,
            "The analysis fields asked for, per face: landmarks, age, gender, emotion, pose, "
            "quality, liveness and the rest of docs/api.md's table.", _analyse_options),
)}
OpName = Literal[tuple(OPERATIONS)]  # type: ignore[valid-type]


class JobParams(DetectParams, TwoImages):
    """POST /v1/jobs: an operation's own parameters, with `op` naming it."""

    op: OpName
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


async def _operate(ctx: Recognition, request: Request, params: Any, op: NativeOperation,
                   run_async: bool) -> tuple[dict, int]:
    options = op.options(params)
    if params.callback_url is not None and not run_async:
        raise FaceError(ERRORS.PARAM_INVALID, "callback_url needs async: true")
    app = request.state.app_id
    await webhooks.check_room(ctx, app, params.callback_url)
    data = await images(ctx, params, op.vision_op.images)
    if run_async:
        job_id = await jobs.submit_owned(ctx, app, op.vision_op, data, options)
        await webhooks.watch(ctx, app, "operation", job_id, params.callback_url)
        return {"job_id": job_id, "status": "queued", "poll": f"/v1/jobs/{job_id}"}, 202
    return render(await vision.run(ctx.queue, op.vision_op, data, options)), 200


def operation(op: NativeOperation) -> Declared:
    """The route of POST /v1<op.path>."""

    async def handler(ctx: Recognition, request: Request, params: Operation) -> tuple[dict, int]:
        return await _operate(ctx, request, params, op, params.run_async)

    handler.__doc__ = op.summary + " `async`: run it as a job."
    # the answer, or the job it became
    return declare(op.params, answer=op.answer | JobQueued, statuses=(200, 202))(handler)


@declare(JobParams, statuses=(202,))
async def create_job(ctx: Recognition, request: Request, params: JobParams
                     ) -> tuple[JobQueued, int]:
    return await _operate(ctx, request, params, OPERATIONS[params.op], run_async=True)


# its summary in the document, naming the operations the table has
create_job.handler.__doc__ = (f"Any operation (`op`: {', '.join(OPERATIONS)}) as a job: 202 "
                              "and a job id to poll.")


@declare(JobPath)
async def get_job(ctx: Recognition, request: Request, params: JobPath
                  ) -> tuple[OperationJob | JobStatus | ClusterJob | ReembedStatus, int]:
    """A job's status: an operation's result, an ingestion job's progress and counts, or a
    clustering's progress."""
    body = await _job_body(ctx, request.state.app_id, params.job_id)
    delivery = await webhooks.status(ctx, params.job_id)
    if delivery is not None:
        body["webhook"] = delivery
    return body, 200


async def _job_body(ctx: Recognition, app: int, job_id: str) -> dict:
    """The app's job, whichever kind, as /v1 shows it; whose it is, the core decides
    (jobs.owned: another app's is JOB_NOT_FOUND)."""
    job = await jobs.owned(ctx, app, job_id)
    if isinstance(job, IngestJob):
        return await job_view(ctx, app, job)
    if isinstance(job, ClusterRun):
        return people_routes.job_view(job)
    if isinstance(job, ReembedJob):
        return reembed_routes.job_view(job)
    body = {"job_id": job.job_id, "op": job.op, "status": job.status, "created": job.created}
    if job.progress:
        body["progress"] = job.progress
    if job.error is not None:
        body["error"] = describe(job.error)
    if job.status == "done":
        try:
            body["result"] = render(jobs.job_result(job.op, job.result, job.options))
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
    *((op.path, operation(op), "POST") for op in OPERATIONS.values()),
    ("/similarity", similarity, "POST"),
    ("/jobs", create_job, "POST"),
    ("/jobs/{job_id}", get_job, "GET"),
    ("/models", models, "GET"),
]
