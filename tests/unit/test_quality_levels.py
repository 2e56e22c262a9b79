"""Enrolment quality levels (strict, lenient, none): what each enforces
(shared/quality_gate.level_limits), which one an enrolment runs at (services/recognition/
enrolment.level: the request's, else the group's default, else the service's setting), and the
rule kept on every way in, through the core on the fakes (tests/fakes): /v1 and CloudWalk
enrolment, bulk ingestion, the identity registry and Baidu's registration with its
quality_control; and a group's default changed after creation (PATCH /v1/groups/{group})."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import AsyncIterator

import pytest
from starlette.exceptions import StarletteDeprecationWarning

from gateway.app import create_app
from gateway.auth import Authenticator
from gateway.dialects.baidu.faceset import QUALITY_LEVELS
from services.gallery.ingest import NewItem
from services.recognition import catalogue, enrolment, ingest
from services.recognition.context import Recognition
from shared import quality_gate
from shared.errors import ERRORS, ErrorKind, FaceError
from shared.models import FACENET
from shared.results import FaceAnalysis
from shared.settings import GATE_LEVELS, Settings, SettingsError, load_settings
from tests.fakes.gallery import FakeGallery
from tests.fakes.vision import FakeVisionQueue, SeenFace
from tests.support.gallery_cases import axis

with warnings.catch_warnings():  # Starlette's test client asks for httpx2; httpx works
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

APP = 1
BOX = (40, 40, 120, 150)


def _analysis(**overrides: float) -> dict:
    """A face's gate readings as a worker reports them: a clean frontal face, then
    `overrides` (an occlusion region, yaw/pitch/roll, blur, illumination)."""
    occlusion = dict.fromkeys(("left_eye", "right_eye", "nose", "mouth", "left_cheek",
                               "right_cheek", "chin"), 0.0)
    quality = {"occlusion": occlusion, "blur": 0.1, "sharpness": 600.0, "illumination": 120,
               "completeness": 1, "type": {"human": 1.0, "cartoon": 0.0}}
    pose = {"yaw": 0.0, "pitch": 0.0, "roll": 0.0, "rotation_angle": 0}
    for key, value in overrides.items():
        (pose if key in pose else occlusion if key in occlusion else quality)[key] = value
    return FaceAnalysis.model_validate({"quality": quality, "pose": pose}).model_dump(
        exclude_none=True)


SUNGLASSES = {"left_eye": 1.0, "right_eye": 1.0}
FACES = {  # what each photo shows, and the levels that enrol it
    "plain": ({}, {"strict", "lenient", "none"}),
    "sunglasses": (SUNGLASSES, {"lenient", "none"}),
    "turned 55": ({"yaw": 55.0}, {"lenient", "none"}),
    "turned 70": ({"yaw": -70.0}, {"none"}),
    "masked": ({"mouth": 1.0, "chin": 1.0}, {"none"}),
    "blurred": ({"blur": 0.9}, {"none"}),
    "dark": ({"illumination": 20}, {"none"}),
}


def _enforce(level: str, box: tuple[int, ...] = BOX, **readings: float) -> None:
    gate = quality_gate.level_limits(Settings(), level)
    if gate is not None:
        quality_gate.enforce(box, FaceAnalysis.model_validate(_analysis(**readings)), 0, gate)


# what each level enforces -------------------------------------------------------------------
def test_strict_is_the_gate_and_none_is_no_gate():
    settings = Settings()
    assert quality_gate.level_limits(settings, "strict") == quality_gate.limits(settings)
    assert quality_gate.level_limits(settings, "none") is None


def test_lenient_drops_the_eyes_and_widens_the_angle_only():
    settings = Settings()
    strict = quality_gate.limits(settings)
    lenient = quality_gate.level_limits(settings, "lenient")
    assert dict(lenient.occlusion) == {"mouth": strict.occlusion["mouth"]}
    assert lenient.max_angle == 60.0 == settings.gate_lenient_max_angle
    same = ("min_face", "min_illumination", "max_illumination", "max_blur", "completeness")
    assert [getattr(lenient, k) for k in same] == [getattr(strict, k) for k in same]
    # never stricter than strict, whatever the settings
    wide = settings.changed(gate_max_angle=75.0)
    assert quality_gate.level_limits(wide, "lenient").max_angle == 75.0


@pytest.mark.parametrize("name", FACES)
def test_each_level_enrols_what_it_should(name: str):
    readings, enrolled_at = FACES[name]
    for level in GATE_LEVELS:
        if level in enrolled_at:
            _enforce(level, **readings)
        else:
            with pytest.raises(FaceError) as caught:
                _enforce(level, **readings)
            assert caught.value.kind in (ERRORS.IMAGE_QUALITY, ERRORS.FACE_BLURRED,
                                         ERRORS.FACE_TOO_DARK), (name, level)


def test_lenient_still_refuses_tiny_faces_and_names_the_angle():
    with pytest.raises(FaceError) as tiny:
        _enforce("lenient", box=(0, 0, 40, 50))
    assert tiny.value.kind is ERRORS.FACE_TOO_SMALL
    with pytest.raises(FaceError) as turned:
        _enforce("lenient", yaw=-70.0)
    assert "yaw -70 degrees, at most 60" in turned.value.detail


def test_the_strictest_of_several_levels():
    assert quality_gate.strictest(["none", "lenient"]) == "lenient"
    assert quality_gate.strictest(["lenient", "strict", "none"]) == "strict"


# which level applies ------------------------------------------------------------------------
def test_the_request_beats_the_group_which_beats_the_service():
    assert enrolment.level("none", "strict", "strict") == "none"
    assert enrolment.level(None, "lenient", "strict") == "lenient"
    assert enrolment.level(None, None, "lenient") == "lenient"
    assert enrolment.level("strict", None, "none") == "strict"


def test_the_service_setting_takes_a_level_or_the_old_switch(monkeypatch):
    assert Settings().quality_gate == "strict"  # today's default
    for given, level in (("true", "strict"), ("false", "none"), ("Lenient", "lenient"),
                         ("none", "none"), ("1", "strict")):
        monkeypatch.setenv("FACEGATE_QUALITY_GATE", given)
        assert load_settings().quality_gate == level
    assert Settings(FACEGATE_QUALITY_GATE=False).quality_gate == "none"
    monkeypatch.setenv("FACEGATE_QUALITY_GATE", "loose")
    with pytest.raises(SettingsError, match="FACEGATE_QUALITY_GATE"):
        load_settings()


def test_baidu_quality_control_translates_to_levels():
    assert QUALITY_LEVELS == {"NONE": "none", "LOW": "lenient", "NORMAL": "strict",
                              "HIGH": "strict"}
    settings = Settings()
    assert enrolment.baidu_default(settings) == "none"  # Baidu's v2 registers what it is given
    assert enrolment.baidu_default(settings.changed(baidu_register_gate=True)) == "strict"


# through the core -----------------------------------------------------------------------------
def _core(level: str = "strict") -> tuple[Recognition, FakeVisionQueue, FakeGallery]:
    queue, gallery = FakeVisionQueue(FACENET), FakeGallery(ingest_chunk=4)
    settings = Settings(FACEGATE_QUALITY_GATE=level, FACEGATE_EMBEDDER="facenet")
    return Recognition(settings, queue, gallery), queue, gallery


def _photo(queue: FakeVisionQueue, name: str, index: int = 0) -> bytes:
    readings, _ = FACES[name]
    return queue.photo(name.encode(), SeenFace(axis(index), box=BOX,
                                               analysis=_analysis(**readings)))


def _source(data: bytes):
    async def read() -> bytes:
        return data

    return read


def _outcome(scenario) -> ErrorKind | None:
    """None if the scenario enrolled, else the kind of its refusal."""
    try:
        asyncio.run(scenario())
    except FaceError as exc:
        return exc.kind
    return None


def test_a_group_default_admits_sunglasses_and_a_request_overrides_it():
    ctx, queue, _ = _core("strict")
    sunglasses = _photo(queue, "sunglasses")

    def enrol(group: str, quality: str | None = None):
        return lambda: enrolment.enrol_face(ctx, APP, group, _source(sunglasses), "", None,
                                            quality)

    asyncio.run(catalogue.create_group(ctx, APP, "strict_by_service", ""))
    asyncio.run(catalogue.create_group(ctx, APP, "lenient_group", "", "lenient"))
    assert _outcome(enrol("strict_by_service")) is ERRORS.IMAGE_QUALITY
    assert _outcome(enrol("strict_by_service", "lenient")) is None
    assert _outcome(enrol("lenient_group")) is None
    assert _outcome(enrol("lenient_group", "strict")) is ERRORS.IMAGE_QUALITY
    assert asyncio.run(catalogue.group(ctx, APP, "lenient_group")).face_count == 1


def test_a_changed_group_default_holds_from_the_next_enrolment():
    ctx, queue, _ = _core("strict")
    sunglasses = _photo(queue, "sunglasses")

    def enrol():
        return lambda: enrolment.enrol_face(ctx, APP, "g", _source(sunglasses), "", None)

    def change(quality, tag: str | None = None):
        return asyncio.run(catalogue.update_group(ctx, APP, "g", quality, tag))

    asyncio.run(catalogue.create_group(ctx, APP, "g", "staff"))
    assert _outcome(enrol()) is ERRORS.IMAGE_QUALITY
    assert change("lenient").quality == "lenient"
    assert _outcome(enrol()) is None
    assert (change(catalogue.KEEP, "visitors").quality, change(catalogue.KEEP).tag) == (
        "lenient", "visitors")  # a tag alone leaves the level
    assert change(None).quality is None  # back to the service's setting
    assert _outcome(enrol()) is ERRORS.IMAGE_QUALITY
    assert asyncio.run(catalogue.group(ctx, APP, "g")).face_count == 1


def test_another_apps_group_is_not_changed():
    ctx, _, _ = _core("strict")
    other = asyncio.run(ctx.gallery.app_admin.create("other", None)).app.id
    asyncio.run(catalogue.create_group(ctx, other, "theirs", "", "strict"))
    assert _outcome(lambda: catalogue.update_group(ctx, APP, "theirs", "none")) \
        is ERRORS.GROUP_NOT_FOUND
    assert asyncio.run(catalogue.group(ctx, other, "theirs")).quality == "strict"
    assert _outcome(lambda: catalogue.update_group(ctx, APP, "g", tag="x" * 129)) \
        is ERRORS.PARAM_INVALID  # the tag rule every dialect shares


def test_patch_v1_groups_through_the_gateway_in_process():
    """The route's parameters as the frame reads them (JSON and form alike): null and ""
    clear the level, a field left out stays; answered as GET /v1/groups lists the group."""
    settings = Settings(FACEGATE_EMBEDDER="facenet").changed(auth=False, redis_url="",
                                                             database_url="")
    app = create_app(settings, queue=FakeVisionQueue(FACENET),
                     auth=Authenticator(None, settings, b"", None))
    with TestClient(app) as http:
        app.state.gateway.recognition.database = FakeGallery()  # no PostgreSQL: the fake
        assert http.post("/v1/groups", json={"name": "g", "tag": "door"}).status_code == 201

        def patch(**body) -> dict:
            answer = http.patch("/v1/groups/g", **body)
            assert answer.status_code == 200, answer.text
            return answer.json()

        assert patch(json={"quality": "lenient"}) == {
            "name": "g", "tag": "door", "faces": 0, "indexed": False, "quality": "lenient"}
        assert http.get("/v1/groups").json()["groups"] == [patch(json={})]  # nothing: as is
        assert (patch(data={"tag": "lobby"})["quality"], patch(json={"tag": None})["tag"]) == (
            "lenient", "lobby")  # a tag alone leaves the level; a null tag is left out
        assert patch(json={"quality": None})["quality"] is None
        assert patch(data={"quality": "none"})["quality"] == "none"
        assert patch(data={"quality": ""})["quality"] is None
        assert patch(data={"tag": ""})["tag"] == ""
        wrong = http.patch("/v1/groups/g", json={"quality": "loose"})
        assert wrong.status_code == 400 and "quality must be one of" in wrong.text
        missing = http.patch("/v1/groups/nope", json={"quality": "none"})
        assert missing.status_code == 404 and missing.json()["error"]["code"] == \
            "GROUP_NOT_FOUND"
        documented = http.get("/openapi.json").json()["paths"]["/v1/groups/{group}"]["patch"]
    body = documented["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert {"type": "null"} in body["quality"]["anyOf"]  # null means something here


def test_a_job_submitted_before_a_change_keeps_its_level():
    ctx, queue, gallery = _core("strict")
    asyncio.run(catalogue.create_group(ctx, APP, "g", "", "lenient"))
    items = [NewItem("s", "", image=_photo(queue, "sunglasses"))]

    async def run() -> dict[str, int]:
        job_id, _ = await ingest.submit(ctx, APP, "g", _batches(items), None)
        await catalogue.update_group(ctx, APP, "g", None)  # strict from now on
        while queue.chunks:
            await ingest.run_chunk(gallery, ctx.settings, FACENET, queue.analyse,
                                   queue.chunks.pop(0), queue.send_chunk)
        return (await catalogue.ingest_job(ctx, APP, job_id)).counts

    assert asyncio.run(run()) == {"enrolled": 1}


def test_at_none_the_worker_is_not_asked_for_the_gate_readings():
    ctx, queue, _ = _core("strict")
    asyncio.run(catalogue.create_group(ctx, APP, "g", "", "none"))
    photo = queue.photo(b"bare", SeenFace(axis(0), box=(0, 0, 20, 20)))  # tiny, no readings
    asyncio.run(enrolment.enrol_face(ctx, APP, "g", _source(photo), ""))
    assert queue.calls[-1]["images"][0]["analyse"] == ()


def test_an_edited_face_is_judged_at_its_group_default():
    ctx, queue, _ = _core("strict")
    asyncio.run(catalogue.create_group(ctx, APP, "g", "", "lenient"))
    face = asyncio.run(enrolment.enrol_face(ctx, APP, "g", _source(_photo(queue, "plain")), ""))
    turned = _photo(queue, "turned 55", 1)
    asyncio.run(enrolment.replace_face(ctx, APP, "g", face.face_id, _source(turned), None))
    assert _outcome(lambda: enrolment.replace_face(
        ctx, APP, "g", face.face_id, _source(_photo(queue, "turned 70", 2)), None)) \
        is ERRORS.IMAGE_QUALITY


def test_the_identity_registry_takes_a_level():
    ctx, queue, _ = _core("strict")
    sunglasses = _photo(queue, "sunglasses")

    def register(quality: str | None):
        return lambda: enrolment.register_identity(ctx, APP, "11010519491231002X", "Ann",
                                                   sunglasses, quality)

    assert _outcome(register(None)) is ERRORS.IMAGE_QUALITY
    assert _outcome(register("lenient")) is None


def test_baidu_registration_low_is_lenient_and_a_group_default_holds():
    ctx, queue, _ = _core("strict")
    turned = _photo(queue, "turned 55")

    def register(groups: list[str], level: str | None, uid: str):
        return lambda: enrolment.register_user_face(ctx, APP, uid, "", groups, turned, level,
                                                    replace=False, must_exist=False)

    assert _outcome(register(["g1"], QUALITY_LEVELS["NORMAL"], "u1")) is ERRORS.IMAGE_QUALITY
    assert _outcome(register(["g1"], QUALITY_LEVELS["LOW"], "u2")) is None
    assert _outcome(register(["g2"], None, "u3")) is None  # Baidu's own default: no gate
    asyncio.run(catalogue.create_group(ctx, APP, "strict_group", "", "strict"))
    asyncio.run(catalogue.create_group(ctx, APP, "open_group", "", "none"))
    # into several groups: the strictest default of those that have one
    assert _outcome(register(["open_group", "strict_group", "new"], None, "u4")) \
        is ERRORS.IMAGE_QUALITY
    assert _outcome(register(["open_group", "strict_group"], "none", "u5")) is None


async def _batches(items: list[NewItem]) -> AsyncIterator[list[NewItem]]:
    yield items


def _load(ctx: Recognition, queue: FakeVisionQueue, gallery: FakeGallery, group: str,
          quality: str | None) -> dict[str, int]:
    """Every photo of FACES as one bulk load at `quality`, run to the end; its counts."""
    items = [NewItem(name, name, image=_photo(queue, name, k)) for k, name in enumerate(FACES)]

    async def run() -> dict[str, int]:
        job_id, _ = await ingest.submit(ctx, APP, group, _batches(items), quality)
        assert (await catalogue.ingest_job(ctx, APP, job_id)).quality == (
            quality or "strict")  # the level decided at submission, stored with the job
        while queue.chunks:
            await ingest.run_chunk(gallery, ctx.settings, FACENET, queue.analyse,
                                   queue.chunks.pop(0), queue.send_chunk)
        return (await catalogue.ingest_job(ctx, APP, job_id)).counts

    return asyncio.run(run())


@pytest.mark.parametrize("level", GATE_LEVELS)
def test_a_bulk_load_judges_every_item_at_its_level(level: str):
    ctx, queue, gallery = _core("strict")
    asyncio.run(catalogue.create_group(ctx, APP, "g", ""))
    enrolled = sum(level in levels for _, levels in FACES.values())
    counts = _load(ctx, queue, gallery, "g", level)
    assert counts == {"enrolled": enrolled, "low_quality": len(FACES) - enrolled} \
        if enrolled < len(FACES) else {"enrolled": enrolled}


def test_a_job_stored_before_levels_runs_at_the_service_setting():
    ctx, queue, gallery = _core("lenient")
    asyncio.run(catalogue.create_group(ctx, APP, "g", ""))
    items = [NewItem("s", "", image=_photo(queue, "sunglasses"))]

    async def run() -> dict[str, int]:
        job_id, _ = await gallery.ingest.create(APP, "g", _batches(items))  # no level stored
        await gallery.ingest.feed(APP, queue.send_chunk)
        while queue.chunks:
            await ingest.run_chunk(gallery, ctx.settings, FACENET, queue.analyse,
                                   queue.chunks.pop(0), queue.send_chunk)
        return (await catalogue.ingest_job(ctx, APP, job_id)).counts

    assert asyncio.run(run()) == {"enrolled": 1}
