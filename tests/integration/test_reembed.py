"""Re-embedding a group into another model through the real stack (gateway, Redis, a Celery
worker running the job's chunks with real models, PostgreSQL): the regions stored at
enrolment, the job's progress, the old model serving until the swap, the new one after, and
faces without a region counted as skipped."""

from __future__ import annotations

import io
import time
import uuid

import httpx
import psycopg
import pytest
from PIL import Image

from services.client import Facegate, JobFailed
from shared.models import MODELS
from shared.settings import Settings

TARGET = "arcface"


def _job(client: httpx.Client, job_id: str) -> dict:
    answer = client.get(f"/v1/jobs/{job_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def _wait(client: httpx.Client, job_id: str, until, timeout_s: float = 300) -> dict:
    deadline = time.monotonic() + timeout_s
    while True:
        job = _job(client, job_id)
        if until(job):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.25)


def _ended(job: dict) -> bool:
    return job["status"] in ("done", "failed")


def _group_row(conn: psycopg.Connection, app_key: str, name: str) -> tuple[int, int, bool]:
    return conn.execute(
        "SELECT g.id, g.model, g.indexed FROM groups g JOIN apps a ON a.id = g.app_id "
        "WHERE a.api_key = %s AND g.name = %s", (app_key, name)).fetchone()


