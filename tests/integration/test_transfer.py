"""A group's export and import through the real stack (gateway, Celery worker with the real
models, PostgreSQL + pgvector): a round trip into another group of the same app and into
another app (as into another deployment) gives the same identify answers; a part at a time
gives the same group; importing twice writes nothing twice; a file of another model, or cut
short, is refused with nothing written."""

from __future__ import annotations

import json
import uuid

import pytest

from services.client import ApiError, Facegate
from shared.models import ARCFACE
from tests.conftest import make_app


def _answers(facegate: Facegate, group: str, probe: bytes) -> list[tuple]:
    found = facegate.identify(group, probe)
    return ([(p["person_id"], p["name"], p["score"], p["same_person"], p["faces"])
             for p in found["people"]],
            [(m["tag"], m["score"]) for m in found["matches"]], found["verdict"])


def test_a_group_goes_to_a_file_and_back_with_the_same_answers(stack, facegate: Facegate,
                                                              faces):
    run = uuid.uuid4().hex[:8]
    source = f"out{run}"
    facegate.create_group(source, tag="office")
    facegate.create_person(source, "Barack Obama", key=f"obama{run}")
    facegate.create_person(source, "Joe Biden", key=f"biden{run}")
    for name in ("obama.jpg", "obama2.jpg"):
        facegate.enrol(source, faces[name], tag=name, person_id=f"obama{run}")
    facegate.enrol(source, faces["biden.jpg"], tag="biden", person_id=f"biden{run}")
    facegate.enrol(source, faces["Tom_Hanks_54745.png"], tag="walk-in", key=f"k{run}")
    probes = [faces["obama3.jpg"], faces["yaoming.jpg"]]
    before = [_answers(facegate, source, p) for p in probes]

    data = facegate.export_group(source)
    lines = [json.loads(line) for line in data.splitlines()]
    assert lines[0]["format"] == "facegate-group" and lines[0]["group"]["tag"] == "office"
    assert lines[0]["model"]["key"] == "facenet-vggface2-m32" and len(lines) == 6
    assert lines[-1]["end"]["faces"] == 4

    # the same app, another group: the persons are the app's own, now in that group too
    copy = f"in{run}"
    done = facegate.import_group(copy, data)
    assert (done["faces_created"], done["faces_existing"], done["persons_created"]) == (4, 0, 0)
    assert [_answers(facegate, copy, p) for p in probes] == before
    again = facegate.import_group(copy, data)
    assert (again["faces_created"], again["faces_existing"]) == (0, 4)
    assert facegate.people(copy)["total"] == 2

    # another app, as another deployment: persons made, a part at a time
    other = make_app(stack, f"transfer{run}")
    with Facegate(stack.base_url, other.app.api_key, other.secret, timeout=180) as elsewhere:
        first = facegate.export_group(source, limit=3)
        last_id = json.loads(first.splitlines()[-1])["end"]["last_id"]
        second = facegate.export_group(source, after=last_id)
        assert json.loads(second.splitlines()[-1])["end"]["faces"] == 1
        made = [elsewhere.import_group(source, part) for part in (first, second)]
        assert sum(m["persons_created"] for m in made) == 2
        assert sum(m["faces_created"] for m in made) == 4
        assert [_answers(elsewhere, source, p) for p in probes] == before
        assert elsewhere.people(source)["total"] == 2


def test_a_file_of_another_model_or_cut_short_is_refused_and_nothing_written(
        facegate: Facegate, faces):
    run = uuid.uuid4().hex[:8]
    source = f"src{run}"
    facegate.create_group(source)
    facegate.enrol(source, faces["biden.jpg"], tag="biden")
    lines = facegate.export_group(source).splitlines()

    header = json.loads(lines[0])
    header["model"] = {"key": ARCFACE.key, "code": ARCFACE.code, "dim": ARCFACE.dim}
    other_model = b"\n".join([json.dumps(header).encode(), *lines[1:]])
    with pytest.raises(ApiError) as caught:
        facegate.import_group(f"a{run}", other_model)
    assert caught.value.status == 409 and caught.value.code == "MODEL_MISMATCH"

    with pytest.raises(ApiError) as caught:
        facegate.import_group(f"b{run}", b"\n".join(lines[:-1]))  # no end line
    assert caught.value.status == 400 and "incomplete" in str(caught.value)
    broken = json.loads(lines[1])
    broken["face"]["embedding"] = "AAAA"
    with pytest.raises(ApiError) as caught:
        facegate.import_group(f"c{run}", b"\n".join([lines[0], json.dumps(broken).encode(),
                                                     lines[2]]))
    assert caught.value.status == 400 and "line 2" in str(caught.value)
    names = {g["name"] for g in facegate.groups(1, 1000)}
    assert not names & {f"a{run}", f"b{run}", f"c{run}"}


def test_a_file_of_another_model_is_imported_and_re_embedded_when_asked(facegate: Facegate,
                                                                        faces):
    """An ArcFace group (re-embedded here from FaceNet's regions) exported, then imported
    into a FaceNet service's group with reembed=true: the group holds the file's vectors,
    then a job moves it to FaceNet from the regions the file carries, and identify finds the
    person again."""
    run = uuid.uuid4().hex[:8]
    source = f"arc{run}"
    facegate.create_group(source)
    facegate.create_person(source, "Barack Obama", key=f"o{run}")
    for name in ("obama.jpg", "obama2.jpg"):
        facegate.enrol(source, faces[name], person_id=f"o{run}")
    facegate.enrol(source, faces["biden.jpg"], tag="biden")
    moved = facegate.wait_for_job(facegate.reembed(source, "arcface")["job_id"], timeout_s=300)
    assert moved["status"] == "done"
    data = facegate.export_group(source)
    header = json.loads(data.splitlines()[0])
    assert header["model"]["key"] == ARCFACE.key
    assert all(json.loads(line)["face"]["region"] for line in data.splitlines()[1:-1])

    with pytest.raises(ApiError) as caught:
        facegate.import_group(f"back{run}", data)
    assert caught.value.code == "MODEL_MISMATCH" and "reembed=true" in str(caught.value)
    done = facegate.import_group(f"back{run}", data, reembed=True)
    assert done["model"] == ARCFACE.key and done["faces_created"] == 3 and done["reembed_job"]
    job = facegate.wait_for_job(done["reembed_job"], timeout_s=300)
    assert job["status"] == "done" and job["model"] == "facenet"
    found = facegate.identify(f"back{run}", faces["obama3.jpg"])
    assert found["people"][0]["person_id"] == f"o{run}" and found["people"][0]["same_person"]
