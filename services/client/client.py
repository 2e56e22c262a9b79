"""The client: one httpx connection pool, the native API's calls as typed methods, retries
where they are safe, and helpers that poll jobs to the end.

Retries. A 429 (the app's QPS limit; CloudWalk answers it as result 4117) is refused before
any work is done, so every call retries it, after the server's Retry-After or an exponential
backoff. A 503 (SYSTEM_BUSY: an outage, or no result in time, CloudWalk 4098) may come after
the work was queued, so only calls that change nothing, or change it at most once (an
enrolment with a key, a bulk load: keys make it idempotent), retry it. A connection refused
(the request never left) is retried by every call.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import httpx

from shared.answers import (
    Analysed,
    ClusterJob,
    ClusterNamed,
    ClusterRecord,
    ClustersPage,
    CompareResult,
    Detected,
    Enrolled,
    FaceRecord,
    Feature,
    GroupRecord,
    IdentifyResult,
    ItemOutcome,
    JobAccepted,
    JobStatus,
    Models,
    Similarity,
)
from shared.images import content_key, url_key

ImageInput = bytes | Path | str  # bytes, a file path, or an http(s) URL the server fetches
CLOUDWALK_RETRY = {4117: 429, 4098: 503}  # CloudWalk result code -> the HTTP status it means
BACKOFF_CAP_S = 30.0


class ApiError(Exception):
    """An error answer: the HTTP status and the native error object (`code`, `message`,
    `cloudwalk_code`, `baidu_code`)."""

    def __init__(self, status: int, error: dict[str, Any], body: Any = None) -> None:
        super().__init__(f"HTTP {status} {error.get('code', '')}: {error.get('message', '')}")
        self.status = status
        self.code: str = error.get("code", "")
        self.error = error
        self.body = body


class JobFailed(Exception):
    def __init__(self, job: JobStatus) -> None:
        error = job.get("error") or {}
        super().__init__(f"job {job.get('job_id')} {job.get('status')}: "
                         f"{error.get('message', '')}")
        self.job = job


def _image_fields(image: ImageInput, data_key: str = "image", url_key: str = "image_url"
                  ) -> tuple[dict, dict]:
    """(form fields, files) for one image parameter."""
    if isinstance(image, str) and image.startswith(("http://", "https://")):
        return {url_key: image}, {}
    data = image if isinstance(image, bytes) else Path(image).read_bytes()
    return {}, {data_key: (data_key, data, "application/octet-stream")}


def _checked(response: httpx.Response) -> httpx.Response:
    """The response, or ApiError for a native error answer (an RFC 9457 problem)."""
    if response.status_code >= 400:
        try:
            body = response.json()
        except ValueError:
            body = {"error": {"message": response.text[:500]}}
        raise ApiError(response.status_code, body.get("error") or {}, body)
    return response


def _cloudwalk_result(response: httpx.Response) -> int | None:
    try:
        return response.json().get("result")
    except (ValueError, AttributeError):
        return None


class Facegate:
    def __init__(self, base_url: str, app_id: str = "", app_secret: str = "", *,
                 admin_secret: str = "", timeout: float = 600.0, retries: int = 6,
                 backoff_s: float = 0.5, transport: httpx.BaseTransport | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        headers = {"app_id": app_id, "app_secret": app_secret}
        if admin_secret:
            headers["admin_secret"] = admin_secret
        self.http = httpx.Client(base_url=base_url.rstrip("/"), headers=headers,
                                 timeout=timeout, transport=transport)
        self.retries = retries
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.retried = 0  # how many times a call was sent again (for benchmarks and tests)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Facegate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- sending ------------------------------------------------------------------------
    def _pause(self, attempt: int, retry_after: str | None) -> None:
        delay = min(BACKOFF_CAP_S, self.backoff_s * 2 ** attempt)
        if retry_after and retry_after.isdigit():
            delay = min(BACKOFF_CAP_S, float(retry_after))
        self.retried += 1
        self.sleep(delay * random.uniform(0.8, 1.2))

    def send(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any
             ) -> httpx.Response:
        """The response, after retrying what may be retried (module docstring)."""
        for attempt in range(self.retries + 1):
            last = attempt == self.retries
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.ConnectError:
                if last:
                    raise
                self._pause(attempt, None)
                continue
            status = response.status_code
            if status == 200 and path.startswith("/face/"):  # CloudWalk: HTTP 200 always
                status = CLOUDWALK_RETRY.get(_cloudwalk_result(response), 200)
            if not last and (status == 429 or (status == 503 and idempotent)):
                self._pause(attempt, response.headers.get("retry-after"))
                continue
            return response
        raise AssertionError("unreachable")

    def call(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any) -> Any:
        """A native call's JSON answer; ApiError for an error answer."""
        return _checked(self.send(method, path, idempotent=idempotent, **kwargs)).json()

    def cloudwalk(self, path: str, **fields: Any) -> dict:
        """A CloudWalk call (`/face/...`, form fields): its body, `result` included (0 is
        success; 4117 and 4098 are retried first)."""
        return self.send("POST", path, data=fields).json()

    # --- images -------------------------------------------------------------------------
    def detect(self, image: ImageInput, *, crops: bool = False) -> Detected:
        data, files = _image_fields(image)
        return self.call("POST", "/v1/detect", data={**data, "crops": crops}, files=files)

    def analyse(self, image: ImageInput, fields: Iterable[str]) -> Analysed:
        data, files = _image_fields(image)
        return self.call("POST", "/v1/analyse", data={**data, "fields": ",".join(fields)},
                         files=files)

    def feature(self, image: ImageInput) -> Feature:
        data, files = _image_fields(image)
        return self.call("POST", "/v1/feature", data=data, files=files)

    def compare(self, image_a: ImageInput, image_b: ImageInput) -> CompareResult:
        data_a, files_a = _image_fields(image_a, "image_a", "image_a_url")
        data_b, files_b = _image_fields(image_b, "image_b", "image_b_url")
        return self.call("POST", "/v1/compare", data={**data_a, **data_b},
                         files={**files_a, **files_b})

    def similarity(self, feature_a: str, feature_b: str) -> Similarity:
        return self.call("POST", "/v1/similarity",
                         json={"feature_a": feature_a, "feature_b": feature_b})

    def models(self) -> Models:
        return self.call("GET", "/v1/models")

    # --- groups and faces ---------------------------------------------------------------
    def groups(self, page: int = 1, size: int = 1000) -> list[GroupRecord]:
        return self.call("GET", "/v1/groups", params={"page": page, "size": size})["groups"]

    def create_group(self, name: str, tag: str = "", *, exist_ok: bool = False) -> bool:
        """True if it was made; with exist_ok an existing group is fine (False)."""
        try:
            self.call("POST", "/v1/groups", json={"name": name, "tag": tag})
            return True
        except ApiError as exc:
            if exist_ok and exc.code == "GROUP_CREATE":
                return False
            raise

    def delete_group(self, name: str) -> None:
        self.call("DELETE", f"/v1/groups/{name}")

    def faces(self, group: str, tag: str = "", offset: int = 0, limit: int = 50
              ) -> list[FaceRecord]:
        return self.call("GET", f"/v1/groups/{group}/faces",
                         params={"tag": tag, "offset": offset, "limit": limit})["faces"]

    def enrol(self, group: str, image: ImageInput, tag: str = "", key: str | None = None
              ) -> Enrolled:
        """The photo's largest face into the group (quality gate on). A `key` makes a retry
        return the face it made ({"face_id", "created"}); key="auto" derives one from the
        image (the SHA-256 of its bytes, or of its URL), as bulk loads do."""
        data, files = _image_fields(image)
        if key == "auto":  # the keys bulk loads get by default (shared/images.py)
            key = (content_key(next(iter(files.values()))[1]) if files
                   else url_key(data["image_url"]))
        fields = {**data, "tag": tag, **({"key": key} if key else {})}
        return self.call("POST", f"/v1/groups/{group}/faces", idempotent=key is not None,
                         data=fields, files=files)

    def delete_face(self, group: str, face_id: int) -> None:
        self.call("DELETE", f"/v1/groups/{group}/faces/{face_id}")

    def thumbnail(self, group: str, face_id: int) -> bytes:
        return _checked(self.send("GET", f"/v1/groups/{group}/faces/{face_id}/thumbnail")
                        ).content

    def identify(self, group: str, image: ImageInput, top_n: int = 5) -> IdentifyResult:
        data, files = _image_fields(image)
        return self.call("POST", f"/v1/groups/{group}/identify",
                         data={**data, "top_n": top_n}, files=files)

    # --- clustering: who is in a group ---------------------------------------------------
    def cluster(self, group: str, threshold: float | None = None) -> ClusterJob:
        """Clusters the group's faces by person as a job (wait_for_job, then clusters());
        `threshold`: the score two faces' link needs (the server's default when None)."""
        body = {} if threshold is None else {"threshold": threshold}
        return self.call("POST", f"/v1/groups/{group}/clusters", json=body)

    def clusters(self, group: str, offset: int = 0, limit: int = 100) -> ClustersPage:
        """A page of the group's latest clustering, largest cluster first."""
        return self.call("GET", f"/v1/groups/{group}/clusters",
                         params={"offset": offset, "limit": limit})

    def all_clusters(self, group: str) -> list[ClusterRecord]:
        """Every cluster of the group's latest clustering, page by page."""
        found: list[ClusterRecord] = []
        while True:
            page = self.clusters(group, len(found), 1000)
            found += page["clusters"]
            if len(found) >= page["total"] or not page["clusters"]:
                return found

    def name_cluster(self, group: str, cluster_id: int, tag: str) -> ClusterNamed:
        """Tags every face of the cluster with `tag` (identify then answers with it)."""
        return self.call("POST", f"/v1/groups/{group}/clusters/{cluster_id}/name",
                         json={"tag": tag})

    # --- bulk enrolment and jobs --------------------------------------------------------
    def bulk_archive(self, group: str, archive: bytes, manifest: bytes | None = None
                     ) -> JobAccepted:
        """A tar (or zip) of photos into the group as a job: 202 {job_id, total, poll}."""
        files = {"archive": ("photos.tar", archive, "application/x-tar")}
        if manifest:
            files["manifest"] = ("manifest.csv", manifest, "text/csv")
        return self.call("POST", f"/v1/groups/{group}/faces/bulk", files=files)

    def bulk_items(self, group: str, items: list[dict]) -> JobAccepted:
        """Items {"image" (base64) | "image_url", "tag", "key"} into the group as a job."""
        return self.call("POST", f"/v1/groups/{group}/faces/bulk", json={"items": items})

    def bulk_lines(self, group: str, body: bytes, content_type: str) -> JobAccepted:
        """A CSV of URLs (text/csv) or JSON lines (application/x-ndjson) as a job."""
        return self.call("POST", f"/v1/groups/{group}/faces/bulk", content=body,
                         headers={"content-type": content_type})

    def job(self, job_id: str) -> JobStatus:
        return self.call("GET", f"/v1/jobs/{job_id}")

    def jobs(self, limit: int = 20) -> list[JobStatus]:
        return self.call("GET", "/v1/jobs", params={"limit": limit})["jobs"]

    def job_items(self, job_id: str, offset: int = 0, limit: int = 500,
                  status: str | None = None) -> list[ItemOutcome]:
        params = {"offset": offset, "limit": limit, **({"status": status} if status else {})}
        return self.call("GET", f"/v1/jobs/{job_id}/items", params=params)["items"]

    def all_job_items(self, job_id: str, status: str | None = None) -> list[ItemOutcome]:
        """Every item's outcome, page by page."""
        items: list[ItemOutcome] = []
        offset = 0
        while True:
            page = self.job_items(job_id, offset, 5000, status)
            items += page
            if len(page) < 5000:
                return items
            offset = page[-1]["index"] + 1

    def cancel_job(self, job_id: str) -> JobStatus:
        return self.call("POST", f"/v1/jobs/{job_id}/cancel")

    def wait_for_jobs(self, job_ids: list[str], *, poll_s: float = 1.0,
                      timeout_s: float | None = None,
                      on_progress: Callable[[list[JobStatus]], None] | None = None
                      ) -> list[JobStatus]:
        """Polls until every job has ended (done, cancelled or failed) and returns them;
        TimeoutError after timeout_s. An operation job (POST /v1/jobs) ends `done` or
        `failed` too."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            jobs = [self.job(job_id) for job_id in job_ids]
            if on_progress:
                on_progress(jobs)
            if all(job["status"] not in ("queued", "running") for job in jobs):
                return jobs
            if deadline is not None and time.monotonic() > deadline:
                raise TimeoutError(f"jobs still running after {timeout_s} s")
            self.sleep(poll_s)

    def wait_for_job(self, job_id: str, *, poll_s: float = 1.0,
                     timeout_s: float | None = None) -> JobStatus:
        """The job once it has ended; JobFailed if it failed."""
        [job] = self.wait_for_jobs([job_id], poll_s=poll_s, timeout_s=timeout_s)
        if job["status"] == "failed":
            raise JobFailed(job)
        return job
