"""The gallery's behaviour, written once and run against every implementation of GalleryPort:
the in-memory fake in the fast ring (tests/unit/test_gallery_fake.py) and PostgreSQL
(tests/integration/test_gallery_port.py). A case is an async function of a fresh gallery opened
with OPTIONS; where the fake and PostgreSQL disagree, a case fails, so the fake the core's rules
are tested on cannot drift from the real thing unnoticed.

Vectors are 512-dimensional, built from the standard basis so every cosine is known exactly.
"""

from __future__ import annotations

import asyncio
import inspect
import math
import typing
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import numpy as np
import pytest

from services.gallery.clusters import ClusterRow
from services.gallery.ingest import ItemOutcome, NewItem
from services.gallery.records import FaceRow, FaceWritten, UserEntry
from services.recognition.clustering import nearest_cluster
from services.recognition.gallery_port import GalleryPort
from shared.errors import ERRORS, ErrorKind, FaceError
from shared.models import ARCFACE, FACENET
from shared.tasks import Chunk

# How both galleries are opened (Gallery.open's and FakeGallery's keyword arguments): small
# chunks and caps, so a few items make several chunks, and a small index threshold.
OPTIONS = {"hnsw_min_faces": 3, "ingest_chunk": 2, "ingest_in_flight": 3}
MODEL = FACENET.code
OTHER = ARCFACE.code  # a second model, which no group of MODEL may take
DIM = 512
NO_SUCH_FACE = 987654321

Case = Callable[[GalleryPort], Awaitable[None]]


# vectors and rows ---------------------------------------------------------------------------
def axis(i: int) -> np.ndarray:
    vector = np.zeros(DIM, np.float32)
    vector[i] = 1.0
    return vector


def blend(cosine: float, a: int = 0, b: int = 1) -> np.ndarray:
    """A unit vector whose cosine with axis(a) is `cosine` (the rest toward axis(b))."""
    return (cosine * axis(a) + math.sqrt(1 - cosine * cosine) * axis(b)).astype(np.float32)


def row(vector: np.ndarray, model: int = MODEL, sha: bytes | None = None,
        thumbnail: bytes | None = None, quality: float | None = 0.9,
        box: list[int] | None = None, region: bytes | None = None) -> FaceRow:
    return FaceRow(vector, model, box or [10, 20, 100, 120], quality, sha, thumbnail, region)


async def refused(kind: ErrorKind, call: Awaitable[object]) -> FaceError:
    """The call raises FaceError of `kind`."""
    with pytest.raises(FaceError) as caught:
        await call
    assert caught.value.kind is kind, f"{caught.value.kind.name}, not {kind.name}"
    return caught.value


async def new_app(gallery: GalleryPort, name: str) -> int:
    return (await gallery.app_admin.create(name, None)).app.id


async def batches(*lists: list[NewItem]) -> AsyncIterator[list[NewItem]]:
    for batch in lists:
        yield batch


def close(values: list[float], expected: list[float]) -> bool:
    return len(values) == len(expected) and all(
        abs(v - e) < 1e-5 for v, e in zip(values, expected, strict=True))


# the port itself ----------------------------------------------------------------------------
def mismatches(port: type, implementation: type) -> list[str]:
    """Where a class differs from a Protocol of gallery_port.py: a method missing, sync where
    the port's is async, or a signature that is not the port's parameter for parameter (names,
    kinds, defaults, annotations as written). A property of the port (GalleryPort's
    repositories) is followed into the class the implementation declares for it."""
    found = []
    for name, member in vars(port).items():
        if name.startswith("_"):
            continue
        where = f"{implementation.__name__}.{name}"
        if isinstance(member, property):
            held = typing.get_type_hints(implementation).get(name)
            if held is None:
                found.append(f"{where} is not declared")
            else:
                found += mismatches(typing.get_type_hints(member.fget)["return"], held)
            continue
        if not inspect.isfunction(member):
            continue
        given = getattr(implementation, name, None)
        if given is None:
            found.append(f"{where} is missing")
        elif inspect.iscoroutinefunction(member) != inspect.iscoroutinefunction(given):
            found.append(f"{where}: async in one, not in the other")
        elif str(inspect.signature(given)) != str(inspect.signature(member)):
            found.append(f"{where}{inspect.signature(given)} is not the port's "
                         f"{inspect.signature(member)}")
    return found


# groups -----------------------------------------------------------------------------------
async def groups_are_made_listed_and_deleted(gallery: GalleryPort) -> None:
    app = await new_app(gallery, "groups")
    made = await gallery.groups.create_group(app, "staff", "the staff", MODEL)
    assert (made.name, made.tag, made.model, made.face_count, made.indexed) == \
        ("staff", "the staff", MODEL, 0, False)
    await refused(ERRORS.GROUP_CREATE, gallery.groups.create_group(app, "staff", "", MODEL))
    assert await gallery.groups.group(app, "staff") == made
    for name in ("b", "c", "d"):
        await gallery.groups.create_group(app, name, "", MODEL)
    total, page = await gallery.groups.groups_page(app, 2, 2)
    assert (total, [g.name for g in page]) == (4, ["c", "d"])
    assert await gallery.groups.group_names(app, 1, 2) == ["b", "c"]
    await gallery.groups.delete_group(app, "c")
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.groups.group(app, "c"))
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.groups.delete_group(app, "c"))
    assert await gallery.groups.group_names(app, 0, 10) == ["staff", "b", "d"]
    # several at once, once each, by name: the missing and another app's left out
    other = await new_app(gallery, "groups_other")
    await gallery.groups.create_group(other, "e", "", MODEL)
    named = await gallery.groups.groups_named(app, ["staff", "c", "b", "staff", "e"])
    assert [g.name for g in named] == ["b", "staff"] and named[1] == made
    assert await gallery.groups.groups_named(app, []) == []


async def groups_and_jobs_keep_their_quality_level(gallery: GalleryPort) -> None:
    """A group's default enrolment level and an ingestion job's level are stored with them;
    none given is None (the service's setting decides)."""
    app = await new_app(gallery, "levels")
    lenient = await gallery.groups.create_group(app, "lenient", "", MODEL, "lenient")
    plain = await gallery.groups.create_group(app, "plain", "", MODEL)
    assert (lenient.quality, plain.quality) == ("lenient", None)
    assert (await gallery.groups.group(app, "lenient")).quality == "lenient"
    _, page = await gallery.groups.groups_page(app, 1, 10)
    assert [(g.name, g.quality) for g in page] == [("lenient", "lenient"), ("plain", None)]
    job_id, _ = await gallery.ingest.create(
        app, "plain", batches([NewItem("k", "", image=b"a")]), "none")
    other_id, _ = await gallery.ingest.create(
        app, "plain", batches([NewItem("j", "", image=b"b")]))
    assert (await gallery.ingest.job(app, job_id)).quality == "none"
    assert (await gallery.ingest.job(app, other_id)).quality is None
    chunks = await gallery.ingest.feed(app, lambda chunk: None)
    held = {job.id: job for job, _ in [await gallery.ingest.pending(c) for c in chunks]}
    assert (held[job_id].quality, held[other_id].quality) == ("none", None)  # what workers read


async def a_groups_level_and_tag_are_changed(gallery: GalleryPort) -> None:
    """PATCH /v1/groups/{group}: each field given is written, one left out (KEEP, no tag)
    stays; None clears the level back to the service's setting; another app's group is not
    found, and nothing of it changes."""
    app = await new_app(gallery, "relevel")
    other = await new_app(gallery, "relevel_other")
    await gallery.groups.create_group(app, "g", "old", MODEL, "strict")
    await gallery.groups.create_group(other, "g", "theirs", MODEL, "strict")
    changed = await gallery.groups.update_group(app, "g", "lenient")
    assert (changed.name, changed.tag, changed.quality) == ("g", "old", "lenient")
    assert await gallery.groups.group(app, "g") == changed
    tagged = await gallery.groups.update_group(app, "g", tag="new")
    assert (tagged.tag, tagged.quality) == ("new", "lenient")
    cleared = await gallery.groups.update_group(app, "g", None, "")
    assert (cleared.tag, cleared.quality) == ("", None)
    assert await gallery.groups.update_group(app, "g") == cleared  # nothing asked: as it is
    _, page = await gallery.groups.groups_page(app, 1, 10)
    assert page == [cleared]
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.groups.update_group(app, "missing", "none"))
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.groups.update_group(app, "missing"))
    third = await new_app(gallery, "relevel_third")
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.groups.update_group(third, "g", "none"))
    theirs = await gallery.groups.group(other, "g")
    assert (theirs.tag, theirs.quality) == ("theirs", "strict")


