"""Load scenarios for locust, one user class each, through every API dialect with real face
photos and an app's credentials:

- CloudWalkUser: the CloudWalk mix (identify 4 : detect 3 : compare 2 : enrol 1);
- BaiduUser: the same mix in Baidu v2 (OAuth token, identify / detect / match / user add);
- NativeUser: the same mix in the native /v1 API (multipart images);
- NativeIdentifyUser: identification only (/v1/groups/{group}/identify), the gate's load;
- IngestUser: one bulk ingestion job after another (a tar archive of photos to
  POST /v1/groups/{group}/faces/bulk, its status polled until it ends), at most one such user:
  run it beside NativeIdentifyUser for ingestion under identify load.

Pick scenarios by class name; tasks also carry tags (the dialect, and identify / detect /
compare / enrol / ingest) for --tags / --exclude-tags:

    locust -f bench/locustfile.py --host http://127.0.0.1:8080          # the web UI
    FACEGATE_APP_ID=... FACEGATE_APP_SECRET=... locust -f bench/locustfile.py --headless \\
        -u 8 -r 4 -t 60s --host https://facegate.example.com --csv report CloudWalkUser
    ... --headless -u 4 -r 4 -t 60s IngestUser NativeIdentifyUser       # ingestion + identify

bench/loadtest.py runs them headless against a private local stack (and seeds galleries large
enough for the HNSW path); tests/integration/test_locust_smoke.py runs each for a few seconds.

Each user enrols into a group of its own at start (and deletes it at the end), then loops over
its weighted tasks. With FACEGATE_LOAD_GROUP set, identification searches that (pre-filled)
group of the app instead. Photos: LFW View 1 people (central 150 x 150 crops, as bench/lfw.py
sends them: one photo of a person enrolled, another sent as the probe) when FACEGATE_LOAD_LFW
(default: bench/lfw.py's folder) exists, and the portrait test faces (tests/support/faces.py
fetches them from PyPI packages); FACEGATE_LOAD_LFW=none uses the portraits alone. A refusal
by the enrolment quality gate is a correct answer, not a failure.

Settings (environment): FACEGATE_APP_ID / FACEGATE_APP_SECRET (the app), FACEGATE_LOAD_GROUP
(identify there), FACEGATE_LOAD_LFW (folder or `none`), FACEGATE_LOAD_LFW_PEOPLE (40),
FACEGATE_LOAD_START_ENROL (faces each user enrols at start, at most 6), and
FACEGATE_LOAD_BULK_PHOTOS (16 per ingestion job). Name the user classes: without names locust
runs every class, ingestion included.
"""

from __future__ import annotations

import base64
import csv
import io
import os
import random
import tarfile
import time
import uuid
from pathlib import Path

import gevent
from locust import HttpUser, between, events, tag, task

from bench.load_photos import lfw_pairs, lfw_root, lfw_whole, portraits
from gateway.dialects.cloudwalk.codes import CODES as CLOUDWALK_CODES

# The enrolment quality gate's refusals (shared/errors.py kinds): correct answers for a photo
QUALITY_KINDS = {"FACE_TOO_SMALL", "FACE_TOO_LARGE", "FACE_TOO_BRIGHT", "FACE_TOO_DARK",
                 "FACE_BLURRED", "IMAGE_QUALITY"}
CLOUDWALK_QUALITY = {CLOUDWALK_CODES[kind][0] for kind in QUALITY_KINDS}
LFW_PEOPLE = int(os.environ.get("FACEGATE_LOAD_LFW_PEOPLE", "40"))
BULK_PHOTOS = int(os.environ.get("FACEGATE_LOAD_BULK_PHOTOS", "16"))  # photos per ingest job

PORTRAITS = portraits()
LFW = lfw_root()
LFW_PAIRS = lfw_pairs(LFW, LFW_PEOPLE) if LFW else []
# Enrolled at each user's start: two portraits and up to four LFW people (or the first
# FACEGATE_LOAD_START_ENROL of them)
START_ENROL = ([PORTRAITS["obama.jpg"], PORTRAITS["astronaut.png"]] + [
    enrol for enrol, _ in LFW_PAIRS[:4]])[:int(os.environ.get("FACEGATE_LOAD_START_ENROL", "6"))]
