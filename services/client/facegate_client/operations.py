"""The native API's calls, each written once: its request, its declared answer and what the
client's method returns. Facegate (sync.py) and AsyncFacegate (aio.py) run these."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any, Literal

from .answers import (
    Analysed,
    ClusterJob,
    ClusterNamed,
    ClusterRecord,
    ClustersPage,
    CompareResult,
    Deleted,
    Detected,
    Enrolled,
    FaceRecord,
    FacesPage,
    Feature,
    GroupRecord,
    GroupsPage,
    IdentifyResult,
    ItemOutcome,
    JobAccepted,
    JobItems,
    JobQueued,
    JobsPage,
    JobStatus,
    Models,
    OperationJob,
    ReembedStatus,
    Similarity,
)
from .call import (
    Call,
    ImageInput,
    Pause,
    Steps,
    body_field,
    content,
    content_key,
    image_fields,
    request,
    unchecked,
    url_key,
)
from .errors import ApiError, JobFailed

ITEMS_PAGE = 5000
# An enrolment's quality level (the server's docs/api.md, "Quality gate"): strict is the full
# gate, lenient allows sunglasses and turns up to 60 degrees, none enrols any detected face;
# None leaves it to the group's default, else the server's setting.
Quality = Literal["strict", "lenient", "none"]




class Keep(Enum):
    """update_group's value for a field it leaves as it is: None there is a value of its own
    (the group's level cleared back to the server's setting)."""

    KEEP = "keep"


KEEP = Keep.KEEP


def _level(quality: Quality | None) -> dict[str, str]:
    return {"quality": quality} if quality else {}


def raw(method: str, path: str, idempotent: bool, options: dict[str, Any]) -> Call[Any]:
    """Any native call: its JSON answer (ApiError for an error answer)."""
    return request(method, path, Any, idempotent=idempotent, **options)


def cloudwalk(path: str, fields: dict[str, Any]) -> Call[dict[str, Any]]:
    """A CloudWalk call (`/face/...`, form fields): its body, `result` included (0 is success;
    4117 and 4098 are retried first)."""
    return request("POST", path, None, read=unchecked, data=fields)


# --- images ------------------------------------------------------------------------------
# An image call answers JobQueued (202) only when asked for `async`, which the client never
# sends: its methods return the synchronous answer.
def detect(image: ImageInput, crops: bool) -> Call[Detected]:
    data, files = image_fields(image)
    return request("POST", "/v1/detect", Detected | JobQueued, data={**data, "crops": crops},
                   files=files)


def analyse(image: ImageInput, fields: Iterable[str]) -> Call[Analysed]:
    data, files = image_fields(image)
    return request("POST", "/v1/analyse", Analysed | JobQueued,
                   data={**data, "fields": ",".join(fields)}, files=files)


def feature(image: ImageInput) -> Call[Feature]:
    data, files = image_fields(image)
    return request("POST", "/v1/feature", Feature | JobQueued, data=data, files=files)


def compare(image_a: ImageInput, image_b: ImageInput) -> Call[CompareResult]:
    data_a, files_a = image_fields(image_a, "image_a", "image_a_url")
    data_b, files_b = image_fields(image_b, "image_b", "image_b_url")
    return request("POST", "/v1/compare", CompareResult | JobQueued,
                   data={**data_a, **data_b}, files={**files_a, **files_b})


def similarity(feature_a: str, feature_b: str) -> Call[Similarity]:
    return request("POST", "/v1/similarity", Similarity,
                   json={"feature_a": feature_a, "feature_b": feature_b})


def models() -> Call[Models]:
    return request("GET", "/v1/models", Models)


# --- groups and faces --------------------------------------------------------------------
def groups(page: int, size: int) -> Call[list[GroupRecord]]:
    return request("GET", "/v1/groups", GroupsPage, read=body_field("groups"),
                   params={"page": page, "size": size})


def create_group(name: str, tag: str, exist_ok: bool, quality: Quality | None = None
                 ) -> Steps[bool]:
    """True if it was made; with exist_ok an existing group is fine (False). `quality`: the
    group's default level for enrolments that name none."""
    try:
        yield request("POST", "/v1/groups", GroupRecord,
                      json={"name": name, "tag": tag, **_level(quality)})
    except ApiError as exc:
        if exist_ok and exc.code == "GROUP_CREATE":
            return False
        raise
    return True