def test_a_group_moves_to_another_model_without_re_enrolling(stack, test_app, client,
                                                              facegate: Facegate, face_paths):
    default = Settings().embedder  # the workers' (and a new group's) model
    assert default != TARGET
    group = f"reembed_{uuid.uuid4().hex[:8]}"
    facegate.create_group(group)
    ids = {name: facegate.enrol(group, face_paths[f"{name}.jpg"], tag=name)["face_id"]
           for name in ("obama", "biden", "yaoming")}
    ids["hanks"] = facegate.enrol(group, face_paths["Tom_Hanks_54745.png"], tag="hanks")[
        "face_id"]

    with psycopg.connect(stack.database_url, autocommit=True) as db:
        group_id, model, _ = _group_row(db, test_app.app.api_key, group)
        assert model == MODELS[default].code
        # every enrolment stored its region: a JPEG square, at most 256 px
        regions = db.execute("SELECT id, region FROM faces WHERE group_id = %s",
                             (group_id,)).fetchall()
        assert len(regions) == 4 and all(region is not None for _, region in regions)
        for _, region in regions:
            picture = Image.open(io.BytesIO(bytes(region)))
            assert picture.format == "JPEG" and picture.width == picture.height <= 256
        # a face enrolled before regions were kept has none
        ids["old"] = facegate.enrol(group, face_paths["obama3.jpg"], tag="old")["face_id"]
        db.execute("UPDATE faces SET region = NULL WHERE id = %s", (ids["old"],))
        before = facegate.identify(group, face_paths["obama2.jpg"], top_n=2)["matches"]
        assert {m["face_id"] for m in before} == {ids["obama"], ids["old"]}

        # without drop_faces, a face that cannot be re-embedded refuses the swap
        answer = client.post(f"/v1/groups/{group}/reembed", json={"model": TARGET})
        assert answer.status_code == 202, answer.text
        accepted = answer.json()
        assert accepted["op"] == "reembed" and accepted["model"] == TARGET
        assert accepted["from_model"] == default and accepted["drop_faces"] is False
        assert accepted["poll"] == f"/v1/jobs/{accepted['job_id']}"
        refused = _wait(client, accepted["job_id"], _ended)
        assert refused["status"] == "failed" and refused["error"]["code"] == "PROCESSING"
        assert refused["progress"] == {"done": 5, "total": 5, "percent": 100.0}
        assert refused["skipped"] == {"no_region": 1, "no_face": 0, "dropped": 0}
        assert _group_row(db, test_app.app.api_key, group)[1] == MODELS[default].code
        assert db.execute("SELECT count(*) FROM faces WHERE group_id = %s AND model <> %s",
                          (group_id, MODELS[default].code)).fetchone()[0] == 0

        # one job per group at a time, and never into the model it holds
        same = client.post(f"/v1/groups/{group}/reembed", json={"model": default})
        assert same.status_code == 400 and same.json()["error"]["code"] == "PARAM_INVALID"
        unknown = client.post(f"/v1/groups/{group}/reembed", json={"model": "no-such-model"})
        assert unknown.status_code == 400

        # with drop_faces: the swap waits on the group's row, held here, so the job is seen
        # with every face embedded and the group still answering with its old model
        with psycopg.connect(stack.database_url) as holder:
            # (NO KEY: the job's own rows still reference the group)
            holder.execute("SELECT id FROM groups WHERE id = %s FOR NO KEY UPDATE",
                           (group_id,))
            answer = client.post(f"/v1/groups/{group}/reembed",
                                 json={"model": TARGET, "drop_faces": True})
            assert answer.status_code == 202, answer.text
            job_id = answer.json()["job_id"]
            busy = client.post(f"/v1/groups/{group}/reembed", json={"model": TARGET})
            assert busy.status_code == 400 and busy.json()["error"]["code"] == "PARAM_INVALID"
            staged = _wait(client, job_id, lambda j: j["progress"]["done"] == 5 or _ended(j))
            assert staged["status"] == "running", staged
            assert staged["skipped"]["no_region"] == 1
            during = facegate.identify(group, face_paths["obama2.jpg"], top_n=2)["matches"]
            assert during == before  # the old vectors, the old model
            holder.rollback()

        done = _wait(client, job_id, _ended)
        assert done["status"] == "done", done
        assert done["result"] == {"model": TARGET, "faces": 4}
        assert done["skipped"] == {"no_region": 1, "no_face": 0, "dropped": 1}
        assert done["progress"]["done"] == done["progress"]["total"] == 5

        group_id, model, indexed = _group_row(db, test_app.app.api_key, group)
        assert model == MODELS[TARGET].code
        held = db.execute("SELECT id, model FROM faces WHERE group_id = %s ORDER BY id",
                          (group_id,)).fetchall()
        assert [face_id for face_id, _ in held] == sorted(
            face_id for name, face_id in ids.items() if name != "old")
        assert {model for _, model in held} == {MODELS[TARGET].code}
        # the group's own index, over the new vectors (FACEGATE_HNSW_MIN_FACES=4 in tests)
        assert indexed
        assert db.execute("SELECT to_regclass(%s)", (f"faces_hnsw_g{group_id}",)).fetchone()[0]
        # the staged vectors went with the swap
        assert db.execute("SELECT count(*) FROM reembed_faces WHERE job_id = %s",
                          (job_id,)).fetchone()[0] == 0

    # after: the new model answers, the same people found
    after = facegate.identify(group, face_paths["obama2.jpg"], top_n=2)["matches"]
    assert after[0]["face_id"] == ids["obama"] and after[0]["tag"] == "obama"
    obama_before = next(m["score"] for m in before if m["face_id"] == ids["obama"])
    assert after[0]["score"] != obama_before  # another model's cosine, calibrated
    assert after[0]["same_person"] and not after[1]["same_person"]
    biden = facegate.identify(group, face_paths["biden.jpg"], top_n=1)["matches"][0]
    assert biden["face_id"] == ids["biden"]
    # a face enrolled now is embedded with the group's new model, and has its region
    again = facegate.enrol(group, face_paths["obama3.jpg"], tag="obama")["face_id"]
    with psycopg.connect(stack.database_url, autocommit=True) as db:
        model, has_region = db.execute("SELECT model, region IS NOT NULL FROM faces "
                                       "WHERE id = %s", (again,)).fetchone()
    assert model == MODELS[TARGET].code and has_region
    found = facegate.identify(group, face_paths["obama2.jpg"], top_n=2)["matches"]
    assert {m["face_id"] for m in found} == {ids["obama"], again}