ENROL = [PORTRAITS["obama.jpg"], PORTRAITS["astronaut.png"]] + [enrol for enrol, _ in LFW_PAIRS]
PROBES = [PORTRAITS[n] for n in ("obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png")] + [
    probe for _, probe in LFW_PAIRS]
CROWD = PORTRAITS["t1.jpg"]  # 1280 x 853, six faces
REFERENCE = PORTRAITS["obama.jpg"]
B64 = {id(image): base64.b64encode(image).decode()
       for image in [*ENROL, *PROBES, CROWD, REFERENCE]}


@events.init.add_listener
def _clock_now(**_kwargs) -> None:
    """gevent's loop caches the time, and reading the photos above kept it still for
    seconds: without this, --run-time ends early by that long."""
    gevent.get_hub().loop.update_now()


def b64(image: bytes) -> str:
    return B64.get(id(image)) or base64.b64encode(image).decode()


def bulk_photos() -> list[tuple[str, bytes]]:
    """Whole LFW photos for ingestion (250 x 250, the labelled person in the middle), or the
    portraits."""
    if LFW:
        return lfw_whole(LFW)
    return [(name, data) for name, data in PORTRAITS.items() if name != "t1.jpg"]


def new_group() -> str:
    return "load" + uuid.uuid4().hex[:12]


class CloudWalkUser(HttpUser):
    """The CloudWalk mix through /face/... with the app's credential headers."""

    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.client.headers.update({"app_id": os.environ.get("FACEGATE_APP_ID", ""),
                                    "app_secret": os.environ.get("FACEGATE_APP_SECRET", "")})
        self.gallery_group = new_group()
        self.search_group = os.environ.get("FACEGATE_LOAD_GROUP") or self.gallery_group
        self._post("/face/clustering/group/create", "group/create", groupId=self.gallery_group)
        for image in START_ENROL:
            self.enrol_one(image)

    def on_stop(self) -> None:
        self._post("/face/clustering/group/delete", "group/delete", groupId=self.gallery_group)

    def _post(self, path: str, name: str, accept: frozenset[int] = frozenset(), **form) -> None:
        with self.client.post(path, data=form, name=name, catch_response=True) as response:
            body = response.json() if response.status_code == 200 else {}
            if body.get("result") != 0 and body.get("result") not in accept:
                response.failure(f"HTTP {response.status_code}, result {body.get('result')}: "
                                 f"{body.get('info')}")

    def enrol_one(self, image: bytes) -> None:
        self._post("/face/clustering/face/create", "face/create", frozenset(CLOUDWALK_QUALITY),
                   groupId=self.gallery_group, tag="load", img=b64(image))

    @tag("cloudwalk", "identify")
    @task(4)
    def identify(self) -> None:
        self._post("/face/recog/group/identify", "identify", groupId=self.search_group, topN=1,
                   img=b64(random.choice(PROBES)))

    @tag("cloudwalk", "detect")
    @task(3)
    def detect(self) -> None:
        self._post("/face/tool/detect", "detect", img=b64(CROWD))

    @tag("cloudwalk", "compare")
    @task(2)
    def compare(self) -> None:
        self._post("/face/tool/compare", "compare", imgA=b64(REFERENCE),
                   imgB=b64(random.choice(PROBES)))

    @tag("cloudwalk", "enrol")
    @task(1)
    def enrol(self) -> None:
        self.enrol_one(random.choice(ENROL))