# enrolment --------------------------------------------------------------------------------
async def an_idempotency_key_makes_one_face(gallery: GalleryPort) -> None:
    app = await new_app(gallery, "keys")
    await gallery.groups.create_group(app, "g", "", MODEL)
    first, after = await gallery.groups.add_face(app, "g", row(axis(0)), "ann", "key-1")
    assert first.created and after.face_count == 1
    again, after = await gallery.groups.add_face(app, "g", row(axis(0)), "ann", "key-1")
    assert again == FaceWritten(first.face_id, False) and after.face_count == 1
    # a different face under a key seen before: the first face stands, nothing is written
    other, _ = await gallery.groups.add_face(app, "g", row(axis(1)), "bob", "key-1")
    assert other == FaceWritten(first.face_id, False)
    model, vector = await gallery.groups.face_vector(app, "g", first.face_id)
    assert model == MODEL and np.allclose(vector, axis(0))
    assert (await gallery.groups.face(app, "g", first.face_id)).tag == "ann"
    # the model is checked in the write, before the key: a seen key does not get past it
    await refused(ERRORS.MODEL_MISMATCH,
                  gallery.groups.add_face(app, "g", row(axis(0), OTHER), "ann", "key-1"))
    await refused(ERRORS.MODEL_MISMATCH,
                  gallery.groups.add_face(app, "g", row(axis(2), OTHER), "cy", "key-2"))
    assert (await gallery.groups.group(app, "g")).face_count == 1
    # keys are per group
    await gallery.groups.create_group(app, "h", "", MODEL)
    elsewhere, _ = await gallery.groups.add_face(app, "h", row(axis(1)), "bob", "key-1")
    assert elsewhere.created and elsewhere.face_id != first.face_id
    # without a key every call is a new face
    a, _ = await gallery.groups.add_face(app, "g", row(axis(2)), "x")
    b, after = await gallery.groups.add_face(app, "g", row(axis(2)), "x")
    assert a.created and b.created and a.face_id != b.face_id and after.face_count == 3
    assert await gallery.ingest.known_keys(app, "g", ["key-1", "key-2"]) == \
        {"key-1": first.face_id}
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.groups.add_face(app, "no", row(axis(0)), "z"))


# the catalogue ------------------------------------------------------------------------------
async def faces_are_paged_edited_and_deleted(gallery: GalleryPort) -> None:
    app = await new_app(gallery, "catalogue")
    await gallery.groups.create_group(app, "g", "", MODEL)
    ids = []
    for i, tag in enumerate(["Alice", "alicia", "bob", "50%_off"]):
        written, _ = await gallery.groups.add_face(
            app, "g", row(axis(i), thumbnail=None if i == 2 else b"jpeg%d" % i,
                          quality=0.5 + i / 10, box=[i, i, 10, 10]), tag)
        ids.append(written.face_id)
    total, page = await gallery.groups.faces_page(app, "g", "", 0, 10)
    assert (total, [f.id for f in page]) == (4, ids[::-1])  # newest first
    assert [f.has_thumbnail for f in page] == [True, False, True, True]
    assert [f.uid for f in page] == [None] * 4 and page[3].box == [0, 0, 10, 10]
    total, page = await gallery.groups.faces_page(app, "g", "ALI", 0, 10)
    assert (total, [f.id for f in page]) == (2, [ids[1], ids[0]])
    for literal in ("%", "_"):  # wildcards in the filter are plain characters
        total, page = await gallery.groups.faces_page(app, "g", literal, 0, 10)
        assert (total, [f.id for f in page]) == (1, [ids[3]])
    total, page = await gallery.groups.faces_page(app, "g", "", 1, 2)
    assert (total, [f.id for f in page]) == (4, [ids[2], ids[1]])

    stored = await gallery.groups.face(app, "g", ids[0])
    assert (stored.id, stored.group, stored.tag, stored.box) == (ids[0], "g", "Alice",
                                                                 [0, 0, 10, 10])
    assert abs(stored.quality - 0.5) < 1e-6 and stored.updated_at >= stored.created_at
    assert await gallery.groups.thumbnail(app, "g", ids[0]) == b"jpeg0"
    assert await gallery.groups.thumbnail(app, "g", ids[2]) is None
    await refused(ERRORS.FACE_NOT_FOUND, gallery.groups.thumbnail(app, "g", NO_SUCH_FACE))
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.groups.thumbnail(app, "no", ids[0]))
    await refused(ERRORS.FACE_NOT_FOUND, gallery.groups.face(app, "g", NO_SUCH_FACE))
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.groups.face(app, "no", ids[0]))

    await gallery.groups.edit_face(app, "g", ids[0], tag="Alice B.")
    assert (await gallery.groups.face(app, "g", ids[0])).tag == "Alice B."
    await gallery.groups.edit_face(app, "g", ids[0], face=row(axis(7), quality=0.3))
    _, vector = await gallery.groups.face_vector(app, "g", ids[0])
    edited = await gallery.groups.face(app, "g", ids[0])
    assert np.allclose(vector, axis(7)) and edited.tag == "Alice B."
    assert abs(edited.quality - 0.3) < 1e-6 and edited.box == [10, 20, 100, 120]
    assert await gallery.groups.thumbnail(app, "g", ids[0]) is None
    await refused(ERRORS.MODEL_MISMATCH,
                  gallery.groups.edit_face(app, "g", ids[0], face=row(axis(8), OTHER)))
    assert np.allclose((await gallery.groups.face_vector(app, "g", ids[0]))[1], axis(7))
    await refused(ERRORS.FACE_NOT_FOUND,
                  gallery.groups.edit_face(app, "g", NO_SUCH_FACE, tag="x"))

    await gallery.groups.delete_face(app, "g", ids[3])
    assert (await gallery.groups.group(app, "g")).face_count == 3
    await refused(ERRORS.FACE_NOT_FOUND, gallery.groups.face(app, "g", ids[3]))
    await refused(ERRORS.FACE_NOT_FOUND, gallery.groups.delete_face(app, "g", ids[3]))
    # a face is found through its own group only
    await gallery.groups.create_group(app, "h", "", MODEL)
    await refused(ERRORS.FACE_NOT_FOUND, gallery.groups.face(app, "h", ids[0]))
    await refused(ERRORS.FACE_NOT_FOUND, gallery.groups.delete_face(app, "h", ids[0]))
    # a group's faces go with it
    await gallery.groups.delete_group(app, "g")
    await gallery.groups.create_group(app, "g", "", MODEL)
    await refused(ERRORS.FACE_NOT_FOUND, gallery.groups.face(app, "g", ids[0]))
    assert (await gallery.groups.group(app, "g")).face_count == 0


