"""CloudWalk face server dialect (seed 000, sections 2.1-2.12): /face/tool/*.

Every answer is HTTP 200 with `result` (0 or an error code) and `info`, as the original server
does; clients branch on `result`. Parameters may come form-encoded, multipart or as JSON.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway import usecases
from gateway.inputs import image_input
from gateway.observe import record_error
from gateway.params import Params, flag, read_params, text
from shared.canonical import Face
from shared.errors import ERRORS, FaceError
from shared.features import to_base64

log = logging.getLogger("facegate.gateway")
SUCCESS_INFO = "成功"


def error_body(exc: FaceError) -> dict:
    info = exc.kind.cloudwalk_message
    return {"result": exc.kind.cloudwalk_code, "info": f"{info}: {exc.detail}" if exc.detail
            else info}


def endpoint(handler: Callable[[Request, Params], Awaitable[dict]]):
    async def route(request: Request) -> JSONResponse:
        app = request.app.state
        try:
            # Protocol header (2.1): app_id / app_secret, checked and rate-limited per app.
            request.state.app_id = await app.auth.app_for_headers(request.headers)
            params = await read_params(request, app.settings.max_body_bytes)
            body = {"result": 0, "info": SUCCESS_INFO, **await handler(request, params)}
        except FaceError as exc:
            body = error_body(exc)
            record_error(request, exc.kind.cloudwalk_code)
        except Exception:
            log.exception("cloudwalk %s failed", request.url.path)
            body = error_body(FaceError(ERRORS.SYSTEM))
            record_error(request, ERRORS.SYSTEM.cloudwalk_code)
        return JSONResponse(body)

    return route


def face_box(face: Face) -> dict:
    x, y, w, h = face.box
    return {"x": x, "y": y, "width": w, "height": h}


def score_value(value: float) -> float:
    return round(float(value), 6)


async def image_param(request: Request, params: Params, data_key: str = "img",
                 url_key: str = "url") -> bytes:
    return await image_input(params, data_key, url_key, request.app.state.settings)


@endpoint
async def detect(request: Request, params: Params) -> dict:
    crops = flag(params, "mode")
    result = await usecases.run(request.app.state.dispatcher, usecases.DETECT,
                                [await image_param(request, params)], {"crops": crops})
    if not result.image.faces:
        raise FaceError(ERRORS.NO_FACE)
    faces = []
    for face in result.image.faces:
        encoded = base64.b64encode(face.crop).decode() if crops and face.crop else "null"
        faces.append({**face_box(face), "img": encoded})
    return {"faces": faces}


@endpoint
async def feature(request: Request, params: Params) -> dict:
    result = await usecases.run(request.app.state.dispatcher, usecases.FEATURE,
                                [await image_param(request, params)])
    return {"feature": to_base64(result.model, result.face.embedding)}


async def _pair(request: Request, params: Params) -> list[bytes]:
    return [await image_param(request, params, "imgA", "urlA"),
            await image_param(request, params, "imgB", "urlB")]


@endpoint
async def compare(request: Request, params: Params) -> dict:
    result = await usecases.run(request.app.state.dispatcher, usecases.COMPARE,
                                await _pair(request, params))
    return {"score": score_value(result.score)}


@endpoint
async def compare_ext1(request: Request, params: Params) -> dict:
    result = await usecases.run(request.app.state.dispatcher, usecases.COMPARE_MANY,
                                await _pair(request, params))
    return {"score": score_value(result.score),
            "faces": [{"score": score_value(score), **face_box(face)}
                      for face, score in result.faces]}


@endpoint
async def similarity_by_feature(request: Request, params: Params) -> dict:
    score = usecases.similarity_by_feature(text(params, "featureA"), text(params, "featureB"))
    return {"score": score_value(score)}


async def _analyse(request: Request, params: Params, fields: list[str]) -> usecases.AnalyseResult:
    result = await usecases.run(request.app.state.dispatcher, usecases.ANALYSE,
                                [await image_param(request, params)], {"fields": fields})
    if not result.image.faces:
        raise FaceError(ERRORS.NO_FACE)
    return result


@endpoint
async def attribute(request: Request, params: Params) -> dict:
    """2.3: age (string, years) and gender (string, -1 female / 1 male) per face."""
    result = await _analyse(request, params, ["age", "gender"])
    return {"faces": [{**face_box(face), "age": str(round(face.analysis["age"])),
                       "gender": "1" if face.analysis["gender"]["value"] == "male" else "-1"}
                      for face in result.image.faces]}


@endpoint
async def keypt(request: Request, params: Params) -> dict:
    """2.4: the 68 iBUG points per face, integer pixels."""
    result = await _analyse(request, params, ["landmarks"])
    faces = []
    for face in result.image.faces:
        points = face.analysis["landmarks"]["points68"]
        faces.append({**face_box(face), "keypt": [{"x": round(x), "y": round(y)}
                                                  for x, y in points]})
    return {"faces": faces}


@endpoint
async def remove_water(request: Request, params: Params) -> dict:
    """2.7: the image with the ID-card mesh removed, as base64 JPEG."""
    cleaned = await usecases.run(request.app.state.dispatcher, usecases.REMOVE_MESH,
                                 [await image_param(request, params)])
    return {"img": base64.b64encode(cleaned).decode()}


@endpoint
async def unsupported(request: Request, params: Params) -> dict:
    raise FaceError(ERRORS.NOT_SUPPORTED, request.url.path)


_METHODS = ["GET", "POST"]
routes = [
    Route("/face/tool/detect", detect, methods=_METHODS),
    Route("/face/tool/feature", feature, methods=_METHODS),
    Route("/face/tool/compare", compare, methods=_METHODS),
    Route("/face/tool/compare/ext1", compare_ext1, methods=_METHODS),
    Route("/face/tool/similarityByFeature", similarity_by_feature, methods=_METHODS),
    Route("/face/tool/attribute", attribute, methods=_METHODS),
    Route("/face/tool/keypt", keypt, methods=_METHODS),
    Route("/face/tool/removeWater", remove_water, methods=_METHODS),
    Route("/face/{rest:path}", unsupported, methods=_METHODS),
]