class BaiduUser(HttpUser):
    """The same mix in Baidu face API v2: an OAuth token (fetched again, as Baidu's SDKs do,
    when under half its life or 30 s is left), form posts under /rest/2.0/face/v2. Enrolment
    is user/add with the gate off (quality_control NONE, Baidu v2's own default)."""

    wait_time = between(0.05, 0.2)
    prefix = "/rest/2.0/face/v2"

    def on_start(self) -> None:
        self.token, self.refresh_at = "", 0.0
        self.gallery_group = new_group()
        self.search_group = os.environ.get("FACEGATE_LOAD_GROUP") or self.gallery_group
        self.uids: list[str] = []
        for image in START_ENROL:
            self.add_user(image)

    def on_stop(self) -> None:
        for uid in self.uids:
            self._post("/faceset/user/delete", "user/delete", uid=uid,
                       group_id=self.gallery_group)

    def access_token(self) -> str:
        if time.monotonic() >= self.refresh_at:
            with self.client.get("/oauth/2.0/token", name="oauth/token", catch_response=True,
                                 params={"grant_type": "client_credentials",
                                         "client_id": os.environ.get("FACEGATE_APP_ID", ""),
                                         "client_secret": os.environ.get(
                                             "FACEGATE_APP_SECRET", "")}) as response:
                body = response.json() if response.status_code == 200 else {}
                if "access_token" not in body:
                    response.failure(f"HTTP {response.status_code}: {body}")
                    return ""
                ttl = float(body["expires_in"])
                self.token = body["access_token"]
                self.refresh_at = time.monotonic() + ttl - min(30.0, ttl / 2)
        return self.token

    def _post(self, path: str, name: str, **form) -> bool:
        token = self.access_token()
        if not token:
            return False
        with self.client.post(f"{self.prefix}{path}", params={"access_token": token},
                              data=form, name=name, catch_response=True) as response:
            body = response.json() if response.status_code == 200 else {"error_code": "HTTP"}
            if "error_code" in body:
                response.failure(f"HTTP {response.status_code}, error_code "
                                 f"{body.get('error_code')}: {body.get('error_msg')}")
                return False
        return True

    def add_user(self, image: bytes) -> None:
        uid = f"u{len(self.uids)}_{uuid.uuid4().hex[:8]}"
        # kept for on_stop's user/delete only once added: a run that ends while the add is in
        # flight (locust's -t) must not then delete a user that never was
        if self._post("/faceset/user/add", "user/add", uid=uid, user_info="load",
                      group_id=self.gallery_group, image=b64(image), quality_control="NONE"):
            self.uids.append(uid)

    @tag("baidu", "identify")
    @task(4)
    def identify(self) -> None:
        self._post("/identify", "identify", group_id=self.search_group, user_top_num=1,
                   image=b64(random.choice(PROBES)))

    @tag("baidu", "detect")
    @task(3)
    def detect(self) -> None:
        self._post("/detect", "detect", image=b64(CROWD), max_face_num=10)

    @tag("baidu", "compare")
    @task(2)
    def match(self) -> None:
        self._post("/match", "match", images=f"{b64(REFERENCE)},{b64(random.choice(PROBES))}")

    @tag("baidu", "enrol")
    @task(1)
    def enrol(self) -> None:
        self.add_user(random.choice(ENROL))


class _Native(HttpUser):
    """The native /v1 API: credential headers, images as multipart files, errors as HTTP
    statuses with an error object."""

    abstract = True
    wait_time = between(0.05, 0.2)
    enrols_at_start = True

    def on_start(self) -> None:
        self.client.headers.update({"app_id": os.environ.get("FACEGATE_APP_ID", ""),
                                    "app_secret": os.environ.get("FACEGATE_APP_SECRET", "")})
        self.gallery_group = new_group()
        self.search_group = os.environ.get("FACEGATE_LOAD_GROUP") or self.gallery_group
        self._call("POST", "/v1/groups", "groups create", json={"name": self.gallery_group})
        if self.search_group == self.gallery_group and self.enrols_at_start:
            for image in START_ENROL:
                self.enrol_one(image)

    def on_stop(self) -> None:
        self._call("DELETE", f"/v1/groups/{self.gallery_group}", "groups delete")

    def _call(self, method: str, path: str, name: str, accept: frozenset[str] = frozenset(),
              **kwargs) -> dict:
        with self.client.request(method, path, name=name, catch_response=True,
                                 **kwargs) as response:
            try:
                body = response.json()
            except ValueError:
                body = {}
            if response.status_code >= 400:
                error = (body.get("error") or {}) if isinstance(body, dict) else {}
                if error.get("code") in accept:
                    response.success()
                else:
                    response.failure(f"HTTP {response.status_code}: {error.get('code')} "
                                     f"{error.get('message', '')}")
            return body if isinstance(body, dict) else {}

    def enrol_one(self, image: bytes) -> None:
        self._call("POST", f"/v1/groups/{self.gallery_group}/faces", "faces create",
                   frozenset(QUALITY_KINDS), data={"tag": "load"},
                   files={"image": ("image", image, "application/octet-stream")})

    def identify_one(self) -> None:
        self._call("POST", f"/v1/groups/{self.search_group}/identify", "identify",
                   data={"top_n": 1},
                   files={"image": ("image", random.choice(PROBES), "application/octet-stream")})


