"""The native API, /v1: JSON in and out, HTTP status codes, and asynchronous jobs.

Every operation can run synchronously (POST /v1/<op>) or as a job (`"async": true`, or POST
/v1/jobs with an "op"): the job id comes back at once and GET /v1/jobs/{id} reports queued,
running, done (with the result) or failed (with the error).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import bulk, usecases
from gateway.gallery_access import gallery_of
from gateway.inputs import image_input
from gateway.observe import record_error
from gateway.params import Params, flag, integer, read_params, text
from shared.canonical import Face
from shared.errors import ERRORS, FaceError
from shared.features import to_base64
from shared.idcard import validate_id_number, validate_name
from shared.models import MODELS, RECOMMENDED_SCORE

log = logging.getLogger("facegate.gateway")


def error_response(exc: FaceError) -> JSONResponse:
    return JSONResponse({"error": exc.describe()}, status_code=exc.kind.http_status)


def endpoint(handler: Callable[[Request, Params], Awaitable[tuple[dict, int]]]):
    async def route(request: Request) -> JSONResponse:
        try:
            request.state.app_id = await request.app.state.auth.app_for_headers(request.headers)
            params = await read_params(request, request.app.state.settings.max_body_bytes)
            body, status = await handler(request, params)
            return JSONResponse(body, status_code=status)
        except FaceError as exc:
            record_error(request, exc.kind.name)
            return error_response(exc)
        except Exception:
            log.exception("native %s failed", request.url.path)
            record_error(request, ERRORS.SYSTEM.name)
            return error_response(FaceError(ERRORS.SYSTEM))

    return route


def face_json(face: Face, score: float | None = None) -> dict:
    x, y, w, h = face.box
    out = {"box": {"x": x, "y": y, "width": w, "height": h},
           "probability": round(face.prob, 6),
           "landmarks": [{"x": round(px, 2), "y": round(py, 2)} for px, py in face.points]}
    if face.crop is not None:
        out["crop"] = base64.b64encode(face.crop).decode()
    if score is not None:
        out["score"] = round(score, 6)
    return out


def render(result: object) -> dict:
    if isinstance(result, usecases.AnalyseResult):
        image = result.image
        faces = []
        for face in image.faces:
            out = {**face_json(face), **face.analysis}
            if "landmarks" in face.analysis:  # the detector's 5 points stay, beside the 68
                out["landmarks"] = {"points5": face_json(face)["landmarks"],
                                    **face.analysis["landmarks"]}
            faces.append(out)
        return {"width": image.width, "height": image.height, "fields": list(result.fields),
                "faces": faces}
    if isinstance(result, usecases.DetectResult):
        image = result.image
        faces = [face_json(face) for face in image.faces]
        if result.model is not None:  # `features`: every face's embedding, as /v1/feature's
            for out, face in zip(faces, image.faces, strict=True):
                out["feature"] = to_base64(result.model, face.embedding)
            return {"width": image.width, "height": image.height, "model": result.model.key,
                    "faces": faces}
        return {"width": image.width, "height": image.height, "faces": faces}
    if isinstance(result, usecases.FeatureResult):
        return {"model": result.model.key, "rotation": result.rotation,
                "feature": to_base64(result.model, result.face.embedding),
                "face": face_json(result.face)}
    if isinstance(result, usecases.CompareResult):
        return {"score": round(result.score, 6), "model": result.model.key,
                "same_person": result.score >= RECOMMENDED_SCORE,
                "threshold": RECOMMENDED_SCORE,
                "face_a": face_json(result.a), "face_b": face_json(result.b)}
    if isinstance(result, usecases.CompareManyResult):
        return {"score": round(result.score, 6), "model": result.model.key,
                "threshold": RECOMMENDED_SCORE, "face_a": face_json(result.a),
                "faces": [face_json(face, score) for face, score in result.faces]}
    raise TypeError(type(result))


_IMAGE_KEYS = {1: [("image", "image_url")],
               2: [("image_a", "image_a_url"), ("image_b", "image_b_url")]}


async def _images(request: Request, params: Params, op: str) -> list[bytes]:
    settings = request.app.state.settings
    return [await image_input(params, data_key, url_key, settings)
            for data_key, url_key in _IMAGE_KEYS[usecases.IMAGE_COUNT[op]]]


def _options(op: str, params: Params) -> dict:
    if op == "detect":
        return {"crops": flag(params, "crops"), "features": flag(params, "features")}
    if op == "analyse":
        return {"fields": usecases.analysis_fields(text(params, "fields")),
                "max_faces": integer(params, "max_faces", 0, low=0, high=100)}
    return {}


async def _operate(request: Request, params: Params, op_name: str) -> tuple[dict, int]:
    op = usecases.OPERATIONS[op_name]
    images = await _images(request, params, op_name)
    dispatcher = request.app.state.dispatcher
    if flag(params, "async"):
        # the job remembers its app: another app's GET /v1/jobs/{id} answers 404
        options = {**_options(op_name, params), "app": request.state.app_id}
        job_id = await usecases.submit(dispatcher, op, images, options)
        return {"job_id": job_id, "status": "queued", "poll": f"/v1/jobs/{job_id}"}, 202
    return render(await usecases.run(dispatcher, op, images, _options(op_name, params))), 200


def _op_route(op_name: str):
    @endpoint
    async def handler(request: Request, params: Params) -> tuple[dict, int]:
        return await _operate(request, params, op_name)

    return handler


@endpoint
async def create_job(request: Request, params: Params) -> tuple[dict, int]:
    op_name = text(params, "op")
    if op_name not in usecases.OPERATIONS:
        raise FaceError(ERRORS.PARAM_INVALID, f"op must be one of {sorted(usecases.OPERATIONS)}")
    params["async"] = "true"
    return await _operate(request, params, op_name)


def _render_job(op_name: str, result: dict, options: dict) -> dict:
    if op_name == bulk.OP:
        return bulk.render(result, options)
    return render(usecases.OPERATIONS[op_name].finish(result, options))


@endpoint
async def get_job(request: Request, params: Params) -> tuple[dict, int]:
    state = await request.app.state.dispatcher.job(request.path_params["job_id"])
    if state.options.get("app") != request.state.app_id:
        raise FaceError(ERRORS.JOB_NOT_FOUND, "no such job")
    body = {"job_id": state.job_id, "op": state.op, "status": state.status,
            "created": state.created}
    if state.progress:
        body["progress"] = state.progress
    if state.status == "done":
        try:
            body["result"] = _render_job(state.op, state.result, state.options)
        except FaceError as exc:
            body["status"] = "failed"
            body["error"] = exc.describe()
    return body, 200


@endpoint
async def bulk_enrol(request: Request, params: Params) -> tuple[dict, int]:
    state = request.app.state
    job_id, total = await bulk.submit(state.dispatcher, gallery_of(request), state.settings,
                                      request.state.app_id, request.path_params["group"],
                                      text(params, "items"))
    return {"job_id": job_id, "status": "queued", "total": total,
            "poll": f"/v1/jobs/{job_id}"}, 202


@endpoint
async def put_identity(request: Request, params: Params) -> tuple[dict, int]:
    """The identity registry behind Baidu's person/verify: an operator registers the photo of
    each ID number (GB 11643 checked) and name; person/verify compares against it."""
    number = validate_id_number(text(params, "id_card_number"))
    name = validate_name(text(params, "name"))
    images = await _images(request, params, "feature")
    feature = await usecases.run(request.app.state.dispatcher, usecases.ENROL, images)
    created = await gallery_of(request).put_identity(request.state.app_id, number, name,
                                                   feature.face.embedding, feature.model.code)
    return {"id_card_number": number, "name": name, "created": created,
            "model": feature.model.key}, 201 if created else 200


@endpoint
async def delete_identity(request: Request, params: Params) -> tuple[dict, int]:
    number = validate_id_number(request.path_params["number"])
    await gallery_of(request).delete_identity(request.state.app_id, number)
    return {"id_card_number": number, "deleted": True}, 200


@endpoint
async def models(request: Request, params: Params) -> tuple[dict, int]:
    active = request.app.state.settings.embedder
    return {"recommended_score": RECOMMENDED_SCORE, "models": [
        {"name": name, "key": spec.key, "dimension": spec.dim, "active": name == active,
         "cosine_threshold": round(spec.cos_threshold, 4), "description": spec.description,
         "calibration": {
             "data": "LFW View 1, every pair of its 4,992 images (bench/lfw_calibrate.py)",
             "operating_points": [asdict(point) for point in spec.operating_points]}}
        for name, spec in MODELS.items()]}, 200


@endpoint
async def similarity(request: Request, params: Params) -> tuple[dict, int]:
    score = usecases.similarity_by_feature(text(params, "feature_a"), text(params, "feature_b"))
    return {"score": round(score, 6), "same_person": score >= RECOMMENDED_SCORE}, 200


routes = [
    Route("/v1/detect", _op_route("detect"), methods=["POST"]),
    Route("/v1/feature", _op_route("feature"), methods=["POST"]),
    Route("/v1/compare", _op_route("compare"), methods=["POST"]),
    Route("/v1/compare/many", _op_route("compare_many"), methods=["POST"]),
    Route("/v1/analyse", _op_route("analyse"), methods=["POST"]),
    Route("/v1/similarity", similarity, methods=["POST"]),
    Route("/v1/jobs", create_job, methods=["POST"]),
    Route("/v1/jobs/{job_id}", get_job, methods=["GET"]),
    Route("/v1/models", models, methods=["GET"]),
    Route("/v1/groups/{group}/faces/bulk", bulk_enrol, methods=["POST"]),
    Route("/v1/identities", put_identity, methods=["POST"]),
    Route("/v1/identities/{number}", delete_identity, methods=["DELETE"]),
]