# search -----------------------------------------------------------------------------------
async def search_ranks_by_cosine(gallery: GalleryPort) -> None:
    app = await new_app(gallery, "search")
    await gallery.groups.create_group(app, "g", "", MODEL)
    cosines = [0.95, 0.3, 0.8, -0.2, 0.6]
    ids = []
    for i, cosine in enumerate(cosines):
        written, _ = await gallery.groups.add_face(app, "g", row(blend(cosine, 0, i + 1)),
                                                   f"c{i}")
        ids.append(written.face_id)
    # a vector that is not unit length: the cosine, not the inner product, ranks it
    long, _ = await gallery.groups.add_face(app, "g", row(3 * blend(0.9, 0, 9)), "long")
    group = await gallery.groups.group(app, "g")
    top = await gallery.groups.search(group, axis(0), 3)
    assert [m.face_id for m in top] == [ids[0], long.face_id, ids[2]]
    assert close([m.cosine for m in top], [0.95, 0.9, 0.8])
    assert [m.tag for m in top] == ["c0", "long", "c2"] and {m.user_id for m in top} == {None}
    every = await gallery.groups.search(group, axis(0), 10)
    assert close([m.cosine for m in every], [0.95, 0.9, 0.8, 0.6, 0.3, -0.2])
    # a threshold cut on those cosines keeps exactly the faces at or above it
    assert [m.face_id for m in every if m.cosine >= 0.5] == [ids[0], long.face_id, ids[2],
                                                             ids[4]]
    # a search reads one group
    await gallery.groups.create_group(app, "other", "", MODEL)
    await gallery.groups.add_face(app, "other", row(axis(0)), "same")
    assert [m.face_id for m in await gallery.groups.search(group, axis(0), 1)] == [ids[0]]
    # what may be searched
    assert await gallery.groups.searchable_group(app, "g", MODEL) == group
    await refused(ERRORS.MODEL_MISMATCH, gallery.groups.searchable_group(app, "g", OTHER))
    await gallery.groups.create_group(app, "empty", "", MODEL)
    await refused(ERRORS.GROUP_EMPTY, gallery.groups.searchable_group(app, "empty", MODEL))
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.groups.searchable_group(app, "no", MODEL))


async def a_large_group_gets_its_index(gallery: GalleryPort) -> None:
    app = await new_app(gallery, "indexes")
    await gallery.groups.create_group(app, "g", "", MODEL)
    for i in range(2):
        await gallery.groups.add_face(app, "g", row(blend(0.9 - i / 10, 0, i + 1)), f"f{i}")
    assert not await gallery.indexes.ensure_index(await gallery.groups.group(app, "g"))
    await gallery.groups.add_face(app, "g", row(blend(0.5, 0, 3)), "f2")
    assert await gallery.indexes.ensure_index(await gallery.groups.group(app, "g"))
    group = await gallery.groups.group(app, "g")
    assert group.indexed and not await gallery.indexes.ensure_index(group)
    assert close([m.cosine for m in await gallery.groups.search(group, axis(0), 3)],
                 [0.9, 0.8, 0.5])
    # build_soon does not hold up the caller: the index comes when it comes
    await gallery.groups.create_group(app, "h", "", MODEL)
    after = None
    for i in range(3):
        _, after = await gallery.groups.add_face(app, "h", row(axis(i)), "")
    gallery.indexes.build_soon([after])
    for _ in range(200):
        if (await gallery.groups.group(app, "h")).indexed:
            break
        await asyncio.sleep(0.05)
    assert (await gallery.groups.group(app, "h")).indexed


# tenancy ----------------------------------------------------------------------------------
async def one_app_never_reaches_another(gallery: GalleryPort) -> None:
    one, two = await new_app(gallery, "one"), await new_app(gallery, "two")
    mine = await gallery.groups.create_group(one, "g", "", MODEL)
    face, _ = await gallery.groups.add_face(one, "g", row(axis(0), thumbnail=b"t"), "ann", "k")
    groups = gallery.groups
    for call in (groups.group(two, "g"), groups.delete_group(two, "g"),
                 groups.face(two, "g", face.face_id), groups.delete_face(two, "g", face.face_id),
                 groups.thumbnail(two, "g", face.face_id),
                 groups.face_vector(two, "g", face.face_id),
                 groups.edit_face(two, "g", face.face_id, tag="x"),
                 groups.faces_page(two, "g", "", 0, 10),
                 groups.add_face(two, "g", row(axis(1)), "x"),
                 groups.searchable_group(two, "g", MODEL)):
        await refused(ERRORS.GROUP_NOT_FOUND, call)
    assert await groups.groups_page(two, 1, 10) == (0, [])
    assert await groups.group_names(two, 0, 10) == []
    # the same name in the other app is another group, with a key space of its own
    theirs = await groups.create_group(two, "g", "", MODEL)
    assert theirs.id != mine.id
    await refused(ERRORS.FACE_NOT_FOUND, groups.face(two, "g", face.face_id))
    assert await gallery.ingest.known_keys(two, "g", ["k"]) == {}
    assert await groups.search(theirs, axis(0), 5) == []
    written, _ = await groups.add_face(two, "g", row(axis(0)), "ann", "k")
    assert written.created and written.face_id != face.face_id
    assert (await groups.group(one, "g")).face_count == 1

    # Baidu users
    await gallery.users.add_user_face(one, "u1", "one's", ["ug"], row(axis(1)), replace=False)
    for call in (gallery.users.get_user(two, "u1"), gallery.users.delete_user(two, "u1"),
                 gallery.users.remove_user_from_groups(two, "u1", ["ug"]),
                 gallery.users.verify_user(two, "u1", ["ug"], axis(1), MODEL, 5)):
        await refused(ERRORS.USER_NOT_FOUND, call)
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.users.group_users(two, "ug", 0, 10))
    await refused(ERRORS.GROUP_EMPTY,
                  gallery.users.identify_users(two, ["ug"], axis(1), MODEL, 5))
    await gallery.users.add_user_face(two, "u1", "two's", ["ug"], row(axis(2)), replace=False)
    assert [u.user_info for u in await gallery.users.get_user(one, "u1")] == ["one's"]
    assert close(await gallery.users.verify_user(one, "u1", ["ug"], axis(1), MODEL, 5), [1.0])

    # identities
    await gallery.identities.put(one, "110", "Ann", axis(0), MODEL)
    await refused(ERRORS.IDENTITY_NOT_FOUND, gallery.identities.get(two, "110"))
    await refused(ERRORS.IDENTITY_NOT_FOUND, gallery.identities.delete(two, "110"))
    assert (await gallery.identities.get(one, "110")).name == "Ann"

    # ingestion jobs: ids are global (exists), the job is one's only
    job_id, _ = await gallery.ingest.create(one, "g", batches([NewItem("k1", "", b"x")]))
    for call in (gallery.ingest.job(two, job_id), gallery.ingest.cancel(two, job_id),
                 gallery.ingest.items(two, job_id, 0, 10)):
        await refused(ERRORS.JOB_NOT_FOUND, call)
    assert await gallery.ingest.recent(two, 10) == []
    assert await gallery.ingest.feed(two, lambda chunk: None) == []
    assert await gallery.ingest.exists(job_id)
    assert (await gallery.ingest.job(one, job_id)).state == "running"

    # clustering runs
    run = await gallery.clusters.create(one, mine, 0.85)
    assert await gallery.clusters.run(run.id, two) is None
    assert (await gallery.clusters.run(run.id, one)).id == run.id

    # apps
    assert (await gallery.apps.by_id(two)).name == "two"


