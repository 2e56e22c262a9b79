"""1:1 against a registered identity (services/recognition/person_check.py) on the fakes: the
name is checked before any model runs, the caller's quality limits and liveness threshold judge
the face, and the score is the core's similarity to the identity photo."""

from __future__ import annotations

import asyncio

import pytest

from services.recognition import person_check
from services.recognition.context import Recognition
from shared.errors import ERRORS, FaceError
from shared.models import FACENET
from shared.settings import Settings
from tests.fakes.gallery import FakeGallery
from tests.fakes.vision import FakeVisionQueue, SeenFace
from tests.support.gallery_cases import axis, blend

APP = 1
ID = "110101199003074514"


def _analysis(blur: float = 0.1, live: float = 0.95) -> dict:
    return {"quality": {"occlusion": dict.fromkeys(
                ("left_eye", "right_eye", "nose", "mouth", "left_cheek", "right_cheek",
                 "chin"), 0.0),
                "blur": blur, "sharpness": 500.0, "illumination": 120, "completeness": 1,
                "type": {"human": 1.0, "cartoon": 0.0}},
            "liveness": {"score": live, "threshold": 0.9, "live": live >= 0.9}}


def _verify(check: person_check.PersonCheck, name: str = "Li Lei", **analysis):
    queue, gallery = FakeVisionQueue(FACENET), FakeGallery()
    ctx = Recognition(Settings(), queue, gallery)
    photo = queue.photo(b"probe", SeenFace(blend(0.9),
                                          analysis=_analysis(**analysis)))

    async def scenario():
        await gallery.identities.put(APP, ID, "Li Lei", axis(0), FACENET.code)
        return await person_check.verify_person(ctx, APP, ID, name, photo, check)

    return asyncio.run(scenario()), queue


def test_the_score_and_the_measures_asked_for():
    verified, queue = _verify(person_check.PersonCheck(measure_quality=True,
                                                       measure_liveness=True))
    assert 0.5 < verified.score < 1.0
    assert verified.analysis.liveness.score == 0.95 and verified.analysis.quality.blur == 0.1
    [request] = queue.calls
    assert list(request["images"][0]["analyse"]) == ["quality", "liveness"]


def test_a_wrong_name_is_refused_before_any_model_runs():
    with pytest.raises(FaceError) as caught:
        _verify(person_check.PersonCheck(), name="Han Meimei")
    assert caught.value.kind is ERRORS.PARAM_INVALID and "name" in caught.value.detail


def test_the_callers_quality_limits_and_liveness_threshold_judge_the_face():
    with pytest.raises(FaceError) as caught:
        _verify(person_check.PersonCheck(judge_quality=True, quality_conf={"blur": 0.05}))
    assert caught.value.kind is ERRORS.FACE_BLURRED
    with pytest.raises(FaceError) as caught:
        _verify(person_check.PersonCheck(judge_liveness=True, liveness_conf=0.99))
    assert caught.value.kind is ERRORS.LIVENESS_FAILED
    verified, _ = _verify(person_check.PersonCheck(
        judge_quality=True, quality_conf={"blur": 0.5, "illumination": 10},
        judge_liveness=True, liveness_conf=0.9))
    assert verified.score > 0.5


def test_the_registry_answers_before_the_callers_thresholds_are_read():
    with pytest.raises(FaceError) as caught:  # a wrong name and a bad threshold: the name
        _verify(person_check.PersonCheck(judge_quality=True, quality_conf={"blur": 9}),
                name="Han Meimei")
    assert "name does not match" in caught.value.detail
    with pytest.raises(FaceError) as caught:  # a bad threshold: refused before the model
        _verify(person_check.PersonCheck(judge_liveness=True, liveness_conf="high"))
    assert caught.value.kind is ERRORS.PARAM_INVALID


@pytest.mark.parametrize("overrides, named", [
    ({"blur": 1.5}, "blur must be a number from 0 to 1"),
    ({"illumination": 300}, "illumination must be a number from 0 to 255"),
    ({"nose": True}, "nose must be a number"),
    ({"ears": 0.5}, "unknown field ears"),
])
def test_quality_limits_refuse_what_is_not_a_threshold(overrides, named):
    with pytest.raises(FaceError) as caught:
        person_check.quality_limits(Settings(), overrides)
    assert caught.value.kind is ERRORS.PARAM_INVALID and named in caught.value.detail


def test_the_liveness_threshold_defaults_to_the_services():
    settings = Settings()
    assert person_check.liveness_threshold(settings, None) == settings.liveness_threshold
    assert person_check.liveness_threshold(settings, 0.5) == 0.5
    with pytest.raises(FaceError):
        person_check.liveness_threshold(settings, "high")
