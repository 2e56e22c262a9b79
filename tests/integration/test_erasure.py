"""Deleting a face or a person erases every trace of it, through the real stack (gateway, a
Celery worker with the real models, PostgreSQL, Redis).

Faces are enrolled by each road a face can take into the gallery: the native enrolment with an
idempotency key, a bulk ingestion job (an inline image and an image URL, each with a key), and
a Baidu user (a person) through Baidu's own SDK. Identify and a clustering job run over them,
and their clusters are named, so results, caches and clusters have held them. Then the faces
are deleted (native DELETE), a person too (Baidu's user/delete) and a /v1 person with its face
(DELETE /v1/groups/{group}/people/{id}), and ALL of PostgreSQL
(every row of every table of the service's database: its text form, every bytea and vector
column, every column that names a face) and ALL of Redis (every key of every database, each
value read by its type) are searched for what identified them: their keys, tags, the person's
uid and user_info, the cluster names, the image URL, the photos' bytes, each stored face's bytes
(thumbnail, image digest, region: whatever bytea its row held) and its embedding (float32 bytes
in both byte orders, base64, msgpack's float64, pgvector's text, and any vector with cosine ~1).
Nothing may be found. Faces and a person enrolled alongside and not deleted stay whole.

Every photo is made for this test (the library photo plus seeded noise), so its bytes and
embedding are its own: other tests on the same stack enrolling the same library photos cannot
be mistaken for a trace.
"""

from __future__ import annotations

import base64
import http.server
import io
import re
import struct
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import psycopg
import pytest
import redis
from PIL import Image

from services.client import Facegate
from services.recognition.vision import enrol_spec
from shared.tasks import (
    COPY_KEY_FIELD,
    INTERACTIVE_QUEUE,
    JOB_REQUEST_PREFIX,
    JOBS_QUEUE,
    VISION_TASK,
    make_celery,
    vision_payload,
)
from tests.conftest import make_app
from tests.support.baidu_sdk import facegate_client
from workers.celery_app import CALL_RESULT_KEEP_S


