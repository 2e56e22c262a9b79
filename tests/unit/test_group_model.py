"""A group's own model drives the embedder its faces and probes are made with (a re-embedded
group's may not be the workers' FACEGATE_EMBEDDER): the core asks the worker for it by name."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from services.gallery.ingest import NewItem
from services.recognition import enrolment, ingest, reembed, search, vision
from services.recognition.context import Recognition
from shared.errors import FaceError
from shared.models import ARCFACE, FACENET
from shared.settings import Settings
from tests.fakes.gallery import FakeGallery
from tests.fakes.vision import FakeVisionQueue, SeenFace
from tests.support.gallery_cases import axis

APP = 1


def _core(model=ARCFACE) -> tuple[Recognition, FakeVisionQueue, FakeGallery]:
    """Workers on FaceNet; the fake engine answers as the group's model would."""
    queue, gallery = FakeVisionQueue(model), FakeGallery(ingest_chunk=4)
    settings = Settings(FACEGATE_QUALITY_GATE="none", FACEGATE_EMBEDDER="facenet")
    return Recognition(settings, queue, gallery), queue, gallery


def _source(data: bytes):
    async def read() -> bytes:
        return data

    return read


def test_the_options_name_a_model_only_when_it_is_not_the_workers():
    assert vision.model_options(FACENET.code, "facenet") == {}
    assert vision.model_options(ARCFACE.code, "facenet") == {"model": "arcface"}
    assert reembed.model_name(ARCFACE.code) == "arcface"
    plan = vision.EMBED_LARGEST_FACE.plan([b"x"], {"model": "arcface"})
    assert plan["model"] == "arcface"
    assert "model" not in vision.EMBED_LARGEST_FACE.plan([b"x"], {})


def test_enrolment_and_identify_in_a_group_of_another_model_ask_for_it():
    ctx, queue, gallery = _core()
    asyncio.run(gallery.groups.create_group(APP, "g", "", ARCFACE.code))
    photo = queue.photo(b"face", SeenFace(axis(0)))
    asyncio.run(enrolment.enrol_face(ctx, APP, "g", _source(photo), "a"))
    assert queue.calls[-1]["model"] == "arcface"
    assert queue.calls[-1]["images"][0]["region"] is True  # every enrolment keeps its region
    [match] = asyncio.run(search.identify(ctx, APP, "g", _source(photo), 1))
    assert queue.calls[-1]["model"] == "arcface" and match.tag == "a"


def test_ingestion_into_a_group_of_another_model_asks_for_it():
    ctx, queue, gallery = _core()
    asyncio.run(gallery.groups.create_group(APP, "g", "", ARCFACE.code))
    photo = queue.photo(b"face", SeenFace(axis(1)))
    asked: list[str | None] = []

    async def analyse(specs: list[dict], model: str | None = None):
        asked.append(model)
        return await queue.analyse(specs, model)

    async def batches() -> AsyncIterator[list[NewItem]]:
        yield [NewItem("k", "b", image=photo)]

    async def run() -> None:
        await ingest.submit(ctx, APP, "g", batches(), None)
        while queue.chunks:  # a FaceNet worker's chunk
            await ingest.run_chunk(gallery, ctx.settings, FACENET, analyse,
                                   queue.chunks.pop(0), queue.send_chunk)

    asyncio.run(run())
    assert asked == ["arcface"]
    assert asyncio.run(gallery.groups.group(APP, "g")).face_count == 1


def test_re_embedding_needs_the_postgresql_gallery():
    ctx, _, gallery = _core()
    asyncio.run(gallery.groups.create_group(APP, "g", "", FACENET.code))
    with pytest.raises(FaceError) as refused:
        asyncio.run(reembed.submit(ctx, APP, "g", "arcface"))
    assert refused.value.kind.name == "NOT_SUPPORTED"
    with pytest.raises(FaceError) as same:
        asyncio.run(reembed.submit(ctx, APP, "g", "facenet"))
    assert same.value.kind.name == "PARAM_INVALID"
