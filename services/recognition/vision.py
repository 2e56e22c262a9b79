"""The vision operations: what crosses the queue to a worker, and what comes back.

Each operation has a `plan` (images and options -> the vision request, shared.canonical) and a
`finish` (the worker's result -> a canonical result), and says how many images it takes.
Keeping plan and finish apart is what lets the same operation run synchronously or as a job
polled later: a job stores its op name and options, and `finish` runs when the result is read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from services.recognition.ports import VisionQueue
from services.recognition.scoring import cosine_score
from shared import canonical
from shared.errors import ERRORS, FaceError
from shared.features import Feature
from shared.models import BY_CODE, MODELS, ModelSpec
from shared.quality_gate import GATE_FIELDS
from shared.results import FaceResult, ImageError, ImageResult, VisionResult
from shared.tasks import image_spec


@dataclass
class DetectResult:
    image: ImageResult
    model: ModelSpec | None = None  # set when every face was embedded too (`features`)


@dataclass
class FeatureResult:
    model: ModelSpec
    face: FaceResult
    rotation: int

    @property
    def feature(self) -> Feature:
        return Feature(self.model, self.face.embedding)


@dataclass
class AnalyseResult:
    image: ImageResult
    fields: tuple[str, ...]


@dataclass
class CompareResult:
    score: float
    model: ModelSpec
    a: FaceResult
    b: FaceResult


@dataclass
class CompareManyResult:
    """One face of image A against every face of image B, best first."""

    score: float
    model: ModelSpec
    a: FaceResult
    faces: list[tuple[FaceResult, float]]


def image_of(item: ImageResult | ImageError) -> ImageResult:
    """An image's result, or the FaceError the worker reported for it."""
    if isinstance(item, ImageError):
        raise FaceError.from_dict(item.error.model_dump())
    return item


def _image(result: VisionResult, index: int) -> ImageResult:
    return image_of(result.images[index])


def _largest(result: VisionResult, index: int, which: str = "") -> tuple[FaceResult, int]:
    image = _image(result, index)
    if not image.faces:
        raise FaceError(ERRORS.NO_FACE, f"no face in {which}" if which else "")
    return image.faces[0], image.rotation


def _model(result: VisionResult) -> ModelSpec:
    return BY_CODE[result.model]


def received(result: dict) -> VisionResult:
    """A result as it came over the queue, checked against its declaration (shared/results.py):
    a worker that breaks the contract is an ENGINE error named here, not a KeyError later."""
    try:
        return VisionResult.model_validate(result)
    except ValueError as exc:
        raise FaceError(ERRORS.ENGINE, f"the worker's result breaks the contract: {exc}"[:500]
                        ) from exc


@dataclass(frozen=True)
class Operation:
    name: str  # stored in job records: renaming one orphans the jobs in flight
    images: int  # how many images it takes (the extra ones of `features` are its own)
    plan: Callable[[list[bytes], dict], dict]
    read: Callable[[VisionResult, dict], object]

    def finish(self, result: dict, options: dict) -> object:
        """The canonical result of what a worker returned (now, or for a job, later)."""
        return self.read(received(result), options)


def _plan_detect(images: list[bytes], options: dict) -> dict:
    return {"images": [image_spec(images[0], canonical.ALL,
                                  crops=bool(options.get("crops")),
                                  embed=bool(options.get("features")))]}


def _finish_detect(result: VisionResult, options: dict) -> DetectResult:
    return DetectResult(_image(result, 0),
                        _model(result) if options.get("features") else None)


def model_options(code: int, default: str) -> dict:
    """The options that ask the worker for the embedder of model `code` (a group's, which a
    re-embedding may have changed: services/recognition/reembed.py); none when it is the
    workers' own (`default`, FACEGATE_EMBEDDER)."""
    name = next(name for name, spec in MODELS.items() if spec.code == code)
    return {} if name == default else {"model": name}


def _model_field(options: dict) -> dict:
    return {"model": options["model"]} if options.get("model") else {}


def _plan_feature(images: list[bytes], options: dict) -> dict:
    return {"images": [image_spec(images[0], canonical.LARGEST, rotate=True, embed=True)],
            **_model_field(options)}


def _finish_feature(result: VisionResult, options: dict) -> FeatureResult:
    face, rotation = _largest(result, 0)
    return FeatureResult(_model(result), face, rotation)


def enrol_spec(image: bytes, gate: bool, thumbnail: int, region: bool = True) -> dict:
    """One image's request for the gallery: its largest face embedded, upright, and with the
    quality gate on its quality and pose too (the gate itself runs in enrolment.accept), a
    thumbnail of `thumbnail` pixels (0: none), and, with `region` (FACEGATE_KEEP_REGIONS), the
    face's region, kept so the group can be re-embedded with another model
    (services/recognition/reembed.py)."""
    return image_spec(image, canonical.LARGEST, rotate=True, embed=True,
                      analyse=GATE_FIELDS if gate else (), thumbnail=thumbnail, region=region)


def _plan_enrol(images: list[bytes], options: dict) -> dict:
    return {"images": [enrol_spec(images[0], bool(options["gate"]),
                                  int(options.get("thumbnail", 0)),
                                  bool(options.get("region", True)))], **_model_field(options)}