# Baidu users ------------------------------------------------------------------------------
async def baidu_users_join_leave_and_move(gallery: GalleryPort) -> None:
    app = await new_app(gallery, "users")
    users = gallery.users

    async def counts(*names: str) -> list[int]:
        return [(await gallery.groups.group(app, n)).face_count for n in names]

    touched = await users.add_user_face(app, "u1", "Ann", ["g1", "g2"], row(axis(0), sha=b"a"),
                                        replace=False)
    assert [(g.name, g.face_count) for g in touched] == [("g1", 1), ("g2", 1)]
    made = await gallery.groups.group(app, "g1")  # made on first use
    assert (made.model, made.tag) == (MODEL, "")
    assert await users.get_user(app, "u1") == [UserEntry("u1", "Ann", "g1"),
                                               UserEntry("u1", "Ann", "g2")]
    assert await users.get_user(app, "u1", "g2") == [UserEntry("u1", "Ann", "g2")]
    await refused(ERRORS.USER_NOT_FOUND, users.get_user(app, "u1", "g3"))
    await refused(ERRORS.USER_NOT_FOUND, users.get_user(app, "nobody"))
    # the same image twice under one user is refused, and nothing is written
    await refused(ERRORS.IMAGE_EXISTS, users.add_user_face(
        app, "u1", "Ann", ["g1"], row(axis(0), sha=b"a"), replace=False))
    assert await counts("g1") == [1]
    # another image; the user's info is the latest
    touched = await users.add_user_face(app, "u1", "Ann B", ["g1"], row(axis(1), sha=b"b"),
                                        replace=False)
    assert [(g.name, g.face_count) for g in touched] == [("g1", 2)]
    assert (await users.get_user(app, "u1"))[0].user_info == "Ann B"
    # replace: the user's earlier faces in that group go
    touched = await users.add_user_face(app, "u1", "Ann B", ["g1"], row(axis(2), sha=b"c"),
                                        replace=True)
    assert [(g.name, g.face_count) for g in touched] == [("g1", 1)]
    total, listed = await gallery.groups.faces_page(app, "g1", "", 0, 10)
    assert total == 1 and (listed[0].tag, listed[0].uid) == ("u1", "u1")
    # must_exist: the user, in one of those groups
    await refused(ERRORS.USER_NOT_FOUND, users.add_user_face(
        app, "u2", "Bob", ["g1"], row(axis(3)), replace=False, must_exist=True))
    await refused(ERRORS.USER_NOT_FOUND, users.get_user(app, "u2"))
    await refused(ERRORS.USER_NOT_FOUND, users.add_user_face(
        app, "u1", "Ann", ["g9"], row(axis(3)), replace=False, must_exist=True))
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.groups.group(app, "g9"))
    await users.add_user_face(app, "u1", "Ann B", ["g1"], row(axis(3), sha=b"d"),
                              replace=False, must_exist=True)
    # a face of another model: refused in the second group, the first is not made either
    await refused(ERRORS.MODEL_MISMATCH, users.add_user_face(
        app, "u3", "Cy", ["g3", "g1"], row(axis(4), OTHER), replace=False))
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.groups.group(app, "g3"))
    await refused(ERRORS.USER_NOT_FOUND, users.get_user(app, "u3"))

    await users.add_user_face(app, "u2", "Bob", ["g1"], row(axis(5), sha=b"e"), replace=False)
    assert await users.group_users(app, "g1", 0, 10) == [("u1", "Ann B"), ("u2", "Bob")]
    assert await users.group_users(app, "g1", 1, 10) == [("u2", "Bob")]
    await refused(ERRORS.GROUP_NOT_FOUND, users.group_users(app, "no", 0, 10))
    assert await counts("g1", "g2") == [3, 1]

    touched = await users.copy_user(app, "u2", "g1", ["g2", "g4"])
    assert [(g.name, g.face_count) for g in touched] == [("g2", 2), ("g4", 1)]
    assert [e.group for e in await users.get_user(app, "u2")] == ["g1", "g2", "g4"]
    total, listed = await gallery.groups.faces_page(app, "g4", "", 0, 10)
    assert total == 1 and listed[0].uid == "u2"
    await refused(ERRORS.USER_IN_GROUP, users.copy_user(app, "u2", "g1", ["g2"]))
    await refused(ERRORS.USER_NOT_FOUND, users.copy_user(app, "nobody", "g1", ["g2"]))
    await refused(ERRORS.GROUP_NOT_FOUND, users.copy_user(app, "u2", "no", ["g2"]))
    # a target of another model: the user is checked first, and nothing is made on the way
    await gallery.groups.create_group(app, "ga", "", OTHER)
    await refused(ERRORS.USER_NOT_FOUND, users.copy_user(app, "nobody", "g1", ["ga"]))
    await refused(ERRORS.MODEL_MISMATCH, users.copy_user(app, "u2", "g1", ["g5", "ga"]))
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.groups.group(app, "g5"))
    assert [e.group for e in await users.get_user(app, "u2")] == ["g1", "g2", "g4"]
    await gallery.groups.delete_group(app, "ga")

    await refused(ERRORS.USER_ONE_GROUP,
                  users.remove_user_from_groups(app, "u2", ["g1", "g2", "g4"]))
    await refused(ERRORS.USER_NOT_FOUND, users.remove_user_from_groups(app, "u2", ["g5"]))
    await users.remove_user_from_groups(app, "u2", ["g4"])
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.groups.group(app, "g4"))  # went with u2

    await users.delete_user(app, "u2", "g2")
    assert [e.group for e in await users.get_user(app, "u2")] == ["g1"]
    await refused(ERRORS.USER_NOT_FOUND, users.delete_user(app, "u2", "g2"))
    assert await counts("g1", "g2") == [3, 1]
    await users.delete_user(app, "u2")
    await refused(ERRORS.USER_NOT_FOUND, users.get_user(app, "u2"))
    assert await counts("g1") == [2]
    await users.delete_user(app, "u1")  # the last user: the groups go with it
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.groups.group(app, "g1"))
    await refused(ERRORS.GROUP_NOT_FOUND, gallery.groups.group(app, "g2"))


async def users_are_identified_and_verified(gallery: GalleryPort) -> None:
    app = await new_app(gallery, "identify")
    for uid, group, cosine, axis_b in (("ann", "staff", 0.9, 1), ("ann", "staff", 0.7, 2),
                                       ("bob", "staff", 0.8, 3), ("bob", "guests", 0.95, 4),
                                       ("cy", "guests", 0.1, 5)):
        await gallery.users.add_user_face(app, uid, f"{uid}!", [group],
                                          row(blend(cosine, 0, axis_b), sha=bytes([axis_b])),
                                          replace=False)
    await gallery.groups.create_group(app, "empty", "", MODEL)
    await gallery.groups.create_group(app, "arc", "", OTHER)
    found = await gallery.users.identify_users(app, ["staff", "guests", "empty", "none"],
                                               axis(0), MODEL, 2)
    # a user is one candidate, reported in the group of its best face
    assert [(m.group, m.uid, m.user_info) for m in found] == [("guests", "bob", "bob!"),
                                                              ("staff", "ann", "ann!")]
    assert close(found[0].cosines, [0.95]) and close(found[1].cosines, [0.9, 0.7])
    found = await gallery.users.identify_users(app, ["staff", "guests"], axis(0), MODEL, 1)
    assert [m.uid for m in found] == ["bob"]
    await refused(ERRORS.GROUP_EMPTY, gallery.users.identify_users(
        app, ["empty", "none"], axis(0), MODEL, 5))
    await refused(ERRORS.MODEL_MISMATCH, gallery.users.identify_users(
        app, ["staff", "arc"], axis(0), MODEL, 5))
    await gallery.groups.add_face(app, "empty", row(axis(0)), "nobody's")
    await refused(ERRORS.GROUP_EMPTY, gallery.users.identify_users(  # faces, but no users
        app, ["empty"], axis(0), MODEL, 5))

    assert close(await gallery.users.verify_user(app, "ann", ["staff"], axis(0), MODEL, 5),
                 [0.9, 0.7])
    assert close(await gallery.users.verify_user(app, "ann", ["staff"], axis(0), MODEL, 1),
                 [0.9])
    assert close(await gallery.users.verify_user(app, "bob", ["staff", "guests"], axis(0),
                                                 MODEL, 5), [0.95, 0.8])
    await refused(ERRORS.USER_NOT_FOUND,
                  gallery.users.verify_user(app, "ann", ["guests"], axis(0), MODEL, 5))
    await refused(ERRORS.MODEL_MISMATCH,
                  gallery.users.verify_user(app, "ann", ["staff"], axis(0), OTHER, 5))


# identities and apps ----------------------------------------------------------------------
async def identities_are_registered_replaced_and_deleted(gallery: GalleryPort) -> None:
    app = await new_app(gallery, "registry")
    assert await gallery.identities.put(app, "110", "Ann", axis(0), MODEL) is True
    assert await gallery.identities.put(app, "110", "Ann B", axis(1), MODEL) is False
    held = await gallery.identities.get(app, "110")
    assert (held.id_card_number, held.name, held.model) == ("110", "Ann B", MODEL)
    assert np.allclose(held.vector, axis(1))
    await gallery.identities.delete(app, "110")
    await refused(ERRORS.IDENTITY_NOT_FOUND, gallery.identities.get(app, "110"))
    await refused(ERRORS.IDENTITY_NOT_FOUND, gallery.identities.delete(app, "110"))


