"""The native frame (/v1): app_id / app_secret headers or a Bearer token, JSON in and out, HTTP
status codes. An error is an RFC 9457 problem (application/problem+json: type, title, status,
detail) whose `error` member is {"code", "cloudwalk_code", "baidu_code", "message"}, with the
error kind's HTTP status. Also the JSON form of a face and of each canonical result."""

from __future__ import annotations

import base64
from http import HTTPStatus

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.dialects.native.codes import describe, http_status
from gateway.frame import Gateway, client_address
from gateway.outages import RETRY_AFTER_S
from services.recognition import vision
from shared.errors import ERRORS, ErrorKind, FaceError
from shared.features import to_base64
from shared.models import RECOMMENDED_SCORE, same_person
from shared.results import FaceResult


class Native:
    name = "native"

    async def authenticate(self, gateway: Gateway, request: Request) -> int:
        return await gateway.auth.app_for_headers(request.headers, client_address(request))

    def success(self, request: Request, answer: tuple[dict, int] | Response) -> Response:
        if isinstance(answer, Response):  # a thumbnail: not JSON
            return answer
        body, status = answer
        return JSONResponse(body, status_code=status)

    def failure(self, request: Request, exc: FaceError) -> JSONResponse:
        response = problem(exc, http_status(exc.kind))
        if exc.kind is ERRORS.SYSTEM_BUSY:  # an outage or a full queue: worth retrying
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
        elif exc.kind is ERRORS.RATE_LIMIT:  # limits count per second
            response.headers["Retry-After"] = "1"
        return response

    def code(self, kind: ErrorKind) -> str:
        return kind.name


def problem(exc: FaceError, status: int) -> JSONResponse:
    error = describe(exc)
    return JSONResponse({"type": "about:blank", "title": HTTPStatus(status).phrase,
                         "status": status, "detail": error["message"], "error": error},
                        status_code=status, media_type="application/problem+json")


async def not_found(request: Request, exc: HTTPException) -> JSONResponse:
    """An unknown /v1 path (404) or a wrong method (405), in the native error form."""
    return problem(FaceError(ERRORS.NOT_SUPPORTED, f"{exc.detail}: {request.method} "
                                                   f"{request.url.path}"), exc.status_code)


def face_json(face: FaceResult, score: float | None = None) -> dict:
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
    """A canonical result (services.recognition.vision) as /v1 shows it."""
    if isinstance(result, vision.AnalyseResult):
        image = result.image
        faces = []
        for face in image.faces:
            out = face_json(face)
            points5 = out["landmarks"]
            out.update(face.analysis.shown())
            if face.analysis.landmarks is not None:  # the detector's 5 stay, beside the 68
                out["landmarks"] = {"points5": points5, **face.analysis.landmarks.model_dump()}
            faces.append(out)
        return {"width": image.width, "height": image.height, "fields": list(result.fields),
                "faces": faces}
    if isinstance(result, vision.DetectResult):
        image = result.image
        faces = [face_json(face) for face in image.faces]
        if result.model is not None:  # `features`: every face's embedding, as /v1/feature's
            for out, face in zip(faces, image.faces, strict=True):
                out["feature"] = to_base64(result.model, face.embedding)
            return {"width": image.width, "height": image.height, "model": result.model.key,
                    "faces": faces}
        return {"width": image.width, "height": image.height, "faces": faces}
    if isinstance(result, vision.FeatureResult):
        return {"model": result.model.key, "rotation": result.rotation,
                "feature": to_base64(result.model, result.face.embedding),
                "face": face_json(result.face)}
    if isinstance(result, vision.CompareResult):
        return {"score": round(result.score, 6), "model": result.model.key,
                "same_person": same_person(result.score),
                "threshold": RECOMMENDED_SCORE,
                "face_a": face_json(result.a), "face_b": face_json(result.b)}
    if isinstance(result, vision.CompareManyResult):
        return {"score": round(result.score, 6), "model": result.model.key,
                "threshold": RECOMMENDED_SCORE, "face_a": face_json(result.a),
                "faces": [face_json(face, score) for face, score in result.faces]}
    raise TypeError(type(result))
