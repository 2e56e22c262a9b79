"""The worker's declared result (shared/results.py): it survives the queue, a result that breaks
it is refused by name where it arrives, and the documents that describe it (docs/api.md's
analysis table, /openapi.json's /v1/analyse) follow the declaration."""

from __future__ import annotations

import re
from pathlib import Path

import msgpack
import numpy as np
import pytest
from pydantic import BaseModel

from gateway.openapi import document
from services.recognition import vision
from services.vision.analysis.quality import REGION_BASE
from shared.errors import ERRORS, FaceError
from shared.results import (
    ANALYSIS_FIELDS,
    OCCLUSION_REGIONS,
    FaceAnalysis,
    ImageError,
    ImageResult,
    VisionResult,
)

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _analysis() -> dict:
    points = lambda n: [[float(i), float(i) + 0.5] for i in range(n)]  # noqa: E731
    return {
        "landmarks": {"points68": points(68), "points4": points(4), "points72": points(72)},
        "age": 41.5, "gender": {"value": "male", "probability": 0.97},
        "emotion": {"value": "happy", "probabilities": {
            "angry": 0.0, "disgust": 0.0, "fear": 0.01, "happy": 0.9, "sad": 0.01,
            "surprise": 0.03, "neutral": 0.05}},
        "expression": {"value": 1, "probability": 0.9},
        "glasses": {"value": 0, "probability": 0.8},
        "face_shape": {"square": 0.1, "triangle": 0.1, "oval": 0.6, "heart": 0.1, "round": 0.1},
        "beauty": 55.2,
        "quality": {"occlusion": dict.fromkeys(OCCLUSION_REGIONS, 0.01), "blur": 0.2,
                    "sharpness": 240.0, "illumination": 131, "completeness": 1,
                    "type": {"human": 0.96, "cartoon": 0.04}},
        "pose": {"yaw": -3.2, "pitch": 4.1, "roll": 1.0, "rotation_angle": 1},
        "liveness": {"score": 0.93, "threshold": 0.9, "live": True},
    }


def _result() -> VisionResult:
    vector = np.linspace(-1, 1, 512, dtype=np.float32)
    return VisionResult.model_validate({"model": 2, "images": [
        {"width": 640, "height": 480, "rotation": 90, "faces": [
            {"box": [10, 20, 100, 120], "prob": 0.999,
             "points": [[30.0, 50.0], [70.0, 50.0], [50.0, 70.0], [35.0, 90.0], [65.0, 90.0]],
             "embedding": vector, "crop": b"\xff\xd8jpeg", "analysis": _analysis()}]},
        {"error": {"error": "IMAGE_DECODE", "detail": "not an image"}}]})


def test_a_result_crosses_the_queue_whole():
    result = _result()
    arrived = vision.received(msgpack.unpackb(msgpack.packb(result.sent())))
    assert arrived.model_dump() == result.model_dump()
    face = arrived.images[0].faces[0]
    assert face.embedding.dtype == np.float32 and face.embedding.shape == (512,)
    assert face.analysis.quality.occlusion.chin == 0.01 and face.analysis.pose.yaw == -3.2
    assert isinstance(arrived.images[1], ImageError)
    with pytest.raises(FaceError) as caught:
        vision.image_of(arrived.images[1])
    assert caught.value.kind == ERRORS.IMAGE_DECODE and caught.value.detail == "not an image"


def test_what_is_not_asked_is_not_sent():
    image = ImageResult(width=10, height=10)
    sent = VisionResult(model=2, images=[image]).sent()
    assert sent == {"model": 2, "images": [{"width": 10, "height": 10, "rotation": 0,
                                             "faces": []}]}
    # the worker's own eye-probe reading never leaves it
    assert FaceAnalysis(eye_probe=(0.1, 0.2)).model_dump(exclude_none=True) == {}


@pytest.mark.parametrize("break_it, named", [
    (lambda r: r["images"][0]["faces"][0].pop("prob"), "prob"),
    (lambda r: r["images"][0]["faces"][0]["analysis"]["quality"].update(blurr=0.2), "blurr"),
    (lambda r: r["images"][0]["faces"][0]["analysis"]["gender"].update(value="m"), "value"),
    (lambda r: r["images"][0]["faces"][0].update(embedding=b"\x00\x01\x02"), "embedding"),
    (lambda r: r["images"][0].update(rotation=45), "rotation"),
])
def test_a_result_that_breaks_the_contract_is_an_engine_error_naming_the_field(break_it, named):
    raw = msgpack.unpackb(msgpack.packb(_result().sent()))
    break_it(raw)
    with pytest.raises(FaceError) as caught:
        vision.ANALYSE.finish(raw, {"fields": ["age"]})
    assert caught.value.kind == ERRORS.ENGINE and named in caught.value.detail


def test_the_vision_package_measures_the_declared_regions():
    assert tuple(REGION_BASE) == OCCLUSION_REGIONS


def _names(model: type[BaseModel]) -> set[str]:
    """Every field name of a model and of the models inside it."""
    names = set()
    for name, info in model.model_fields.items():
        names.add(name)
        for inner in [info.annotation, *getattr(info.annotation, "__args__", ())]:
            if isinstance(inner, type) and issubclass(inner, BaseModel):
                names |= _names(inner)
    return names


def test_the_api_docs_analysis_table_lists_each_declared_field_and_its_parts():
    text = API_DOC.read_text()
    table = text[text.index("## Face analysis"):]
    rows = re.findall(r"^\| `(\w+)` \| (.+?) \|", table, re.M)
    documented = [name for name, _ in rows if name in ANALYSIS_FIELDS or name == "landmarks"]
    assert documented[:len(ANALYSIS_FIELDS)] == list(ANALYSIS_FIELDS)
    for name, value in rows[:len(ANALYSIS_FIELDS)]:
        kind = FaceAnalysis.model_fields[name].annotation.__args__[0]
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            missing = {part for part in _names(kind) if not re.search(rf"\b{part}\b", value)}
            assert missing == set(), f"docs/api.md's {name} row does not name {missing}"


def test_openapi_documents_each_analysis_field_with_its_type_and_range():
    answer = document()["paths"]["/v1/analyse"]["post"]["responses"]["200"]["content"][
        "application/json"]["schema"]
    [analysed] = [branch for branch in answer.get("anyOf", [answer])
                  if "fields" in branch.get("properties", {})]  # beside a job's 202
    face = analysed["properties"]["faces"]["items"]["properties"]
    assert set(ANALYSIS_FIELDS) <= face.keys()
    assert face["age"]["maximum"] == 80.0 and face["age"]["type"] == "number"
    quality = face["quality"]["properties"]
    assert quality["illumination"] == {"type": "integer", "minimum": 0, "maximum": 255,
                                       "description": "mean luma inside the face"}
    assert set(quality["occlusion"]["properties"]) == set(OCCLUSION_REGIONS)
    assert face["landmarks"]["properties"]["points68"]["minItems"] == 68
    assert "points5" in face["landmarks"]["properties"]
