"""Persons and identify-by-person in the core, on the fakes (tests/fakes): a person is a Baidu
user of its group, its faces join it at enrolment, and identify ranks people by the score
person_fusion fuses over all of a person's faces, with a verdict set by the group's size."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from services.recognition import catalogue, enrolment, people, person_fusion, persons, search
from shared.errors import ERRORS, FaceError
from shared.models import FACENET
from tests.fakes.vision import SeenFace
from tests.support.gallery_cases import axis, blend
from tests.unit.test_core_rules import APP, Photo, core, refused


async def face_of(ctx, queue, name: str, vector, person: str | None = None, tag: str = ""
                  ) -> int:
    photo = Photo(queue.photo(name.encode(), SeenFace(vector)))
    return (await enrolment.enrol_face(ctx, APP, "staff", photo, tag, None, None,
                                       person)).face_id


def test_a_person_is_made_listed_renamed_and_deleted_with_its_faces_and_the_group_stays():
    ctx, queue, _ = core()

    async def scenario() -> None:
        await catalogue.create_group(ctx, APP, "staff", "")
        ann, new = await persons.create(ctx, APP, "staff", "Ann Lee", None)
        assert new and ann.person_id.startswith("p_") and ann.faces == 0
        again, new = await persons.create(ctx, APP, "staff", "Other name", ann.person_id)
        assert not new and again.person_id == ann.person_id and again.name == "Ann Lee"
        faces = [await face_of(ctx, queue, f"a{i}", blend(0.9, 0, i + 2), ann.person_id)
                 for i in range(3)]
        lone = await face_of(ctx, queue, "x", axis(5))
        assert (await persons.person(ctx, APP, "staff", ann.person_id)).faces == 3
        total, listed = await persons.faces(ctx, APP, "staff", ann.person_id, 0, 10)
        assert total == 3 and sorted(f.id for f in listed) == sorted(faces)
        # the same record Baidu reads as a user of the group
        [entry] = await catalogue.user(ctx, APP, ann.person_id, "staff")
        assert entry.user_info == "Ann Lee"
        renamed = await persons.rename(ctx, APP, "staff", ann.person_id, "Ann B. Lee")
        assert renamed.name == "Ann B. Lee"
        assert (await persons.page(ctx, APP, "staff", 0, 10))[0] == 1
        await persons.delete(ctx, APP, "staff", ann.person_id)
        total, left = await catalogue.faces_page(ctx, APP, "staff", "", 0, 10)
        assert [f.id for f in left] == [lone] and total == 1
        assert (await catalogue.group(ctx, APP, "staff")).face_count == 1
        with pytest.raises(FaceError) as caught:
            await persons.person(ctx, APP, "staff", ann.person_id)
        assert caught.value.kind is ERRORS.USER_NOT_FOUND

    asyncio.run(scenario())


def test_enrolment_for_an_unknown_person_is_refused_before_the_image_is_read():
    ctx, queue, _ = core()
    asyncio.run(catalogue.create_group(ctx, APP, "staff", ""))
    photo = Photo(queue.photo(b"p", SeenFace(axis(0))))
    refused(ERRORS.USER_NOT_FOUND, lambda: enrolment.enrol_face(
        ctx, APP, "staff", photo, "", None, None, "nobody"))
    assert photo.reads == 0
    refused(ERRORS.PARAM_INVALID, lambda: persons.create(ctx, APP, "staff", "A", "no spaces"))
    refused(ERRORS.GROUP_NOT_FOUND, lambda: persons.create(ctx, APP, "other", "A", None))


def test_identify_ranks_people_once_each_by_their_fused_score():
    ctx, queue, _ = core()
    probe = Photo(queue.photo(b"probe", SeenFace(axis(0))))

    async def scenario() -> None:
        await catalogue.create_group(ctx, APP, "staff", "")
        ann, _ = await persons.create(ctx, APP, "staff", "Ann", "ann")
        cosines = (0.9, 0.85, 0.6)
        for i, c in enumerate(cosines):
            await face_of(ctx, queue, f"a{i}", blend(c, 0, i + 2), "ann")
        lone = await face_of(ctx, queue, "lone", blend(0.7, 0, 9), tag="walk-in")
        found = await search.identify_people(ctx, APP, "staff", probe, 5)
        # ann fills the top faces but is one person; the lone face is a person of its own
        assert [p.person_id for p in found.people] == [ann.person_id, None]
        top = found.people[0]
        assert top.faces == 3 and top.name == "Ann"
        vectors = np.stack([blend(c, 0, i + 2) for i, c in enumerate(cosines)])
        assert top.score == pytest.approx(
            FACENET.score(person_fusion.person_cosine(axis(0), vectors)), abs=1e-5)
        assert top.score > FACENET.score(max(cosines))  # the template beats the best face
        assert found.people[1].face_id == lone and found.people[1].name == "walk-in"
        assert found.people_in_group == 2
        # the verdict counts ann by her three faces, the lone face as one
        counted = person_fusion.effective_people(FACENET, {3: 1, 1: 1})
        assert counted > 2
        verdict = person_fusion.verdict_cosine(FACENET, counted, ctx.settings.identify_fpir)
        assert found.threshold == pytest.approx(FACENET.score(verdict), abs=1e-6)
        assert [p.same_person for p in found.people] == [
            p.score >= found.threshold for p in found.people]
        assert len(found.faces) == 4 and found.faces[0].score >= found.faces[1].score

    asyncio.run(scenario())


def test_the_verdict_needs_a_higher_score_in_a_larger_gallery():
    ctx, queue, _ = core()
    probe = Photo(queue.photo(b"probe", SeenFace(axis(0))))

    async def threshold_with(people: int) -> float:
        for i in range(people):
            await face_of(ctx, queue, f"f{people}-{i}", blend(0.1, 0, 1 + i % 100), tag=str(i))
        return (await search.identify_people(ctx, APP, "staff", probe, 1)).threshold

    async def scenario() -> None:
        await catalogue.create_group(ctx, APP, "staff", "")
        small = await threshold_with(2)
        large = await threshold_with(300)
        assert large > small

    asyncio.run(scenario())


def _confirmation_failing(monkeypatch, ctx, face: int, confirm_faces) -> None:
    """confirm_cluster on a latest clustering whose cluster holds `face`, with the gallery's
    confirm_faces replaced by `confirm_faces`."""
    async def latest(*_):
        return None

    async def cluster_faces(*_):
        return [face]

    monkeypatch.setattr(people, "_joined_latest", latest)
    monkeypatch.setattr(ctx.gallery.clusters, "cluster_faces", cluster_faces)
    monkeypatch.setattr(ctx.gallery.users, "confirm_faces", confirm_faces)


def test_a_cluster_confirmation_that_fails_leaves_no_person_made_for_it(monkeypatch):
    ctx, queue, _ = core()

    async def scenario() -> None:
        await catalogue.create_group(ctx, APP, "staff", "")
        face = await face_of(ctx, queue, "a", axis(2))

        async def outage(*_):
            raise ConnectionError("the database went away")

        _confirmation_failing(monkeypatch, ctx, face, outage)
        with pytest.raises(ConnectionError):
            await people.confirm_cluster(ctx, APP, "staff", 1, None, "Ann Lee")
        assert (await persons.page(ctx, APP, "staff", 0, 10))[0] == 0

    asyncio.run(scenario())


def test_a_cluster_confirmation_whose_faces_joined_before_the_error_keeps_them(monkeypatch):
    """The error came after the faces' transaction committed (a reply lost): the person made
    for the call holds them, so it stays, faces and all."""
    ctx, queue, _ = core()

    async def scenario() -> None:
        await catalogue.create_group(ctx, APP, "staff", "")
        face = await face_of(ctx, queue, "a", axis(2))
        confirm = ctx.gallery.users.confirm_faces

        async def committed_then_lost(*args):
            await confirm(*args)
            raise ConnectionError("the reply was lost")

        _confirmation_failing(monkeypatch, ctx, face, committed_then_lost)
        with pytest.raises(ConnectionError):
            await people.confirm_cluster(ctx, APP, "staff", 1, None, "Ann Lee")
        total, [ann] = await persons.page(ctx, APP, "staff", 0, 10)
        assert total == 1 and ann.name == "Ann Lee" and ann.faces == 1

    asyncio.run(scenario())
