"""Corrections through the real stack (gateway, Redis, a Celery worker clustering with the real
models, PostgreSQL + pgvector), with real faces and the typed client: a cluster confirmed as a
person, "not this person" kept by a second clustering and by joins, a face enrolled to a person
joining its cluster, two persons merged, a cluster split and a face moved back."""

from __future__ import annotations

import io
import uuid

import pytest
from PIL import Image, ImageOps

from services.client import ApiError, Facegate


def _mirrored(data: bytes) -> bytes:
    out = io.BytesIO()
    ImageOps.mirror(Image.open(io.BytesIO(data)).convert("RGB")).save(out, "JPEG", quality=92)
    return out.getvalue()


def _placed(facegate: Facegate, group: str) -> dict[int, dict]:
    """Each face's cluster in the group's latest clustering (new faces joined)."""
    return {f: c for c in facegate.all_clusters(group) for f in c["faces"]}


def _cluster(facegate: Facegate, group: str) -> None:
    job = facegate.wait_for_job(facegate.cluster(group)["job_id"], poll_s=0.25, timeout_s=300)
    assert job["status"] == "done"


def test_corrections_stick_through_a_second_clustering_and_new_faces(facegate: Facegate,
                                                                      faces):
    group = f"fix{uuid.uuid4().hex[:8]}"
    facegate.create_group(group)
    ids = {name: facegate.enrol(group, faces[name])["face_id"]
           for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "yaoming.jpg")}
    _cluster(facegate, group)
    placed = _placed(facegate, group)
    obama = placed[ids["obama.jpg"]]
    assert {ids["obama2.jpg"], ids["obama3.jpg"]} <= set(obama["faces"])

    confirmed = facegate.confirm_cluster(group, obama["cluster_id"], name="Barack Obama")
    person = confirmed["person_id"]
    assert confirmed["joined"] == confirmed["faces"] == len(obama["faces"])
    assert confirmed["left"] == []
    listed = _placed(facegate, group)[ids["obama.jpg"]]
    assert (listed["person_id"], listed["person"]) == (person, "Barack Obama")

    # "not this person" on a face the model puts with him: out now, and after re-clustering
    marked = facegate.not_person(group, person, ids["obama3.jpg"])
    assert marked["was_theirs"]
    assert facegate.person(group, person)["faces"] == len(obama["faces"]) - 1
    placed = _placed(facegate, group)
    assert placed[ids["obama3.jpg"]]["cluster_id"] != placed[ids["obama.jpg"]]["cluster_id"]
    _cluster(facegate, group)
    placed = _placed(facegate, group)
    assert placed[ids["obama2.jpg"]]["cluster_id"] == placed[ids["obama.jpg"]]["cluster_id"]
    assert placed[ids["obama3.jpg"]]["cluster_id"] != placed[ids["obama.jpg"]]["cluster_id"]
    assert placed[ids["obama.jpg"]]["person_id"] == person
    # confirming the cluster again leaves the marked face out
    again = facegate.confirm_cluster(group, placed[ids["obama.jpg"]]["cluster_id"],
                                     person_id=person)
    assert again["joined"] == 0

    # a photo enrolled to the person joins its cluster at the next listing
    late = facegate.enrol(group, _mirrored(faces["obama2.jpg"]), person_id=person)["face_id"]
    placed = _placed(facegate, group)
    assert placed[late]["cluster_id"] == placed[ids["obama.jpg"]]["cluster_id"]

    # two persons found to be one
    joe = facegate.create_person(group, "Joe")["person_id"]
    joseph = facegate.create_person(group, "Joseph")["person_id"]
    facegate.move_face(group, ids["biden.jpg"], joe)
    mirrored = facegate.enrol(group, _mirrored(faces["biden.jpg"]), person_id=joseph)
    merged = facegate.merge_people(group, joe, joseph)
    assert merged["faces"] == 2
    assert {f["face_id"] for f in facegate.person_faces(group, joe)} == {
        ids["biden.jpg"], mirrored["face_id"]}
    with pytest.raises(ApiError) as caught:
        facegate.person(group, joseph)
    assert caught.value.status == 404
    facegate.move_face(group, mirrored["face_id"], None)
    assert facegate.person(group, joe)["faces"] == 1

    # a cluster split, and the face moved back
    home = placed[ids["obama.jpg"]]["cluster_id"]
    split = facegate.split_cluster(group, home, [ids["obama2.jpg"]])["cluster_id"]
    assert split != home and _placed(facegate, group)[ids["obama2.jpg"]]["cluster_id"] == split
    facegate.move_to_cluster(group, home, [ids["obama2.jpg"]])
    assert _placed(facegate, group)[ids["obama2.jpg"]]["cluster_id"] == home
    with pytest.raises(ApiError) as caught:
        facegate.split_cluster(group, home, [ids["yaoming.jpg"]])
    assert caught.value.status == 400


def test_correction_errors_are_clear_and_change_nothing(facegate: Facegate, faces):
    group = f"fix{uuid.uuid4().hex[:8]}"
    facegate.create_group(group)
    face = facegate.enrol(group, faces["obama.jpg"])["face_id"]
    with pytest.raises(ApiError) as caught:
        facegate.confirm_cluster(group, 0, name="x")
    assert caught.value.status == 404 and caught.value.code == "CLUSTER_NOT_FOUND"
    with pytest.raises(ApiError) as caught:
        facegate.move_face(group, face, "nobody")
    assert caught.value.status == 404 and caught.value.code == "USER_NOT_FOUND"
    ann = facegate.create_person(group, "Ann")["person_id"]
    with pytest.raises(ApiError) as caught:
        facegate.move_face(group, 987654321, ann)
    assert caught.value.status == 404 and caught.value.code == "FACE_NOT_FOUND"
    with pytest.raises(ApiError) as caught:
        facegate.merge_people(group, ann, ann)
    assert caught.value.status == 400
    assert facegate.faces(group)[0]["person_id"] is None