class NativeUser(_Native):
    """The same mix in the native API."""

    @tag("native", "identify")
    @task(4)
    def identify(self) -> None:
        self.identify_one()

    @tag("native", "detect")
    @task(3)
    def detect(self) -> None:
        self._call("POST", "/v1/detect", "detect",
                   files={"image": ("image", CROWD, "application/octet-stream")})

    @tag("native", "compare")
    @task(2)
    def compare(self) -> None:
        self._call("POST", "/v1/compare", "compare", files={
            "image_a": ("image_a", REFERENCE, "application/octet-stream"),
            "image_b": ("image_b", random.choice(PROBES), "application/octet-stream")})

    @tag("native", "enrol")
    @task(1)
    def enrol(self) -> None:
        self.enrol_one(random.choice(ENROL))


class NativeIdentifyUser(_Native):
    """Identification only, as a gate sends it: against FACEGATE_LOAD_GROUP when set (a large
    gallery), or the user's own small group."""

    @tag("native", "identify")
    @task
    def identify(self) -> None:
        self.identify_one()


class IngestUser(_Native):
    """Bulk ingestion: a job of FACEGATE_LOAD_BULK_PHOTOS photos (each with a key of its own,
    so every one runs the models), polled every 0.5 s until it ends; then the next. The job's
    whole time shows as the request `bulk job`; an item that failed (not a refusal of the
    quality gate or a photo without a face) fails it."""

    fixed_count = 1
    wait_time = between(0.0, 0.1)
    enrols_at_start = False  # its group fills from its jobs

    def on_start(self) -> None:
        super().on_start()
        self.photos = bulk_photos()
        self.cursor = 0

    @tag("native", "ingest")
    @task
    def ingest(self) -> None:
        chosen = [self.photos[(self.cursor + k) % len(self.photos)] for k in range(BULK_PHOTOS)]
        self.cursor += BULK_PHOTOS
        archive, manifest = io.BytesIO(), io.StringIO()
        writer = csv.writer(manifest)
        writer.writerow(["file", "tag", "key"])
        with tarfile.open(fileobj=archive, mode="w") as tar:
            for k, (name, data) in enumerate(chosen):
                member = f"{k:03d}_{Path(name).name}"
                info = tarfile.TarInfo(member)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
                writer.writerow([member, name[:128], uuid.uuid4().hex])
        started = time.perf_counter()
        accepted = self._call("POST", f"/v1/groups/{self.gallery_group}/faces/bulk",
                              "faces/bulk (submit)", files={
                                  "archive": ("photos.tar", archive.getvalue(),
                                              "application/x-tar"),
                                  "manifest": ("manifest.csv", manifest.getvalue().encode(),
                                               "text/csv")})
        job_id = accepted.get("job_id")
        if not job_id:
            return
        while True:
            time.sleep(0.5)
            job = self._call("GET", f"/v1/jobs/{job_id}", "jobs/{id}")
            if job.get("status") not in ("queued", "running"):
                break
        counts = job.get("counts") or {}
        ok = job.get("status") == "done" and not counts.get("failed")
        self.environment.events.request.fire(
            request_type="JOB", name=f"bulk job ({BULK_PHOTOS} photos)",
            response_time=(time.perf_counter() - started) * 1000, response_length=0,
            exception=None if ok else RuntimeError(f"job {job.get('status')}: {counts}"),
            context={})