def update_group(name: str, quality: Quality | Keep | None = KEEP, tag: str | None = None
                 ) -> Call[GroupRecord]:
    """The group's default enrolment level set to `quality` (None: back to the server's
    setting; KEEP: unchanged) and its tag to `tag` when given; the group as it is then."""
    body: dict[str, Any] = {} if quality is KEEP else {"quality": quality}
    if tag is not None:
        body["tag"] = tag
    return request("PATCH", f"/v1/groups/{name}", GroupRecord, json=body)


def delete_group(name: str) -> Call[Deleted]:
    return request("DELETE", f"/v1/groups/{name}", Deleted)


def faces(group: str, tag: str, offset: int, limit: int) -> Call[list[FaceRecord]]:
    return request("GET", f"/v1/groups/{group}/faces", FacesPage, read=body_field("faces"),
                   params={"tag": tag, "offset": offset, "limit": limit})


def enrol(group: str, image: ImageInput, tag: str, key: str | None,
          quality: Quality | None = None) -> Call[Enrolled]:
    """The photo's largest face into the group, through the quality gate at `quality` (None:
    the group's default, else the server's). A `key` makes a retry return the face it made
    ({"face_id", "created"}); key="auto" derives one from the image (the SHA-256 of its bytes,
    or of its URL), as bulk loads do."""
    data, files = image_fields(image)
    if key == "auto":
        key = (content_key(next(iter(files.values()))[1]) if files
               else url_key(data["image_url"]))
    fields = {**data, "tag": tag, **({"key": key} if key else {}), **_level(quality)}
    return request("POST", f"/v1/groups/{group}/faces", Enrolled, idempotent=key is not None,
                   data=fields, files=files)


def delete_face(group: str, face_id: int) -> Call[Deleted]:
    return request("DELETE", f"/v1/groups/{group}/faces/{face_id}", Deleted)


def thumbnail(group: str, face_id: int) -> Call[bytes]:
    return request("GET", f"/v1/groups/{group}/faces/{face_id}/thumbnail", None, read=content)


def identify(group: str, image: ImageInput, top_n: int) -> Call[IdentifyResult]:
    data, files = image_fields(image)
    return request("POST", f"/v1/groups/{group}/identify", IdentifyResult,
                   data={**data, "top_n": top_n}, files=files)


# --- clustering: who is in a group -------------------------------------------------------
def cluster(group: str, threshold: float | None, callback_url: str | None = None
            ) -> Call[ClusterJob]:
    """Clusters the group's faces by person as a job (wait_for_job, then clusters());
    `threshold`: the score two faces' link needs (the server's default when None);
    `callback_url`: POSTed, signed, when the job ends (the server's docs/api.md, Webhooks)."""
    body: dict[str, Any] = {} if threshold is None else {"threshold": threshold}
    if callback_url:
        body["callback_url"] = callback_url
    return request("POST", f"/v1/groups/{group}/clusters", ClusterJob, json=body)


def _hook(callback_url: str | None) -> dict[str, str]:
    return {"callback_url": callback_url} if callback_url else {}


def clusters(group: str, offset: int, limit: int) -> Call[ClustersPage]:
    """A page of the group's latest clustering, largest cluster first."""
    return request("GET", f"/v1/groups/{group}/clusters", ClustersPage,
                   params={"offset": offset, "limit": limit})


def all_clusters(group: str) -> Steps[list[ClusterRecord]]:
    """Every cluster of the group's latest clustering, page by page."""
    found: list[ClusterRecord] = []
    while True:
        page: ClustersPage = yield clusters(group, len(found), 1000)
        found += page["clusters"]
        if len(found) >= page["total"] or not page["clusters"]:
            return found


def name_cluster(group: str, cluster_id: int, tag: str) -> Call[ClusterNamed]:
    """Tags every face of the cluster with `tag` (identify then answers with it)."""
    return request("POST", f"/v1/groups/{group}/clusters/{cluster_id}/name", ClusterNamed,
                   json={"tag": tag})


