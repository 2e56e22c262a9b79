"""The recognition core's rules on fakes (tests/fakes): the in-memory gallery, which the shared
gallery cases hold to PostgreSQL's behaviour, and a vision queue that answers from a table.
What is checked is the core's own order of work and its outcomes: cheap checks before an image
is read, one face per idempotency key, calibrated scores, tenancy, ingestion and clustering
from submission to the finished job."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import numpy as np
import pytest

from services.gallery.ingest import NewItem
from services.gallery.records import FaceRow, Group
from services.recognition import catalogue, enrolment, ingest, people, search
from services.recognition.context import Recognition
from shared.errors import ERRORS, ErrorKind, FaceError
from shared.models import ARCFACE, FACENET, RECOMMENDED_SCORE
from shared.settings import Settings
from tests.fakes.gallery import FakeGallery
from tests.fakes.vision import FakeVisionQueue, SeenFace
from tests.support.gallery_cases import axis, blend

APP = 1  # the default app, which every gallery has


def core(gate: bool = False, **gallery_options) -> tuple[Recognition, FakeVisionQueue,
                                                           FakeGallery]:
    queue, gallery = FakeVisionQueue(FACENET), FakeGallery(**gallery_options)
    settings = Settings(FACEGATE_QUALITY_GATE=gate, FACEGATE_EMBEDDER="facenet")
    return Recognition(settings, queue, gallery), queue, gallery


class Photo:
    """An ImageSource that counts how often the core read it."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.reads = 0

    async def __call__(self) -> bytes:
        self.reads += 1
        return self.data


def refused(kind: ErrorKind, scenario) -> None:
    with pytest.raises(FaceError) as caught:
        asyncio.run(scenario())
    assert caught.value.kind is kind


async def enrol(ctx: Recognition, queue: FakeVisionQueue, name: str, vector: np.ndarray,
                tag: str = "", group: str = "staff", **seen) -> int:
    photo = Photo(queue.photo(name.encode(), SeenFace(vector, **seen)))
    return (await enrolment.enrol_face(ctx, APP, group, photo, tag)).face_id


def test_enrolment_checks_the_group_before_it_reads_the_image():
    ctx, queue, _ = core()
    photo = Photo(queue.photo(b"ann", SeenFace(axis(0))))
    refused(ERRORS.GROUP_NOT_FOUND,
            lambda: enrolment.enrol_face(ctx, APP, "staff", photo, "ann"))
    assert photo.reads == 0 and queue.calls == []


def test_one_face_per_idempotency_key():
    ctx, queue, _ = core()

    async def scenario() -> None:
        group = await catalogue.create_group(ctx, APP, "staff", "")
        assert group.model == ctx.embedder.code  # a new group holds the workers' model
        photo = Photo(queue.photo(b"ann", SeenFace(axis(0), thumbnail=b"jpeg")))
        first = await enrolment.enrol_face(ctx, APP, "staff", photo, "ann", key="k1")
        again = await enrolment.enrol_face(ctx, APP, "staff", photo, "ann", key="k1")
        assert first.created and not again.created and again.face_id == first.face_id
        assert (await catalogue.group(ctx, APP, "staff")).face_count == 1
        stored = await catalogue.face(ctx, APP, "staff", first.face_id)
        assert stored.quality == pytest.approx(0.99)  # gate off: the detector's probability
        assert await catalogue.thumbnail(ctx, APP, "staff", first.face_id) == b"jpeg"

    asyncio.run(scenario())


def test_the_gate_refuses_before_the_write():
    ctx, queue, _ = core(gate=True)
    asyncio.run(catalogue.create_group(ctx, APP, "staff", ""))
    refused(ERRORS.FACE_TOO_SMALL, lambda: enrol(ctx, queue, "tiny", axis(0), box=(0, 0, 20, 20)))
    assert asyncio.run(catalogue.group(ctx, APP, "staff")).face_count == 0


def test_a_group_of_another_model_takes_no_face_and_answers_no_search():
    ctx, queue, gallery = core()
    asyncio.run(gallery.groups.create_group(APP, "old", "", ARCFACE.code))
    asyncio.run(gallery.groups.add_face(APP, "old", FaceRow(
        axis(0), ARCFACE.code, [0, 0, 99, 99], None, None), ""))
    refused(ERRORS.MODEL_MISMATCH, lambda: enrol(ctx, queue, "ann", axis(0), group="old"))
    probe = Photo(queue.photo(b"probe", SeenFace(axis(0))))
    refused(ERRORS.MODEL_MISMATCH, lambda: search.identify(ctx, APP, "old", probe, 5))


