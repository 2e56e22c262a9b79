"""CloudWalk's frame (CloudWalk face server API v1.24, "protocol" and "error codes"): app_id /
app_secret headers, and every answer HTTP 200 with `result` (0 or an error code) and `info`, as
the original server does; clients branch on `result`. Parameters may come form-encoded,
multipart or as JSON."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse

from gateway.contract import Fields, ImageData, ImageUrl
from gateway.dialects.cloudwalk.codes import cloudwalk_code, cloudwalk_info
from gateway.frame import Gateway, client_address
from gateway.inputs import image_input
from shared.errors import ErrorKind, FaceError
from shared.results import FaceResult
from shared.settings import Settings

SUCCESS_INFO = "成功"


class CloudWalk:
    name = "cloudwalk"

    async def authenticate(self, gateway: Gateway, request: Request) -> int:
        return await gateway.auth.app_for_headers(request.headers, client_address(request))

    def success(self, request: Request, answer: dict) -> JSONResponse:
        return JSONResponse({"result": 0, "info": SUCCESS_INFO, **answer})

    def failure(self, request: Request, exc: FaceError) -> JSONResponse:
        info = cloudwalk_info(exc.kind)
        return JSONResponse({"result": cloudwalk_code(exc.kind),
                             "info": f"{info}: {exc.detail}" if exc.detail else info})

    def code(self, kind: ErrorKind) -> int:
        return cloudwalk_code(kind)


def face_box(face: FaceResult) -> dict:
    x, y, w, h = face.box
    return {"x": x, "y": y, "width": w, "height": h}


def score_value(value: float) -> float:
    return round(float(value), 6)


class OneImage(Fields):
    """The image as `img` (base64 or a file) or `url`."""

    img: ImageData | None = None
    url: ImageUrl | None = None


class TwoImages(Fields):
    """Two images, each as base64 or a file, or a URL (CloudWalk's names)."""

    imgA: ImageData | None = None
    urlA: ImageUrl | None = None
    imgB: ImageData | None = None
    urlB: ImageUrl | None = None


async def image_param(settings: Settings, params: OneImage) -> bytes:
    return await image_input(params.img, params.url, settings, names="img or url")


async def image_pair(settings: Settings, params: TwoImages) -> list[bytes]:
    return [await image_input(params.imgA, params.urlA, settings, names="imgA or urlA"),
            await image_input(params.imgB, params.urlB, settings, names="imgB or urlB")]