def test_every_way_into_the_gallery_stores_the_face_region(stack, test_app, client, sdk,
                                                             facegate: Facegate, faces):
    """Single enrolment (above), bulk ingestion, Baidu's user/add and CloudWalk's face/create
    each keep the face's region; a Baidu user copied to another group keeps it too."""
    import base64

    group = f"regions_{uuid.uuid4().hex[:8]}"
    facegate.create_group(group)
    bulk = facegate.bulk_items(group, [{"image": base64.b64encode(faces["biden.jpg"]).decode(),
                                        "tag": "bulk"}])["job_id"]
    facegate.wait_for_job(bulk, poll_s=0.25, timeout_s=300)
    created = client.post("/face/clustering/face/create", data={
        "groupId": group, "tag": "cloudwalk",
        "img": base64.b64encode(faces["yaoming.jpg"]).decode()}).json()
    assert created["result"] == 0, created
    baidu = f"{group}_baidu"
    answer = sdk.addUser("regions_user", "x", baidu, faces["obama.jpg"])
    assert answer.get("error_code", 0) == 0, answer
    copied = sdk.addGroupUser(baidu, f"{baidu}_copy", "regions_user")
    assert copied.get("error_code", 0) == 0, copied
    with psycopg.connect(stack.database_url, autocommit=True) as db:
        rows = db.execute(
            "SELECT g.name, f.tag, length(f.region), length(f.thumbnail) FROM faces f "
            "JOIN groups g ON g.id = f.group_id JOIN apps a ON a.id = g.app_id "
            "WHERE a.api_key = %s AND g.name IN (%s, %s, %s) ORDER BY g.name, f.tag",
            (test_app.app.api_key, group, baidu, f"{baidu}_copy")).fetchall()
    assert [(name, tag) for name, tag, _, _ in rows] == [
        (group, "bulk"), (group, "cloudwalk"), (baidu, "regions_user"),
        (f"{baidu}_copy", "regions_user")]
    # a region is a few KB of JPEG, and more than its thumbnail
    assert all(thumbnail < region < 64_000 for _, _, region, thumbnail in rows)


def test_baidu_calls_use_a_re_embedded_groups_model(stack, test_app, client, sdk, faces):
    """Baidu's identify, verify, multi-identify and user/add embed with the model the named
    groups hold, so a group moved to another model keeps serving Baidu's clients; groups of
    two models in one call are refused (216100), not searched with the wrong vector."""
    group = f"rb_{uuid.uuid4().hex[:8]}"
    other = f"{group}_old"

    def ok(answer: dict) -> dict:
        assert answer.get("error_code", 0) == 0, answer
        return answer

    ok(sdk.addUser("rb_obama", "Barack Obama", group, faces["obama.jpg"]))
    ok(sdk.addUser("rb_biden", "Joe Biden", group, faces["biden.jpg"]))
    ok(sdk.addUser("rb_yao", "Yao Ming", other, faces["yaoming.jpg"]))
    answer = client.post(f"/v1/groups/{group}/reembed", json={"model": TARGET})
    assert answer.status_code == 202, answer.text
    assert _wait(client, answer.json()["job_id"], _ended)["status"] == "done"

    found = ok(sdk.identifyUser(group, faces["obama2.jpg"], {"user_top_num": 2}))
    assert found["result"][0]["uid"] == "rb_obama" and found["result"][0]["scores"][0] > 80
    verified = ok(sdk.verifyUser("rb_obama", group, faces["obama2.jpg"]))
    assert verified["result"][0] > 80
    many = ok(sdk.multiIdentify(group, faces["obama2.jpg"]))
    assert many["result"][0]["uid"] == "rb_obama"
    ok(sdk.addUser("rb_obama", "Barack Obama", group, faces["obama3.jpg"]))
    with psycopg.connect(stack.database_url, autocommit=True) as db:
        models = db.execute(
            "SELECT DISTINCT f.model FROM faces f JOIN groups g ON g.id = f.group_id "
            "JOIN apps a ON a.id = g.app_id WHERE a.api_key = %s AND g.name = %s",
            (test_app.app.api_key, group)).fetchall()
    assert models == [(MODELS[TARGET].code,)]

    mixed = sdk.identifyUser(f"{group},{other}", faces["obama2.jpg"])
    assert mixed["error_code"] == 216100 and "different models" in mixed["error_msg"], mixed
    assert ok(sdk.identifyUser(other, faces["yaoming.jpg"]))["result"][0]["uid"] == "rb_yao"