def test_identification_ranks_by_calibrated_score():
    ctx, queue, _ = core()
    probe = Photo(queue.photo(b"probe", SeenFace(axis(0))))

    async def scenario() -> None:
        await catalogue.create_group(ctx, APP, "staff", "")
        ids = [await enrol(ctx, queue, f"p{i}", blend(c, 0, i + 1), f"t{i}")
               for i, c in enumerate((0.2, 0.95, 0.7))]
        matches = await search.identify(ctx, APP, "staff", probe, 2)
        assert [(m.face_id, m.tag) for m in matches] == [(ids[1], "t1"), (ids[2], "t2")]
        assert [m.score for m in matches] == pytest.approx(
            [FACENET.score(0.95), FACENET.score(0.7)], abs=1e-5)
        assert matches[0].score >= RECOMMENDED_SCORE > FACENET.score(0.2)
        score = await search.compare_with_face(ctx, APP, "staff", ids[0], probe)
        assert score == pytest.approx(FACENET.score(0.2), abs=1e-5)

    asyncio.run(scenario())
    empty = Photo(probe.data)
    asyncio.run(catalogue.create_group(ctx, APP, "empty", ""))
    refused(ERRORS.GROUP_EMPTY, lambda: search.identify(ctx, APP, "empty", empty, 5))
    missing = Photo(probe.data)
    refused(ERRORS.GROUP_NOT_FOUND, lambda: search.identify(ctx, APP, "none", missing, 5))
    assert missing.reads == 0


def test_an_app_reaches_only_its_own_gallery():
    ctx, queue, _ = core()

    async def scenario() -> int:
        await catalogue.create_group(ctx, APP, "staff", "")
        await enrol(ctx, queue, "ann", axis(0))
        other = (await catalogue.create_app(ctx, "other", None)).app.id
        assert await catalogue.groups_page(ctx, other, 1, 10) == (0, [])
        return other

    other = asyncio.run(scenario())
    refused(ERRORS.GROUP_NOT_FOUND, lambda: catalogue.group(ctx, other, "staff"))
    probe = Photo(queue.photo(b"probe", SeenFace(axis(0))))
    refused(ERRORS.GROUP_NOT_FOUND, lambda: search.identify(ctx, other, "staff", probe, 5))
    assert probe.reads == 0


def test_editing_a_tag_reads_no_image():
    ctx, queue, _ = core()

    async def scenario() -> None:
        await catalogue.create_group(ctx, APP, "staff", "")
        face_id = await enrol(ctx, queue, "ann", axis(0), "ann")
        photo = Photo(queue.photo(b"ann2", SeenFace(axis(1))))
        await enrolment.replace_face(ctx, APP, "staff", face_id, None, "Ann")
        assert queue.calls[1:] == [] and photo.reads == 0
        await enrolment.replace_face(ctx, APP, "staff", face_id, photo, None)
        _, vector = await ctx.gallery.groups.face_vector(APP, "staff", face_id)
        assert np.allclose(vector, axis(1))
        assert (await catalogue.face(ctx, APP, "staff", face_id)).tag == "Ann"

    asyncio.run(scenario())
    photo = Photo(b"ann2")
    refused(ERRORS.FACE_NOT_FOUND,
            lambda: enrolment.replace_face(ctx, APP, "staff", 999, photo, None))
    assert photo.reads == 0


def test_baidu_users_are_registered_once_per_image_and_identified():
    ctx, queue, _ = core()
    image = queue.photo(b"ann", SeenFace(axis(0)))

    async def register() -> None:
        await enrolment.register_user_face(ctx, APP, "u1", "Ann", ["g1"], image, None,
                                           replace=False, must_exist=False)

    asyncio.run(register())
    refused(ERRORS.IMAGE_EXISTS, register)
    found = asyncio.run(search.identify_users(ctx, APP, ["g1"], FACENET, blend(0.9), 5))
    assert [(u.group, u.uid, u.user_info) for u in found] == [("g1", "u1", "Ann")]
    assert found[0].scores == pytest.approx([FACENET.score(0.9)], abs=1e-5)


async def _batches(items: list[NewItem]) -> AsyncIterator[list[NewItem]]:
    yield items