async def apps_are_made_found_rotated_and_revoked(gallery: GalleryPort) -> None:
    new = await gallery.app_admin.create("acme", 5)
    app = new.app
    assert (app.name, app.qps, app.active) == ("acme", 5, True) and app.api_key
    assert app.secret_matches(new.secret) and not app.secret_matches("guess")
    for name in ("acme", "", "x" * 65):
        await refused(ERRORS.PARAM_INVALID, gallery.app_admin.create(name, None))
    assert (await gallery.apps.by_credential(app.api_key)).id == app.id
    assert (await gallery.apps.by_credential("acme")).id == app.id
    assert await gallery.apps.by_credential("nope") is None
    assert await gallery.apps.by_credential("acme\x00") is None
    assert (await gallery.apps.by_id(app.id)).name == "acme"
    assert await gallery.apps.by_id(NO_SUCH_FACE) is None
    default = await gallery.apps.by_id(1)  # made by the first migration, without credentials
    assert default.name == "default" and not default.active
    assert [a.name for a in await gallery.app_admin.list()] == ["default", "acme"]

    rotated = await gallery.app_admin.rotate("acme")
    now = await gallery.apps.by_id(app.id)
    assert now.secret_matches(rotated.secret) and not now.secret_matches(new.secret)
    assert (await gallery.app_admin.set_qps(app.api_key, 9)).qps == 9
    assert (await gallery.app_admin.set_qps("acme", None)).qps is None
    revoked = await gallery.app_admin.revoke("acme")
    assert not revoked.active and revoked.revoked_at is not None
    assert not (await gallery.apps.by_credential("acme")).active
    for call in (gallery.app_admin.revoke("acme"), gallery.app_admin.rotate("acme"),
                 gallery.app_admin.set_qps("acme", 1)):
        await refused(ERRORS.PARAM_INVALID, call)


# ingestion --------------------------------------------------------------------------------
def chunk_key(chunk: Chunk) -> tuple[str, int, int]:
    return chunk.job_id, chunk.start, chunk.stop


async def ingestion_records_each_outcome_once(gallery: GalleryPort) -> None:
    app = await new_app(gallery, "ingest")
    await gallery.groups.create_group(app, "g", "", MODEL)
    items = [NewItem("k0", "t0", image=b"img0"), NewItem("k1", "t1", url="http://x/1.jpg"),
             NewItem("k2", "t2", image=b"img2"),
             NewItem("k3", "t3", status="bad_image", error={"error": "IMAGE_DECODE",
                                                            "detail": ""}),
             NewItem("k4", "t4", image=b"img4")]
    job_id, total = await gallery.ingest.create(app, "g", batches(items[:2], items[2:]))
    assert total == 5 and await gallery.ingest.exists(job_id)
    job = await gallery.ingest.job(app, job_id)
    assert (job.id, job.group, job.total, job.done, job.state, job.counts, job.created,
            job.in_flight, job.started_at, job.error) == \
        (job_id, "g", 5, 1, "running", {"bad_image": 1}, 0, 0, None, None)

    sent: list[Chunk] = []
    chunks = await gallery.ingest.feed(app, sent.append)
    assert sent == chunks
    assert [chunk_key(c) for c in chunks] == [(job_id, 0, 2), (job_id, 2, 4), (job_id, 4, 5)]
    assert await gallery.ingest.feed(app, sent.append) == []
    assert (await gallery.ingest.job(app, job_id)).in_flight == 3

    held, pending = await gallery.ingest.pending(chunks[0])
    assert held.id == job_id
    assert [(p.index, p.key, p.tag, p.image, p.url) for p in pending] == \
        [(0, "k0", "t0", b"img0", None), (1, "k1", "t1", None, "http://x/1.jpg")]
    keys = {i: item.key for i, item in enumerate(items)}
    tags = {i: item.tag for i, item in enumerate(items)}
    outcomes = [ItemOutcome(0, "enrolled", face=row(axis(0))), ItemOutcome(1, "no_face")]
    after, group = await gallery.ingest.complete_chunk(chunks[0], keys, tags, outcomes, "w1")
    assert (after.done, after.counts, after.created) == \
        (3, {"enrolled": 1, "no_face": 1, "bad_image": 1}, 1)
    assert after.started_at is not None and group.face_count == 1 and group.name == "g"
    # a second delivery of the chunk writes and counts nothing
    again, group = await gallery.ingest.complete_chunk(chunks[0], keys, tags, outcomes, "w2")
    assert (again.done, again.counts, again.created) == (3, after.counts, 1) and group is None
    assert (await gallery.groups.group(app, "g")).face_count == 1
    assert (await gallery.ingest.pending(chunks[0]))[1] == []
    face_id = (await gallery.ingest.known_keys(app, "g", ["k0", "k9"]))["k0"]
    assert (await gallery.groups.face(app, "g", face_id)).tag == "t0"

    _, pending = await gallery.ingest.pending(chunks[1])  # item 3 was judged at the gateway
    assert [p.index for p in pending] == [2]
    error = FaceError(ERRORS.FACE_BLURRED, "blur 0.9").to_dict()
    after, _ = await gallery.ingest.complete_chunk(
        chunks[1], keys, tags, [ItemOutcome(2, "low_quality", error)])
    # enrolled earlier under the same key (a resumed load): counted, not created again
    after, _ = await gallery.ingest.complete_chunk(
        chunks[2], keys, tags, [ItemOutcome(4, "enrolled", face_id=face_id)])
    assert (after.done, after.total, after.created, after.state) == (5, 5, 1, "running")
    assert after.counts == {"enrolled": 2, "no_face": 1, "low_quality": 1, "bad_image": 1}
    assert (await gallery.ingest.job(app, job_id)).in_flight == 0
    assert await gallery.ingest.finish(job_id)
    assert not await gallery.ingest.finish(job_id)
    done = await gallery.ingest.job(app, job_id)
    assert done.state == "done" and done.finished_at is not None

    listed = await gallery.ingest.items(app, job_id, 0, 10)
    assert [(i["index"], i["key"], i["status"], i["face_id"], i["created"]) for i in listed] == [
        (0, "k0", "enrolled", face_id, True), (1, "k1", "no_face", None, None),
        (2, "k2", "low_quality", None, None), (3, "k3", "bad_image", None, None),
        (4, "k4", "enrolled", face_id, False)]
    assert listed[2]["error"] == error and listed[3]["error"]["error"] == "IMAGE_DECODE"
    assert [i["index"] for i in await gallery.ingest.items(app, job_id, 1, 2)] == [1, 2]
    assert [i["index"] for i in await gallery.ingest.items(app, job_id, 0, 10,
                                                           "enrolled")] == [0, 4]
    assert await gallery.ingest.items(app, job_id, 0, 10, "pending") == []
    assert [j.id for j in await gallery.ingest.recent(app, 10)] == [job_id]


async def a_deleted_face_leaves_no_key_in_its_ingestion_items(gallery: GalleryPort) -> None:
    """services/gallery/erasure.py: the items that enrolled a face, or found it again by its
    key, keep their outcome but lose their key, tag and face once it is deleted, by itself or
    with its group; the job's counts stay what the job did."""
    app = await new_app(gallery, "erasure")
    await gallery.groups.create_group(app, "g", "", MODEL)
    items = [NewItem("k0", "t0", image=b"img0"), NewItem("k1", "t1", url="http://x/1.jpg"),
             NewItem("k2", "t2", image=b"img2")]
    job_id, _ = await gallery.ingest.create(app, "g", batches(items))
    keys = {i: item.key for i, item in enumerate(items)}
    tags = {i: item.tag for i, item in enumerate(items)}
    first, second = await gallery.ingest.feed(app, lambda chunk: None)
    await gallery.ingest.complete_chunk(first, keys, tags, [
        ItemOutcome(0, "enrolled", face=row(axis(0))),
        ItemOutcome(1, "enrolled", face=row(axis(1)))])
    f0, f1 = (await gallery.ingest.known_keys(app, "g", ["k0", "k1"])).values()
    await gallery.ingest.complete_chunk(second, keys, tags,
                                        [ItemOutcome(2, "enrolled", face_id=f0)])

    def listed(items: list[dict]) -> list[tuple]:
        return [(i["index"], i["key"], i["tag"], i["status"], i["face_id"], i["created"])
                for i in items]

    await gallery.groups.delete_face(app, "g", f0)
    assert listed(await gallery.ingest.items(app, job_id, 0, 10)) == [
        (0, None, "", "enrolled", None, True), (1, "k1", "t1", "enrolled", f1, True),
        (2, None, "", "enrolled", None, False)]
    assert await gallery.ingest.known_keys(app, "g", ["k0", "k2"]) == {}
    job = await gallery.ingest.job(app, job_id)
    assert (job.done, job.counts, job.created) == (3, {"enrolled": 3}, 2)

    await gallery.groups.delete_group(app, "g")  # its faces go, and their items' keys
    assert listed(await gallery.ingest.items(app, job_id, 1, 1)) == [
        (1, None, "", "enrolled", None, True)]
    assert (await gallery.ingest.job(app, job_id)).counts == {"enrolled": 3}