def test_a_cancelled_re_embedding_leaves_the_group_as_it_was_and_free(
        stack, test_app, client, facegate: Facegate, face_paths):
    """POST /v1/jobs/{id}/cancel on a re-embedding whose vectors are all staged and whose swap
    waits on the group's row: no swap follows, the staged vectors go, the group answers with
    its old model and index, and a new re-embedding of it is accepted and completes."""
    default = Settings().embedder
    group = f"rcancel_{uuid.uuid4().hex[:8]}"
    facegate.create_group(group)
    for name in ("obama", "biden", "yaoming"):
        facegate.enrol(group, face_paths[f"{name}.jpg"], tag=name)
    facegate.enrol(group, face_paths["Tom_Hanks_54745.png"], tag="hanks")
    before = facegate.identify(group, face_paths["obama2.jpg"], top_n=2)["matches"]

    with psycopg.connect(stack.database_url, autocommit=True) as db:
        group_id, _, indexed = _group_row(db, test_app.app.api_key, group)
        assert indexed
        with psycopg.connect(stack.database_url) as holder:
            holder.execute("SELECT id FROM groups WHERE id = %s FOR NO KEY UPDATE",
                           (group_id,))
            answer = client.post(f"/v1/groups/{group}/reembed", json={"model": TARGET})
            assert answer.status_code == 202, answer.text
            job_id = answer.json()["job_id"]
            staged = _wait(client, job_id, lambda j: j["progress"]["done"] == 4 or _ended(j))
            assert staged["status"] == "running", staged
            cancelled = client.post(f"/v1/jobs/{job_id}/cancel")
            assert cancelled.status_code == 200, cancelled.text
            assert cancelled.json()["op"] == "reembed"
            assert cancelled.json()["status"] == "cancelled"
            holder.rollback()
        # the swap, let go, finds the job ended and builds the group's index again (it may
        # have dropped it already: that needs no lock the holder had)
        deadline = time.monotonic() + 120
        while not (_group_row(db, test_app.app.api_key, group)[2] and db.execute(
                "SELECT to_regclass(%s)", (f"faces_hnsw_g{group_id}",)).fetchone()[0]):
            assert time.monotonic() < deadline, "the group's index was not built again"
            time.sleep(0.25)
        assert _group_row(db, test_app.app.api_key, group)[1] == MODELS[default].code
        assert db.execute("SELECT count(*) FROM faces WHERE group_id = %s AND model <> %s",
                          (group_id, MODELS[default].code)).fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM reembed_faces WHERE job_id = %s",
                          (job_id,)).fetchone()[0] == 0
    assert _job(client, job_id)["status"] == "cancelled"
    again = client.post(f"/v1/jobs/{job_id}/cancel")  # cancelling twice changes nothing
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    assert client.post(f"/v1/jobs/{uuid.uuid4()}/cancel").status_code == 404
    assert facegate.identify(group, face_paths["obama2.jpg"], top_n=2)["matches"] == before

    answer = client.post(f"/v1/groups/{group}/reembed", json={"model": TARGET})
    assert answer.status_code == 202, answer.text
    assert _wait(client, answer.json()["job_id"], _ended)["status"] == "done"
    found = facegate.identify(group, face_paths["obama2.jpg"], top_n=1)["matches"][0]
    assert found["tag"] == "obama" and found["same_person"]


def test_regions_can_be_switched_off(stack, facegate: Facegate, face_paths):
    """FACEGATE_KEEP_REGIONS=false (a gateway of its own): an enrolment stores no region, an
    import drops the file's, and such a group's re-embedding counts its faces as no_region."""
    from tests.conftest import make_app

    url = stack.start_extra_gateway({"FACEGATE_KEEP_REGIONS": "false"})
    app = make_app(stack, f"noregions_{uuid.uuid4().hex[:6]}")
    source = f"withregions_{uuid.uuid4().hex[:8]}"
    facegate.create_group(source)
    facegate.enrol(source, face_paths["biden.jpg"], tag="biden")
    exported = facegate.export_group(source)
    with Facegate(url, app.app.api_key, app.secret, timeout=180) as fg:
        fg.create_group("plain")
        fg.enrol("plain", face_paths["obama.jpg"], tag="obama")
        fg.import_group("copied", exported)
        with psycopg.connect(stack.database_url, autocommit=True) as db:
            rows = db.execute(
                "SELECT g.name, f.region IS NULL, f.thumbnail IS NULL FROM faces f "
                "JOIN groups g ON g.id = f.group_id WHERE g.app_id = %s ORDER BY g.name",
                (app.app.id,)).fetchall()
        assert rows == [("copied", True, False), ("plain", True, False)]
        job = fg.reembed("plain", TARGET)
        with pytest.raises(JobFailed) as failed:
            fg.wait_for_job(job["job_id"], poll_s=0.25, timeout_s=120)
        assert "FACEGATE_KEEP_REGIONS" in str(failed.value)
        assert fg.job(job["job_id"])["skipped"]["no_region"] == 1