def _plan_analyse(images: list[bytes], options: dict) -> dict:
    faces = canonical.LARGEST if options.get("max_faces") == 1 else canonical.ALL
    return {"images": [image_spec(images[0], faces, analyse=options["fields"])]}


def _finish_analyse(result: VisionResult, options: dict) -> AnalyseResult:
    image = _image(result, 0)
    limit = options.get("max_faces")
    if limit:
        image.faces = image.faces[:limit]
    return AnalyseResult(image, tuple(options["fields"]))


@dataclass
class ImageFeature:
    """One image's largest face with its embedding, or why there is none."""

    face: FaceResult | None
    rotation: int
    error: FaceError | None


def _plan_features(images: list[bytes], options: dict) -> dict:
    """Many images, each its largest face embedded (Baidu match, identify, verify). options:
    `fields` to analyse too, `clean`: per image, remove an ID-photo mesh first, `model`."""
    clean = options.get("clean") or [False] * len(images)
    return {"images": [{**image_spec(image, canonical.LARGEST, rotate=True, embed=True,
                                     analyse=options.get("fields", ())),
                        "clean": bool(wash)} for image, wash in zip(images, clean, strict=True)],
            **_model_field(options)}


def _finish_features(result: VisionResult, options: dict) -> tuple[ModelSpec, list[ImageFeature]]:
    out = []
    for index in range(len(result.images)):
        try:
            face, rotation = _largest(result, index, f"image {index}")
            out.append(ImageFeature(face, rotation, None))
        except FaceError as exc:
            out.append(ImageFeature(None, 0, exc))
    return _model(result), out


def _plan_remove_mesh(images: list[bytes], options: dict) -> dict:
    return {"images": [{**image_spec(images[0]), "remove_mesh": True}]}


def _finish_remove_mesh(result: VisionResult, options: dict) -> bytes:
    cleaned = _image(result, 0).cleaned
    if cleaned is None:
        raise FaceError(ERRORS.ENGINE, "the worker sent no cleaned image")
    return cleaned


def _plan_compare(images: list[bytes], options: dict) -> dict:
    return {"images": [image_spec(image, canonical.LARGEST, rotate=True, embed=True)
                       for image in images[:2]]}


def _finish_compare(result: VisionResult, options: dict) -> CompareResult:
    a, _ = _largest(result, 0, "image A")
    b, _ = _largest(result, 1, "image B")
    model = _model(result)
    return CompareResult(cosine_score(model, a.embedding, b.embedding), model, a, b)


def _plan_compare_many(images: list[bytes], options: dict) -> dict:
    return {"images": [
        image_spec(images[0], canonical.LARGEST, rotate=True, embed=True),
        image_spec(images[1], canonical.ALL, rotate=False, embed=True)]}


def _finish_compare_many(result: VisionResult, options: dict) -> CompareManyResult:
    a, _ = _largest(result, 0, "image A")
    image_b = _image(result, 1)
    if not image_b.faces:
        raise FaceError(ERRORS.NO_FACE, "no face in image B")
    model = _model(result)
    scored = [(face, cosine_score(model, a.embedding, face.embedding)) for face in image_b.faces]
    best = max(score for _, score in scored)
    return CompareManyResult(best, model, a, scored)


def _plan_embed_all(images: list[bytes], options: dict) -> dict:
    return {"images": [image_spec(images[0], canonical.ALL, rotate=False, embed=True,
                                  analyse=options.get("fields", ()))], **_model_field(options)}


def _finish_embed_all(result: VisionResult, options: dict) -> tuple[ModelSpec, ImageResult]:
    image = _image(result, 0)
    if not image.faces:
        raise FaceError(ERRORS.NO_FACE)
    return _model(result), image


DETECT = Operation("detect", 1, _plan_detect, _finish_detect)
EMBED_EVERY_FACE = Operation("embed_all", 1, _plan_embed_all, _finish_embed_all)
EMBED_LARGEST_FACE = Operation("feature", 1, _plan_feature, _finish_feature)
ENROL = Operation("enrol", 1, _plan_enrol, _finish_feature)
ANALYSE = Operation("analyse", 1, _plan_analyse, _finish_analyse)
REMOVE_MESH = Operation("remove_mesh", 1, _plan_remove_mesh, _finish_remove_mesh)
EMBED_EACH_IMAGE = Operation("features", 1, _plan_features, _finish_features)
COMPARE = Operation("compare", 2, _plan_compare, _finish_compare)
COMPARE_MANY = Operation("compare_many", 2, _plan_compare_many, _finish_compare_many)
# What a client may run as a job (POST /v1/jobs, or "async": true)
JOB_OPERATIONS = {op.name: op for op in (DETECT, EMBED_LARGEST_FACE, COMPARE, COMPARE_MANY,
                                         ANALYSE)}


async def run(queue: VisionQueue, op: Operation, images: list[bytes],
              options: dict | None = None):
    options = options or {}
    return op.finish(await queue.call(op.plan(images, options)), options)


async def submit(queue: VisionQueue, op: Operation, images: list[bytes],
                 options: dict | None = None) -> str:
    options = options or {}
    return await queue.submit_job(op.name, options, op.plan(images, options))