async def ingestion_cancels_and_fails_whole(gallery: GalleryPort) -> None:
    app = await new_app(gallery, "cancel")
    await gallery.groups.create_group(app, "g", "", MODEL)
    three = [NewItem(f"k{i}", "", image=b"img") for i in range(3)]
    keys, tags = {i: f"k{i}" for i in range(3)}, dict.fromkeys(range(3), "")
    first, _ = await gallery.ingest.create(app, "g", batches(three[:2], three[2:]))
    cancelled, ended = await gallery.ingest.cancel(app, first)
    assert ended
    assert (cancelled.state, cancelled.done, cancelled.counts) == \
        ("cancelled", 3, {"cancelled": 3})
    assert cancelled.finished_at is not None
    again, ended = await gallery.ingest.cancel(app, first)
    assert not ended
    assert (again.state, again.done, again.counts) == ("cancelled", 3, {"cancelled": 3})
    assert await gallery.ingest.feed(app, lambda chunk: None) == []
    whole = Chunk(job_id=first, start=0, stop=3)
    assert await gallery.ingest.pending(whole) == (None, [])
    after, group = await gallery.ingest.complete_chunk(
        whole, keys, tags, [ItemOutcome(0, "enrolled", face=row(axis(0)))])
    assert after.state == "cancelled" and group is None
    assert (await gallery.groups.group(app, "g")).face_count == 0
    assert not await gallery.ingest.finish(first)

    # the group deleted under a running job: the job fails, its items left are cancelled
    second, _ = await gallery.ingest.create(app, "g", batches(three))
    chunks = await gallery.ingest.feed(app, lambda chunk: None)
    assert [chunk_key(c) for c in chunks] == [(second, 0, 2), (second, 2, 3)]
    await gallery.groups.delete_group(app, "g")
    after, group = await gallery.ingest.complete_chunk(
        chunks[0], keys, tags, [ItemOutcome(0, "enrolled", face=row(axis(0))),
                                ItemOutcome(1, "no_face")])
    assert (after.state, after.done, after.counts, group) == \
        ("failed", 3, {"cancelled": 3}, None)
    assert after.error["error"] == "GROUP_NOT_FOUND"
    assert {i["status"] for i in await gallery.ingest.items(app, second, 0, 10)} == \
        {"cancelled"}

    # a face of another model fails the job the same way, and writes none of the chunk
    await gallery.groups.create_group(app, "g", "", MODEL)
    third, _ = await gallery.ingest.create(app, "g", batches(three))
    chunks = await gallery.ingest.feed(app, lambda chunk: None)
    after, _ = await gallery.ingest.complete_chunk(
        chunks[0], keys, tags, [ItemOutcome(0, "enrolled", face=row(axis(0))),
                                ItemOutcome(1, "enrolled", face=row(axis(1), OTHER))])
    assert (after.state, after.error["error"]) == ("failed", "MODEL_MISMATCH")
    assert (await gallery.groups.group(app, "g")).face_count == 0

    # an archive that breaks while it is read stores nothing
    async def broken() -> AsyncIterator[list[NewItem]]:
        yield three
        raise FaceError(ERRORS.PARAM_INVALID, "bad archive")

    await refused(ERRORS.PARAM_INVALID, gallery.ingest.create(app, "g", broken()))
    assert [j.id for j in await gallery.ingest.recent(app, 10)] == [third, second, first]
    assert [j.id for j in await gallery.ingest.recent(app, 1)] == [third]

    for bad in ("not-a-uuid", str(uuid.uuid4())):
        for call in (gallery.ingest.job(app, bad), gallery.ingest.cancel(app, bad),
                     gallery.ingest.items(app, bad, 0, 10)):
            await refused(ERRORS.JOB_NOT_FOUND, call)
        assert not await gallery.ingest.exists(bad)


async def ingestion_feeds_chunks_fairly(gallery: GalleryPort) -> None:
    one, two = await new_app(gallery, "feed_one"), await new_app(gallery, "feed_two")
    for app in (one, two):
        await gallery.groups.create_group(app, "g", "", MODEL)

    def items(n: int) -> list[NewItem]:
        return [NewItem(f"k{i}", "", image=b"img") for i in range(n)]

    a, _ = await gallery.ingest.create(one, "g", batches(items(5)))
    b, _ = await gallery.ingest.create(one, "g", batches(items(2)))
    # round-robin over the app's running jobs, up to its in-flight cap (3)
    chunks = await gallery.ingest.feed(one, lambda chunk: None)
    assert [chunk_key(c) for c in chunks] == [(a, 0, 2), (b, 0, 2), (a, 2, 4)]
    assert await gallery.ingest.feed(one, lambda chunk: None) == []
    assert [(await gallery.ingest.job(one, j)).in_flight for j in (a, b)] == [2, 1]
    # a chunk done frees its place
    await gallery.ingest.complete_chunk(chunks[1], {0: "k0", 1: "k1"}, {0: "", 1: ""},
                                        [ItemOutcome(0, "no_face"), ItemOutcome(1, "no_face")])
    assert await gallery.ingest.finish(b)
    assert [chunk_key(c) for c in await gallery.ingest.feed(one, lambda chunk: None)] == \
        [(a, 4, 5)]

    # another app's cap is its own; a send that fails hands out nothing
    c, _ = await gallery.ingest.create(two, "g", batches(items(3)))

    def broker_down(chunk: Chunk) -> None:
        raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        await gallery.ingest.feed(two, broker_down)
    assert (await gallery.ingest.job(two, c)).in_flight == 0
    assert [chunk_key(x) for x in await gallery.ingest.feed(two, lambda chunk: None)] == \
        [(c, 0, 2), (c, 2, 3)]


