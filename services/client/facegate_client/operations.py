"""The native API's calls, each written once: its request, its declared answer and what the
client's method returns. Facegate (sync.py) and AsyncFacegate (aio.py) run these."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any, Literal

from .answers import (
    Analysed,
    ClusterConfirmed,
    ClusterEdited,
    ClusterJob,
    ClusterNamed,
    ClusterRecord,
    ClustersPage,
    CompareResult,
    Deleted,
    Detected,
    Enrolled,
    FaceAssigned,
    FaceRecord,
    FacesPage,
    Feature,
    GroupRecord,
    GroupsPage,
    IdentifyResult,
    ImportResult,
    ItemOutcome,
    JobAccepted,
    JobItems,
    JobQueued,
    JobsPage,
    JobStatus,
    Models,
    NotPerson,
    OperationJob,
    PersonCreated,
    PersonRecord,
    PersonsPage,
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
          quality: Quality | None = None, person_id: str | None = None) -> Call[Enrolled]:
    """The photo's largest face into the group, through the quality gate at `quality` (None:
    the group's default, else the server's), as a face of the group's person `person_id` when
    given. A `key` makes a retry return the face it made ({"face_id", "created"}); key="auto"
    derives one from the image (the SHA-256 of its bytes, or of its URL), as bulk loads do."""
    data, files = image_fields(image)
    if key == "auto":
        key = (content_key(next(iter(files.values()))[1]) if files
               else url_key(data["image_url"]))
    fields = {**data, "tag": tag, **({"key": key} if key else {}), **_level(quality),
              **({"person_id": person_id} if person_id else {})}
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


# --- persons: the people of a group, each with several faces -----------------------------
def create_person(group: str, name: str, key: str | None = None) -> Call[PersonCreated]:
    """A person in the group; `key` is its id when given (a retry returns the same person,
    `new` false)."""
    return request("POST", f"/v1/groups/{group}/people", PersonCreated,
                   idempotent=key is not None,
                   json={"name": name, **({"key": key} if key else {})})


def people(group: str, offset: int, limit: int) -> Call[PersonsPage]:
    return request("GET", f"/v1/groups/{group}/people", PersonsPage,
                   params={"offset": offset, "limit": limit})


def person(group: str, person_id: str) -> Call[PersonRecord]:
    return request("GET", f"/v1/groups/{group}/people/{person_id}", PersonRecord)


def rename_person(group: str, person_id: str, name: str) -> Call[PersonRecord]:
    return request("PATCH", f"/v1/groups/{group}/people/{person_id}", PersonRecord,
                   json={"name": name})


def delete_person(group: str, person_id: str) -> Call[Deleted]:
    """The person out of the group with its faces there."""
    return request("DELETE", f"/v1/groups/{group}/people/{person_id}", Deleted)


def person_faces(group: str, person_id: str, offset: int, limit: int
                 ) -> Call[list[FaceRecord]]:
    return request("GET", f"/v1/groups/{group}/people/{person_id}/faces", FacesPage,
                   read=body_field("faces"), params={"offset": offset, "limit": limit})


def merge_people(group: str, person_id: str, other: str) -> Call[PersonRecord]:
    """`other`'s faces become `person_id`'s; `other` leaves the group."""
    return request("POST", f"/v1/groups/{group}/people/{person_id}/merge", PersonRecord,
                   json={"other": other})


def not_person(group: str, person_id: str, face_id: int) -> Call[NotPerson]:
    """"This face is not this person": kept by every later clustering and join."""
    return request("POST", f"/v1/groups/{group}/people/{person_id}/not", NotPerson,
                   json={"face_id": face_id})


def move_face(group: str, face_id: int, person_id: str | None) -> Call[FaceAssigned]:
    """The face moved to a person (None: to nobody)."""
    return request("PATCH", f"/v1/groups/{group}/faces/{face_id}", FaceAssigned,
                   json={"person_id": person_id})


def export_group(group: str, after: int = 0, limit: int = 0) -> Call[bytes]:
    """The group as its JSON-lines file (a part: `limit` faces after face id `after`)."""
    return request("GET", f"/v1/groups/{group}/export", None, read=content,
                   params={"after": after, "limit": limit})


def reembed(group: str, model: str, drop_faces: bool = False, callback_url: str | None = None
            ) -> Call[ReembedStatus]:
    """The group moved to another embedder from its stored face regions, as a job
    (wait_for_job; cancel_job stops it before the swap); `drop_faces`: faces with no usable
    region are deleted at the swap; `callback_url`: POSTed, signed, when the job ends."""
    body: dict[str, Any] = {"model": model, "drop_faces": drop_faces}
    if callback_url:
        body["callback_url"] = callback_url
    return request("POST", f"/v1/groups/{group}/reembed", ReembedStatus, json=body)


def import_group(group: str, data: bytes, reembed: bool = False) -> Call[ImportResult]:
    """An exported file into the group (made if missing); safe to send again. `reembed`: a
    file of another model is imported and the group re-embedded to the server's (a job)."""
    return request("POST", f"/v1/groups/{group}/import", ImportResult, idempotent=True,
                   content=data, headers={"content-type": "application/x-ndjson"},
                   params={"reembed": "true"} if reembed else {})


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


def confirm_cluster(group: str, cluster_id: int, person_id: str | None = None,
                    name: str | None = None) -> Call[ClusterConfirmed]:
    """The cluster is a person (`person_id`, or a new one named `name`)."""
    body = {"person_id": person_id} if person_id else {"name": name}
    return request("POST", f"/v1/groups/{group}/clusters/{cluster_id}/confirm",
                   ClusterConfirmed, json=body)


def merge_clusters(group: str, cluster_id: int, other: int) -> Call[ClusterEdited]:
    return request("POST", f"/v1/groups/{group}/clusters/{cluster_id}/merge", ClusterEdited,
                   json={"other": other})


def move_to_cluster(group: str, cluster_id: int, face_ids: list[int]) -> Call[ClusterEdited]:
    return request("POST", f"/v1/groups/{group}/clusters/{cluster_id}/faces", ClusterEdited,
                   json={"face_ids": face_ids})


def split_cluster(group: str, cluster_id: int, face_ids: list[int]) -> Call[ClusterEdited]:
    """The faces leave the cluster for a new one (its id comes back)."""
    return request("POST", f"/v1/groups/{group}/clusters/{cluster_id}/split", ClusterEdited,
                   json={"face_ids": face_ids})


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


def cancel_job(job_id: str) -> Call[JobStatus | ReembedStatus]:
    """An ingestion job cancelled (a re-embedding's answer is a ReembedStatus)."""
    return request("POST", f"/v1/jobs/{job_id}/cancel", JobStatus | ReembedStatus)


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