# --- bulk enrolment and jobs -------------------------------------------------------------
def bulk_archive(group: str, archive: bytes, manifest: bytes | None,
                 callback_url: str | None = None, quality: Quality | None = None
                 ) -> Call[JobAccepted]:
    """A tar (or zip) of photos into the group as a job: 202 {job_id, total, poll}; every
    photo judged at `quality` (None: the group's default, else the server's)."""
    files = {"archive": ("photos.tar", archive, "application/x-tar")}
    if manifest:
        files["manifest"] = ("manifest.csv", manifest, "text/csv")
    return request("POST", f"/v1/groups/{group}/faces/bulk", JobAccepted, files=files,
                   params={**_hook(callback_url), **_level(quality)})


def bulk_items(group: str, items: list[dict[str, Any]], callback_url: str | None = None,
               quality: Quality | None = None) -> Call[JobAccepted]:
    """Items {"image" (base64) | "image_url", "tag", "key"} into the group as a job."""
    return request("POST", f"/v1/groups/{group}/faces/bulk", JobAccepted,
                   json={"items": items, **_hook(callback_url), **_level(quality)})


def bulk_lines(group: str, lines: bytes, content_type: str, callback_url: str | None = None,
               quality: Quality | None = None) -> Call[JobAccepted]:
    """A CSV of URLs (text/csv) or JSON lines (application/x-ndjson) as a job."""
    return request("POST", f"/v1/groups/{group}/faces/bulk", JobAccepted, content=lines,
                   headers={"content-type": content_type},
                   params={**_hook(callback_url), **_level(quality)})


def job(job_id: str) -> Call[JobStatus]:
    """A job's status: the methods here start ingestion jobs, whose status is a JobStatus (an
    operation's, a clustering's or a re-embedding's job answers OperationJob, ClusterJob or
    ReembedStatus)."""
    return request("GET", f"/v1/jobs/{job_id}",
                   OperationJob | JobStatus | ClusterJob | ReembedStatus)


def jobs(limit: int) -> Call[list[JobStatus]]:
    return request("GET", "/v1/jobs", JobsPage, read=body_field("jobs"),
                   params={"limit": limit})


def job_items(job_id: str, offset: int, limit: int, status: str | None
              ) -> Call[list[ItemOutcome]]:
    params = {"offset": offset, "limit": limit, **({"status": status} if status else {})}
    return request("GET", f"/v1/jobs/{job_id}/items", JobItems, read=body_field("items"),
                   params=params)


def all_job_items(job_id: str, status: str | None) -> Steps[list[ItemOutcome]]:
    """Every item's outcome, page by page."""
    items: list[ItemOutcome] = []
    offset = 0
    while True:
        page: list[ItemOutcome] = yield job_items(job_id, offset, ITEMS_PAGE, status)
        items += page
        if len(page) < ITEMS_PAGE:
            return items
        offset = page[-1]["index"] + 1


def cancel_job(job_id: str) -> Call[JobStatus]:
    return request("POST", f"/v1/jobs/{job_id}/cancel", JobStatus)


def wait_for_jobs(job_ids: list[str], poll_s: float, timeout_s: float | None,
                  on_progress: Callable[[list[JobStatus]], None] | None,
                  clock: Callable[[], float] = time.monotonic) -> Steps[list[JobStatus]]:
    """Polls until every job has ended (done, cancelled or failed) and returns them;
    TimeoutError after timeout_s. An operation job (POST /v1/jobs) ends `done` or `failed`
    too."""
    deadline = None if timeout_s is None else clock() + timeout_s
    while True:
        found: list[JobStatus] = []
        for job_id in job_ids:
            found.append((yield job(job_id)))
        if on_progress:
            on_progress(found)
        if all(status["status"] not in ("queued", "running") for status in found):
            return found
        if deadline is not None and clock() > deadline:
            raise TimeoutError(f"jobs still running after {timeout_s} s")
        yield Pause(poll_s)


def wait_for_job(job_id: str, poll_s: float, timeout_s: float | None) -> Steps[JobStatus]:
    """The job once it has ended; JobFailed if it failed."""
    [status] = yield from wait_for_jobs([job_id], poll_s, timeout_s, None)
    if status["status"] == "failed":
        raise JobFailed(status)
    return status