# clustering -------------------------------------------------------------------------------
async def clusterings_are_saved_joined_and_named(gallery: GalleryPort) -> None:
    app = await new_app(gallery, "clusters")
    await gallery.groups.create_group(app, "g", "", MODEL)
    a1, a2, b1, b2 = [(await gallery.groups.add_face(app, "g", row(v), ""))[0].face_id
                      for v in (axis(0), blend(0.9, 0, 1), axis(2), blend(0.9, 2, 3))]
    group = await gallery.groups.group(app, "g")
    clusters = gallery.clusters
    run = await clusters.create(app, group, 0.85)
    assert (run.app, run.group_id, run.group, run.score, run.state, run.total, run.done,
            run.clusters, run.error, run.started_at) == \
        (app, group.id, "g", 0.85, "queued", 4, 0, None, None, None)
    assert (await clusters.run(run.id)).id == run.id
    assert await clusters.run("not-a-uuid") is None
    assert await clusters.run(str(uuid.uuid4())) is None
    assert await clusters.latest(group) is None

    assert await clusters.start(run.id)
    await clusters.progress(run.id, 2)
    running = await clusters.run(run.id)
    assert (running.state, running.done) == ("running", 2) and running.started_at is not None
    face_ids, vectors = await clusters.snapshot(group.id)
    assert face_ids.tolist() == [a1, a2, b1, b2] and vectors.shape == (4, DIM)
    assert np.allclose(vectors[1], blend(0.9, 0, 1))
    assert await clusters.save(run.id, face_ids, np.array([0, 0, 1, 1]),
                               np.array([a1, b1])) == 2
    done = await clusters.run(run.id)
    assert (done.state, done.clusters, done.done) == ("done", 2, 4) and done.finished_at
    assert (await clusters.latest(group)).id == run.id
    assert not await clusters.start(run.id)  # it has ended
    assert await clusters.save(run.id, face_ids, np.zeros(4, np.int64), np.array([a1])) == 1
    assert await clusters.page(done, 0, 10) == (2, 4, [ClusterRow(0, 2, [a1, a2], a1, None),
                                                       ClusterRow(1, 2, [b1, b2], b1, None)])
    assert await clusters.page(done, 1, 10) == (2, 4, [ClusterRow(1, 2, [b1, b2], b1, None)])

    assert await clusters.name(done, 1, "Bea") == 2
    assert (await gallery.groups.face(app, "g", b2)).tag == "Bea"
    await refused(ERRORS.CLUSTER_NOT_FOUND, clusters.name(done, 7, "x"))

    # faces enrolled since: one near cluster 1 joins it and takes its name, a stranger opens a
    # cluster of its own
    b3 = (await gallery.groups.add_face(app, "g", row(blend(0.92, 2, 4)), ""))[0].face_id
    stranger = (await gallery.groups.add_face(app, "g", row(axis(9)), ""))[0].face_id

    def vote(neighbours: list[int], cosines: list[float], placed: dict[int, int],
             own: int | None, forbidden: frozenset[int]) -> int | None:
        return nearest_cluster(neighbours, cosines, placed, 0.5, own, forbidden)

    group = await gallery.groups.group(app, "g")
    assert await clusters.join_unassigned(done, group, 5, vote) == 2
    assert await clusters.join_unassigned(done, group, 5, vote) == 0
    assert (await gallery.groups.face(app, "g", b3)).tag == "Bea"
    assert (await gallery.groups.face(app, "g", stranger)).tag == ""
    assert await clusters.page(done, 0, 10) == (3, 6, [
        ClusterRow(1, 3, [b1, b2, b3], b1, "Bea"), ClusterRow(0, 2, [a1, a2], a1, None),
        ClusterRow(2, 1, [stranger], stranger, None)])

    # a deleted face leaves its cluster; a cluster whose representative went shows another
    await gallery.groups.delete_face(app, "g", a2)
    await gallery.groups.delete_face(app, "g", b1)
    assert await clusters.page(done, 0, 10) == (3, 4, [
        ClusterRow(1, 2, [b2, b3], b2, "Bea"), ClusterRow(0, 1, [a1], a1, None),
        ClusterRow(2, 1, [stranger], stranger, None)])

    # a new clustering replaces the old one whole
    group = await gallery.groups.group(app, "g")
    second = await clusters.create(app, group, 0.5)
    assert await clusters.start(second.id)
    ids, _ = await clusters.snapshot(group.id)
    assert await clusters.save(second.id, ids, np.zeros(len(ids), np.int64),
                               np.array([ids[0]])) == 1
    assert await clusters.run(run.id) is None
    assert (await clusters.latest(group)).id == second.id

    failed = await clusters.create(app, group, 0.85)
    await clusters.fail(failed.id, FaceError(ERRORS.SYSTEM_BUSY, "queue unreachable"))
    held = await clusters.run(failed.id)
    assert (held.state, held.error) == ("failed", {"error": "SYSTEM_BUSY",
                                                   "detail": "queue unreachable"})
    assert not await clusters.start(failed.id)
    assert (await clusters.latest(group)).id == second.id

    await gallery.groups.delete_group(app, "g")  # its clusterings go with it
    assert await clusters.run(second.id) is None


async def persons_own_faces_and_are_fused_over_them(gallery: GalleryPort) -> None:
    """A /v1 person is a user of its group: its faces join it at enrolment, identify reads
    every face of a candidate, the group counts people, and deleting the person keeps the
    group."""
    groups, users = gallery.groups, gallery.users
    await groups.create_group(1, "ppl", "", MODEL)
    await refused(ERRORS.GROUP_NOT_FOUND, users.create_person(1, "nope", "ann", "Ann"))
    ann, new = await users.create_person(1, "ppl", "ann", "Ann")
    assert new and (ann.person_id, ann.name, ann.faces) == ("ann", "Ann", 0)
    again, new = await users.create_person(1, "ppl", "ann", "Renamed?")
    assert not new and again.name == "Ann"
    await refused(ERRORS.USER_NOT_FOUND, groups.add_face(1, "ppl", row(axis(0)), "", None, "bob"))
    ids = [(await groups.add_face(1, "ppl", row(blend(c, 0, 2 + i)), "a", None, "ann"))[0]
           .face_id for i, c in enumerate((0.9, 0.5))]
    lone = (await groups.add_face(1, "ppl", row(axis(7)), "x"))[0].face_id
    assert (await users.person(1, "ppl", "ann")).faces == 2
    total, listed = await groups.faces_page(1, "ppl", "", 0, 10, "ann")
    assert total == 2 and sorted(f.id for f in listed) == sorted(ids)
    assert {f.uid for f in listed} == {"ann"}
    group = await groups.group(1, "ppl")
    assert await groups.people_faces(group, axis(0), [NO_SUCH_FACE]) == []
    matches = await groups.search(group, axis(0), 3)
    user_ids = sorted({m.user_id for m in matches if m.user_id is not None})
    assert len(user_ids) == 1
    faces = await groups.people_faces(group, axis(0), user_ids)
    assert sorted((f.face_id, f.person_id, f.name) for f in faces) == sorted(
        (i, "ann", "Ann") for i in ids)
    assert close(sorted(f.cosine for f in faces), [0.5, 0.9])
    template = float(np.linalg.norm((blend(0.9, 0, 2) + blend(0.5, 0, 3)) / 2))
    assert close([f.template_norm for f in faces], [template, template])
    # ann with two faces, and the face with no person as a person of one
    assert await groups.people_sizes(group) == {2: 1, 1: 1}
    renamed = await users.rename_person(1, "ppl", "ann", "Ann Lee")
    assert renamed.name == "Ann Lee" and renamed.faces == 2
    total, people = await users.persons_page(1, "ppl", 0, 10)
    assert total == 1 and [p.name for p in people] == ["Ann Lee"]
    await users.delete_person(1, "ppl", "ann")
    await refused(ERRORS.USER_NOT_FOUND, users.person(1, "ppl", "ann"))
    await refused(ERRORS.USER_NOT_FOUND, users.get_user(1, "ann"))
    group = await groups.group(1, "ppl")
    assert group.face_count == 1
    assert [f.id for f in (await groups.faces_page(1, "ppl", "", 0, 10))[1]] == [lone]
    # deleting a group erases its persons that are in no other group
    await groups.create_group(1, "ppl2", "", MODEL)
    await users.create_person(1, "ppl2", "solo", "Solo")
    await users.create_person(1, "ppl2", "both", "Both")
    await users.create_person(1, "ppl", "both", "Both")
    await groups.delete_group(1, "ppl2")
    await refused(ERRORS.USER_NOT_FOUND, users.get_user(1, "solo"))
    assert [e.group for e in await users.get_user(1, "both")] == ["ppl"]


async def bulk_items_join_their_persons(gallery: GalleryPort) -> None:
    """A bulk item naming a person the group lacks refuses the whole job (nothing stored); a
    person deleted after submission fails only its items."""
    app = await new_app(gallery, "bulkppl")
    await gallery.groups.create_group(app, "g", "", MODEL)
    await gallery.users.create_person(app, "g", "ann", "Ann")
    await gallery.users.create_person(app, "g", "bob", "Bob")
    await refused(ERRORS.USER_NOT_FOUND, gallery.ingest.create(app, "g", batches(
        [NewItem("k0", "", image=b"a", person="ann"), NewItem("k1", "", image=b"b",
                                                             person="zed")])))
    assert await gallery.ingest.recent(app, 10) == []
    items = [NewItem("k0", "", image=b"a", person="ann"), NewItem("k1", "", image=b"b"),
             NewItem("k2", "", image=b"c", person="bob")]
    job_id, _ = await gallery.ingest.create(app, "g", batches(items))
    await gallery.users.delete_person(app, "g", "bob")
    whole = Chunk(job_id=job_id, start=0, stop=3)
    keys, tags = {i: f"k{i}" for i in range(3)}, dict.fromkeys(range(3), "")
    after, _ = await gallery.ingest.complete_chunk(whole, keys, tags, [
        ItemOutcome(i, "enrolled", face=row(axis(i))) for i in range(3)])
    assert after.counts == {"enrolled": 2, "failed": 1}
    listed = await gallery.ingest.items(app, job_id, 0, 10)
    assert [i["status"] for i in listed] == ["enrolled", "enrolled", "failed"]
    assert listed[2]["error"]["error"] == "USER_NOT_FOUND"
    total, faces = await gallery.groups.faces_page(app, "g", "", 0, 10, "ann")
    assert total == 1 and faces[0].id == listed[0]["face_id"]