def test_ingestion_runs_to_done_and_a_second_load_enrols_nothing_twice():
    ctx, queue, gallery = core(ingest_chunk=2, ingest_in_flight=2)
    queue.photo(b"p0", SeenFace(axis(0)))
    queue.photo(b"p1")  # no face
    queue.photo(b"p2", SeenFace(axis(1)))
    items = [NewItem("k0", "t0", image=b"p0"), NewItem("k1", "", image=b"p1"),
             NewItem("k2", "t2", image=b"p2"), NewItem("k3", "", image=b"not a photo")]
    analysed: list[bytes] = []

    async def analyse(specs: list[dict]) -> list:
        analysed.extend(spec["data"] for spec in specs)
        return await queue.analyse(specs)

    async def load() -> str:
        job_id, total = await ingest.submit(ctx, APP, "staff", _batches(items))
        assert total == 4
        while queue.chunks:  # as workers take the chunks off the broker
            await ingest.run_chunk(gallery, ctx.settings, FACENET, analyse, queue.chunks.pop(0),
                                   queue.send_chunk)
        return job_id

    async def scenario() -> None:
        await catalogue.create_group(ctx, APP, "staff", "")
        first = await catalogue.ingest_job(ctx, APP, await load())
        assert (first.state, first.done, first.created) == ("done", 4, 2)
        assert first.counts == {"enrolled": 2, "no_face": 1, "bad_image": 1}
        analysed.clear()
        second = await catalogue.ingest_job(ctx, APP, await load())
        assert (second.state, second.created, second.counts) == ("done", 0, first.counts)
        assert sorted(analysed) == [b"not a photo", b"p1"]  # known keys skip the model
        assert (await catalogue.group(ctx, APP, "staff")).face_count == 2
        items_ = await catalogue.job_items(ctx, APP, second.id, 0, 10)
        assert [i["created"] for i in items_] == [False, None, False, None]

    asyncio.run(scenario())


def test_a_clustered_group_names_its_people():
    ctx, queue, gallery = core()

    async def scenario() -> None:
        await catalogue.create_group(ctx, APP, "staff", "")
        ids = {name: await enrol(ctx, queue, name, vector)
               for name, vector in (("a1", axis(0)), ("a2", blend(0.95, 0, 1)),
                                    ("b1", axis(2)), ("b2", blend(0.95, 2, 3)))}
        run = await people.submit(ctx, APP, "staff", people.DEFAULT_SCORE)
        assert queue.cluster_runs[0].run_id == run.id
        done = await people.run(gallery, queue.cluster_runs.pop())
        assert (done.state, done.clusters) == ("done", 2)
        _, count, faces, page = await people.clusters(ctx, APP, "staff", 0, 10)
        assert (count, faces, [c.size for c in page]) == (2, 4, [2, 2])
        ann = next(c for c in page if ids["a1"] in c.faces)
        assert ann.faces == [ids["a1"], ids["a2"]]
        assert await people.name_cluster(ctx, APP, "staff", ann.cluster_id, "Ann") == 2
        # a face enrolled since joins its person when the clusters are read, and takes the name
        new = await enrol(ctx, queue, "a3", blend(0.9, 0, 4))
        _, count, faces, _ = await people.clusters(ctx, APP, "staff", 0, 10)
        assert (count, faces) == (2, 5)
        assert (await catalogue.face(ctx, APP, "staff", new)).tag == "Ann"
        probe = Photo(queue.photo(b"probe", SeenFace(blend(0.9, 0, 5))))
        assert (await search.identify(ctx, APP, "staff", probe, 1))[0].tag == "Ann"

    asyncio.run(scenario())


def test_without_a_database_only_image_operations_remain():
    ctx = Recognition(Settings(), FakeVisionQueue())
    with pytest.raises(FaceError) as caught:
        _ = ctx.gallery
    assert caught.value.kind is ERRORS.SERVICE_ACCESS
    assert asyncio.run(catalogue.ingest_job(ctx, APP, "any")) is None


def test_groups_used_in_one_call_hold_one_model():
    """Baidu names several groups in one call; one probe vector must suit them all."""
    def group(name: str, model: int) -> Group:
        return Group(1, name, "", model, 0, False)

    assert catalogue.shared_model([]) is None
    assert catalogue.shared_model([group("a", FACENET.code), group("b", FACENET.code)]) == \
        FACENET.code
    assert catalogue.shared_model([group("a", ARCFACE.code)]) == ARCFACE.code
    with pytest.raises(FaceError) as caught:
        catalogue.shared_model([group("a", FACENET.code), group("b", ARCFACE.code)])
    assert caught.value.kind is ERRORS.MODEL_MISMATCH
    assert f"b ({ARCFACE.key})" in str(caught.value)