def _photo(data: bytes, seed: int) -> bytes:
    """The photo with faint seeded noise, as a JPEG: bytes and embedding of its own."""
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(np.int16)
    noise = np.random.default_rng(seed).integers(-4, 5, rgb.shape, dtype=np.int16)
    buffer = io.BytesIO()
    Image.fromarray(np.clip(rgb + noise, 0, 255).astype(np.uint8)).save(buffer, "JPEG",
                                                                        quality=93)
    return buffer.getvalue()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _middle(data: bytes, size: int = 48) -> bytes:
    """A run from the middle of the bytes (a JPEG's entropy-coded data: the photo's own)."""
    start = max(0, len(data) // 2 - size // 2)
    return data[start:start + size]


# What identifies the deleted faces ----------------------------------------------------------
@dataclass
class Needles:
    text: dict[str, str] = field(default_factory=dict)  # what -> a string
    blobs: dict[str, bytes] = field(default_factory=dict)  # what -> bytes
    vectors: dict[str, np.ndarray] = field(default_factory=dict)  # what -> embedding
    face_ids: list[int] = field(default_factory=list)

    def add_vector(self, what: str, vector: np.ndarray, pg_text: str) -> None:
        vector = np.asarray(vector, np.float32)
        self.vectors[what] = vector
        self.blobs[f"{what} float32 LE"] = vector[:8].astype("<f4").tobytes()
        self.blobs[f"{what} float32 BE"] = vector[:8].astype(">f4").tobytes()
        # msgpack carries a Python float as a float64, big-endian, after the byte 0xcb
        self.blobs[f"{what} float64 BE"] = b"".join(struct.pack(">d", float(v))
                                                   for v in vector[:2])
        # pgvector's text form: the first three values as PostgreSQL prints them
        self.text[f"{what} as pgvector text"] = ",".join(pg_text.strip("[]").split(",")[:3])
        self.text[f"{what} as JSON"] = repr(float(vector[0]))  # a float64's shortest text

    def redis_forms(self) -> dict[str, bytes]:
        """Every needle as bytes, and each blob in base64 at the three alignments a base64
        stream can start it at (kombu's message bodies and JSON results are base64)."""
        forms = {what: text.encode() for what, text in self.text.items()}
        for what, blob in self.blobs.items():
            forms[what] = blob
            for offset in range(3):
                part = blob[offset:]
                part = part[:len(part) - len(part) % 3]
                if len(part) >= 12:
                    forms[f"{what} base64+{offset}"] = _b64(part).encode()
        return forms


def _snapshot_face(conn: psycopg.Connection, needles: Needles, face_id: int, what: str) -> None:
    """The stored face's own bytes (every non-null bytea of its row: thumbnail, digest, region,
    whatever the schema holds now) and its embedding, read before it is deleted."""
    columns = [row[0] for row in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name = 'faces' AND data_type = 'bytea'")]
    for column in columns:
        [value] = conn.execute(f'SELECT "{column}" FROM faces WHERE id = %s',
                               (face_id,)).fetchone()
        if value is not None:
            value = bytes(value)
            needles.blobs[f"{what} {column}"] = value if len(value) <= 64 else _middle(value)
    text, = conn.execute("SELECT embedding::text FROM faces WHERE id = %s",
                         (face_id,)).fetchone()
    needles.add_vector(f"{what} embedding",
                       np.array([float(v) for v in text.strip("[]").split(",")], np.float32),
                       text)
    needles.face_ids.append(face_id)


# Searching PostgreSQL -----------------------------------------------------------------------
def scan_postgres(database_url: str, needles: Needles) -> list[str]:
    found = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        columns = conn.execute(
            "SELECT c.table_schema, c.table_name, c.column_name, c.data_type, c.udt_name "
            "FROM information_schema.columns c JOIN information_schema.tables t "
            "ON t.table_schema = c.table_schema AND t.table_name = c.table_name "
            "WHERE t.table_type = 'BASE TABLE' "
            "AND c.table_schema NOT IN ('pg_catalog', 'information_schema')").fetchall()
        tables = sorted({(schema, table) for schema, table, *_ in columns})
        assert ("public", "faces") in tables and ("public", "ingest_items") in tables
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            for what, text in needles.text.items():  # the whole row as text
                [n] = conn.execute(f"SELECT count(*) FROM {name} AS r "
                                   "WHERE strpos(r::text, %s) > 0", (text,)).fetchone()
                if n:
                    found.append(f"PostgreSQL {table}: {n} row(s) hold {what} {text!r}")
            for _, _, column, data_type, udt in (c for c in columns if c[:2] == (schema, table)):
                if data_type == "bytea":
                    for what, blob in needles.blobs.items():
                        [n] = conn.execute(f'SELECT count(*) FROM {name} WHERE '
                                           f'position(%s::bytea in "{column}") > 0',
                                           (blob,)).fetchone()
                        if n:
                            found.append(f"PostgreSQL {table}.{column}: {n} row(s) hold {what}")
                elif udt == "vector":
                    for what, vector in needles.vectors.items():
                        literal = "[" + ",".join(repr(float(v)) for v in vector) + "]"
                        [n] = conn.execute(
                            f'SELECT count(*) FROM {name} WHERE vector_dims("{column}") = %s '
                            f'AND "{column}" <=> %s::vector < 1e-5',
                            (len(vector), literal)).fetchone()
                        if n:
                            found.append(f"PostgreSQL {table}.{column}: {n} row(s) hold "
                                         f"{what} (cosine ~1)")
                elif udt in ("int8", "int4") and (column in ("face_id", "representative")
                                                  or (table == "faces" and column == "id")):
                    [n] = conn.execute(f'SELECT count(*) FROM {name} WHERE "{column}" = '
                                       "ANY(%s)", (needles.face_ids,)).fetchone()
                    if n:
                        found.append(f"PostgreSQL {table}.{column}: {n} row(s) name a "
                                     "deleted face")
    return found


# Searching Redis ----------------------------------------------------------------------------
def _redis_values(client: redis.Redis, key: bytes) -> list[bytes]:
    kind = client.type(key)
    if kind == b"string":
        value = client.get(key)
        return [] if value is None else [value]
    if kind == b"hash":
        return [part for pair in client.hgetall(key).items() for part in pair]
    if kind == b"list":
        return client.lrange(key, 0, -1)
    if kind == b"set":
        return list(client.smembers(key))
    if kind == b"zset":
        return [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
    if kind == b"stream":
        return [part for _, entry in client.xrange(key) for pair in entry.items()
                for part in pair]
    return []


def redis_databases(url: str) -> list[int]:
    info = redis.Redis.from_url(url).info("keyspace")
    return sorted(int(name[2:]) for name in info if re.fullmatch(r"db\d+", name))


def scan_redis(url: str, needles: Needles) -> tuple[list[str], int]:
    """What was found, and how many keys were read."""
    forms = needles.redis_forms()
    found, keys = [], 0
    for db in redis_databases(url):
        client = redis.Redis.from_url(url, db=db)
        for key in client.scan_iter(count=500):
            keys += 1
            values = _redis_values(client, key)
            for what, form in forms.items():
                where = [part for part in [key, *values] if form in part]
                if where:
                    found.append(f"Redis db{db} {key.decode(errors='replace')}: holds {what}")
    return found, keys


# The test -----------------------------------------------------------------------------------
class Images(http.server.BaseHTTPRequestHandler):
    served: ClassVar[dict[str, bytes]] = {}

    def do_GET(self) -> None:
        data = self.served.get(self.path)
        self.send_response(200 if data else 404)
        self.end_headers()
        self.wfile.write(data or b"")

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def image_server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Images)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _cluster_of(clusters: list[dict], face_id: int) -> dict:
    [found] = [c for c in clusters if face_id in c["faces"]]
    return found


def test_deleting_faces_and_a_person_leaves_no_trace(stack, faces, image_server):
    run = uuid.uuid4().hex[:10]
    seed = int(run, 16)
    app = make_app(stack, f"erasure{run}")
    sdk = facegate_client(stack.base_url, "facegate", app.app.api_key, app.secret)
    photos = {name: _photo(faces[name], seed + i) for i, name in enumerate((
        "obama.jpg", "obama2.jpg", "obama3.jpg", "Tom_Hanks_54745.png",  # deleted
        "biden.jpg", "yaoming.jpg", "astronaut.png"))}  # kept
    Images.served[f"/{run}/obama3.jpg"] = photos["obama3.jpg"]
    url = f"{image_server}/{run}/obama3.jpg"
    keys = {name: f"erasure-key-{name}-{run}" for name in ("A", "B", "C", "D", "E")}
    tags = {name: f"erasure-tag-{name}-{run}" for name in ("A", "B", "C")}
    person, person_info = f"erasure_person_{run}", f"erasure-info-{run}"
    bystander = f"erasure_bystander_{run}"
    group, people = f"erasure_{run}", f"erasure_people_{run}"
    names = {"A": f"erasure-cluster-{run}", "U": f"erasure-person-cluster-{run}"}
    native, native_name = f"erasure_native_{run}", f"erasure-native-name-{run}"
    native_photo = _photo(faces["yaoming.jpg"], seed + 50)

    with Facegate(stack.base_url, app.app.api_key, app.secret, timeout=300) as fg:
        # (a) the native enrolment, with an idempotency key
        fg.create_group(group)
        a = fg.enrol(group, photos["obama.jpg"], tag=tags["A"], key=keys["A"])["face_id"]
        d = fg.enrol(group, photos["biden.jpg"], key=keys["D"])["face_id"]
        # (b) a bulk ingestion job: an inline image and an image URL, each with a key
        job = fg.wait_for_job(fg.bulk_items(group, [
            {"image": _b64(photos["obama2.jpg"]), "tag": tags["B"], "key": keys["B"]},
            {"image_url": url, "tag": tags["C"], "key": keys["C"]},
            {"image": _b64(photos["yaoming.jpg"]), "key": keys["E"]},
        ])["job_id"], poll_s=0.25, timeout_s=600)
        items = fg.all_job_items(job["job_id"])
        assert [i["status"] for i in items] == ["enrolled"] * 3, items
        b, c, e = (i["face_id"] for i in items)
        # (c) a person: a Baidu user, beside another who stays
        assert "error_code" not in sdk.addUser(person, person_info, people,
                                               photos["Tom_Hanks_54745.png"])
        assert "error_code" not in sdk.addUser(bystander, "stays", people,
                                               photos["astronaut.png"])
        # (d) a /v1 person with a face of its own
        fg.create_person(group, native_name, key=native)
        n = fg.enrol(group, native_photo, person_id=native)["face_id"]

        # identify and clustering have held them
        assert fg.identify(group, photos["obama.jpg"], top_n=1)["matches"][0]["face_id"] == a
        found = sdk.identifyUser(people, photos["Tom_Hanks_54745.png"])
        assert found["result"][0]["uid"] == person, found
        for name in (group, people):
            fg.wait_for_job(fg.cluster(name)["job_id"], poll_s=0.25, timeout_s=600)
        clusters = fg.all_clusters(group)
        mine = _cluster_of(clusters, a)
        assert {b, c} <= set(mine["faces"]) and d not in mine["faces"], clusters
        fg.name_cluster(group, mine["cluster_id"], names["A"])

        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            [u] = conn.execute("SELECT f.id FROM faces f JOIN users s ON s.id = f.user_id "
                               "WHERE s.uid = %s", (person,)).fetchone()
            needles = Needles()
            for what, face_id in (("face A", a), ("face B", b), ("face C", c),
                                  ("person's face", u), ("/v1 person's face", n)):
                _snapshot_face(conn, needles, face_id, what)
        [theirs] = [x for x in fg.all_clusters(people) if u in x["faces"]]
        assert theirs["faces"] == [u]
        fg.name_cluster(people, theirs["cluster_id"], names["U"])
        needles.text.update({f"key {k}": v for k, v in keys.items() if k in "ABC"})
        needles.text.update({f"tag {k}": v for k, v in tags.items()})
        needles.text.update({f"cluster name {k}": v for k, v in names.items()})
        needles.text.update({"person's uid": person, "person's user_info": person_info,
                             "image URL": url, "/v1 person's id": native,
                             "/v1 person's name": native_name})
        needles.blobs["/v1 person's photo"] = _middle(native_photo)
        for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "Tom_Hanks_54745.png"):
            needles.blobs[f"photo {name}"] = _middle(photos[name])

        # The search finds what is there: before the deletion, in both stores
        before = scan_postgres(stack.database_url, needles)
        for what in ("key A", "key B", "tag C", "person's uid", "cluster name A",
                     "face A embedding (cosine ~1)", "person's face thumbnail"):
            assert any(what in line for line in before), (what, before)
        client = redis.Redis.from_url(stack.redis_url)
        probe = f"erasure-probe-{run}"
        client.hset(probe, "x", b"prefix" + base64.b64encode(b"\x00" + photos["obama.jpg"]))
        try:
            planted, _ = scan_redis(stack.redis_url, needles)
            assert any(probe in line and "photo obama.jpg base64" in line
                       for line in planted), planted
        finally:
            client.delete(probe)

        # Deleted: three faces by the native API, the person by Baidu's user/delete
        for face_id in (a, b, c):
            fg.delete_face(group, face_id)
        assert "error_code" not in sdk.deleteUser(person)
        fg.delete_person(group, native)

        left_pg = scan_postgres(stack.database_url, needles)
        left_redis, read = scan_redis(stack.redis_url, needles)
        assert read > 0  # the stack's Redis holds its own keys: the search read them
        assert left_pg + left_redis == [], "\n".join(left_pg + left_redis)

        # What was not deleted stays whole; the job still reports what it did
        assert {f["face_id"] for f in fg.faces(group)} == {d, e}
        assert [x["uid"] for x in sdk.getGroupUsers(people)["result"]] == [bystander]
        assert _cluster_of(fg.all_clusters(group), d)
        after = fg.job(job["job_id"])
        assert after["counts"] == {"enrolled": 3} and after["progress"]["done"] == 3
        items = fg.all_job_items(job["job_id"])
        assert [i["index"] for i in items] == [0, 1, 2]
        assert [i["status"] for i in items] == ["enrolled"] * 3
        assert items[2]["key"] == keys["E"] and items[2]["face_id"] == e
        for erased in items[:2]:
            assert erased["key"] is None and erased["tag"] == "" and "face_id" not in erased


def test_a_call_result_nobody_reads_leaves_redis_soon_and_a_jobs_stays(stack, faces):
    """A synchronous call's result carries a face's embedding and thumbnail: its gateway deletes
    it once read, and one no gateway reads (it gave up waiting, or died) expires within
    CALL_RESULT_KEEP_S rather than FACEGATE_RESULT_TTL. A job's result is read later: it keeps
    the job's lifetime."""
    celery = make_celery(stack.settings.changed(redis_url=stack.redis_url), "erasure-probe")
    backend = celery.backend
    client = redis.Redis.from_url(stack.redis_url)
    request = {"images": [enrol_spec(faces["biden.jpg"], False, 112)]}
    sent = {}
    for kind, queue, fields in (
            ("call", INTERACTIVE_QUEUE, {}),
            ("job", JOBS_QUEUE, {COPY_KEY_FIELD: f"{JOB_REQUEST_PREFIX}{uuid.uuid4()}"})):
        task_id = str(uuid.uuid4())
        celery.send_task(VISION_TASK, args=[vision_payload(request, **fields)], task_id=task_id,
                         queue=queue)
        sent[kind] = backend.get_key_for_task(task_id)
    ttl = {}
    deadline = time.monotonic() + 300
    while len(ttl) < len(sent) and time.monotonic() < deadline:
        for kind, key in sent.items():
            raw = client.get(key)
            if raw is not None and backend.decode_result(raw)["status"] == "SUCCESS":
                time.sleep(0.5)  # the worker shortens it just after storing it
                ttl[kind] = client.ttl(key)
        time.sleep(0.2)
    assert set(ttl) == {"call", "job"}, ttl
    assert b"embedding" in client.get(sent["job"])  # what it is there for
    assert 0 < ttl["call"] <= CALL_RESULT_KEEP_S, ttl
    assert ttl["job"] > stack.settings.result_ttl_s - 60, ttl
    client.delete(*sent.values())