async def corrections_last_and_constrain_joins(gallery: GalleryPort) -> None:
    """Persons made from clusters, faces moved, "not this person" and merges: what a later
    join and the run's constraints read; cluster edits of the current clustering."""
    app = await new_app(gallery, "fix")
    groups, users, clusters = gallery.groups, gallery.users, gallery.clusters
    group = await groups.create_group(app, "g", "", MODEL)
    ids = [(await groups.add_face(app, "g", row(blend(c, a, 5)), ""))[0].face_id
           for a, c in ((0, 0.95), (0, 0.9), (0, 0.85), (1, 0.95))]
    run = await clusters.create(app, group, 0.5)
    await clusters.start(run.id)
    face_ids, _ = await clusters.snapshot(group.id)
    await clusters.save(run.id, face_ids, np.array([0, 0, 0, 1]), np.array([ids[0], ids[3]]))
    done = await clusters.run(run.id)
    assert await clusters.cluster_faces(done, 0) == ids[:3]
    await refused(ERRORS.CLUSTER_NOT_FOUND, clusters.cluster_faces(done, 9))
    await users.create_person(app, "g", "ann", "Ann")
    joined, left = await users.confirm_faces(app, "g", ids[:3], "ann")
    assert (sorted(joined), left) == (ids[:3], [])
    page = (await clusters.page(done, 0, 10))[2]
    assert [(r.cluster_id, r.person_id, r.person) for r in page] == [
        (0, "ann", "Ann"), (1, None, None)]
    # not this person: the face leaves Ann and is no longer placed
    assert await users.not_person(app, "g", "ann", ids[2])
    assert not await users.not_person(app, "g", "ann", ids[2])
    marks = await clusters.constraints(group.id)
    assert marks.persons.keys() == {ids[0], ids[1]} and ids[2] in marks.not_persons
    # confirming again leaves the marked face out
    joined, left = await users.confirm_faces(app, "g", ids[:3], "ann")
    assert (joined, left) == ([], [ids[2]])

    def vote(neighbours: list[int], cosines: list[float], placed: dict[int, int],
             own: int | None, forbidden: frozenset[int]) -> int | None:
        return nearest_cluster(neighbours, cosines, placed, 0.5, own, forbidden)

    group = await groups.group(app, "g")
    assert await clusters.join_unassigned(done, group, 5, vote) == 1
    page = (await clusters.page(done, 0, 10))[2]
    placed = {f: r.cluster_id for r in page for f in r.faces}
    assert placed[ids[2]] not in (placed[ids[0]],)  # kept apart from Ann
    # a face of Ann enrolled later joins Ann's cluster, though it is nearer the other
    late = (await groups.add_face(app, "g", row(blend(0.99, 1, 5)), "", None, "ann"))[0]
    await clusters.join_unassigned(done, group, 5, vote)
    page = (await clusters.page(done, 0, 10))[2]
    placed = {f: r.cluster_id for r in page for f in r.faces}
    assert placed[late.face_id] == placed[ids[0]]
    # moved on purpose: the mark is cleared
    assert await users.assign_faces(app, "g", [ids[2]], "ann") == 1
    assert ids[2] not in (await clusters.constraints(group.id)).not_persons
    await refused(ERRORS.FACE_NOT_FOUND, users.assign_faces(app, "g", [NO_SUCH_FACE], "ann"))
    await refused(ERRORS.USER_NOT_FOUND, users.assign_faces(app, "g", [ids[3]], "zed"))
    # merge: bob's faces become ann's and bob is gone
    await users.create_person(app, "g", "bob", "Bob")
    assert await users.assign_faces(app, "g", [ids[3]], "bob") == 1
    await users.not_person(app, "g", "bob", ids[0])  # dropped: ann's own face
    merged = await users.merge_persons(app, "g", "ann", "bob")
    assert merged.faces == 5
    await refused(ERRORS.USER_NOT_FOUND, users.person(app, "g", "bob"))
    assert (await clusters.constraints(group.id)).not_persons == {}
    await refused(ERRORS.PARAM_INVALID, users.merge_persons(app, "g", "ann", "ann"))
    # cluster edits: split a face out, move it back, merge clusters
    await clusters.join_unassigned(done, group, 5, vote)
    first = (await clusters.page(done, 0, 10))[2][0]
    made = await clusters.edit(done, None, [first.faces[0]])
    assert await clusters.cluster_faces(done, made) == [first.faces[0]]
    assert await clusters.edit(done, first.cluster_id, [first.faces[0]]) == first.cluster_id
    await refused(ERRORS.CLUSTER_NOT_FOUND, clusters.edit(done, 99, [first.faces[0]]))
    await refused(ERRORS.CLUSTER_NOT_FOUND, clusters.edit(done, first.cluster_id,
                                                          [NO_SUCH_FACE]))


async def a_group_is_exported_and_imported(gallery: GalleryPort) -> None:
    """Pages of a group's faces with all they hold, written back into another group (its
    persons joining it) once per key."""
    app = await new_app(gallery, "transfer")
    groups, users = gallery.groups, gallery.users
    await groups.create_group(app, "src", "", MODEL)
    await users.create_person(app, "src", "ann", "Ann")
    ids = [(await groups.add_face(app, "src", row(axis(i), sha=bytes([i]), thumbnail=b"jpg",
                                                  region=b"region" if i else None),
                                  f"t{i}", f"k{i}" if i else None, "ann" if i < 2 else None)
            )[0].face_id for i in range(3)]
    src = await groups.group(app, "src")
    first = await groups.export_faces(src, 0, 2)
    rest = await groups.export_faces(src, first[-1].id, 10)
    assert [f.id for f in first + rest] == ids
    assert [(f.person_id, f.person_name, f.key, f.tag) for f in first + rest] == [
        ("ann", "Ann", None, "t0"), ("ann", "Ann", "k1", "t1"), (None, None, "k2", "t2")]
    assert first[0].thumbnail == b"jpg" and first[0].sha256 == bytes([0])
    assert (first[0].region, first[1].region) == (None, b"region")
    assert np.allclose(rest[0].vector, axis(2))
    for face in first + rest:
        face.key = face.key or f"export:src:{face.id}"
    done, group = await users.import_faces(app, "dst", MODEL, "copied", first + rest)
    assert (done.persons_created, done.faces_created, done.faces_existing) == (0, 3, 0)
    assert (group.name, group.face_count, group.tag) == ("dst", 3, "copied")
    copied = await groups.export_faces(group, 0, 10)
    assert [f.region for f in copied] == [None, b"region", b"region"]
    again, _ = await users.import_faces(app, "dst", MODEL, "copied", first)
    assert (again.faces_created, again.faces_existing) == (0, 2)
    assert (await users.person(app, "dst", "ann")).faces == 2
    await refused(ERRORS.MODEL_MISMATCH, users.import_faces(app, "dst", OTHER, "", first))


CASES: list[Case] = [
    groups_are_made_listed_and_deleted,
    groups_and_jobs_keep_their_quality_level,
    a_groups_level_and_tag_are_changed,
    an_idempotency_key_makes_one_face,
    faces_are_paged_edited_and_deleted,
    search_ranks_by_cosine,
    a_large_group_gets_its_index,
    one_app_never_reaches_another,
    baidu_users_join_leave_and_move,
    users_are_identified_and_verified,
    identities_are_registered_replaced_and_deleted,
    apps_are_made_found_rotated_and_revoked,
    ingestion_records_each_outcome_once,
    a_deleted_face_leaves_no_key_in_its_ingestion_items,
    ingestion_cancels_and_fails_whole,
    ingestion_feeds_chunks_fairly,
    clusterings_are_saved_joined_and_named,
    persons_own_faces_and_are_fused_over_them,
    bulk_items_join_their_persons,
    corrections_last_and_constrain_joins,
    a_group_is_exported_and_imported,
]
