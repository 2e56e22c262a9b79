"""The shapes of the native API's answers, written once: the handlers are annotated with them
(so gateway/openapi/ documents each answer's fields), and the Python client
(services/client) returns them. docs/api.md says what each field means.

No `from __future__ import annotations` here: Python 3.11 reads NotRequired only from real
annotations, not from strings."""

from typing import Any, NotRequired, TypedDict


class CompareResult(TypedDict):
    score: float
    same_person: bool
    threshold: float
    model: str
    face_a: dict[str, Any]
    face_b: dict[str, Any]


class Match(TypedDict):
    face_id: int
    tag: str
    score: float
    same_person: bool


class IdentifyResult(TypedDict):
    group: str
    threshold: float
    matches: list[Match]


class GroupRecord(TypedDict):
    name: str
    tag: str
    faces: int
    indexed: NotRequired[bool]


class GroupsPage(TypedDict):
    total: int
    page: int
    groups: list[GroupRecord]


class FaceRecord(TypedDict):
    face_id: int
    tag: str
    box: list[int]
    quality: float | None
    created: float
    uid: str | None
    thumbnail: bool


class FacesPage(TypedDict):
    total: int
    offset: int
    faces: list[FaceRecord]


class Enrolled(TypedDict):
    face_id: int
    created: bool
    group: str


class Deleted(TypedDict):
    deleted: bool
    name: NotRequired[str]
    face_id: NotRequired[int]
    uid: NotRequired[str]


class UserRecord(TypedDict):
    uid: str
    user_info: str


class UsersPage(TypedDict):
    offset: int
    users: list[UserRecord]


class Progress(TypedDict):
    done: int
    total: int
    percent: float
    rate_per_s: float
    eta_s: float | None
    chunks_in_flight: int


class JobStatus(TypedDict):
    """An ingestion job (GET /v1/jobs/{id} of a bulk load, GET /v1/jobs)."""

    job_id: str
    op: str
    status: str  # running, done, cancelled, failed
    group: str
    created: float
    progress: Progress
    counts: dict[str, int]
    faces_created: int
    items: str  # the path of its items
    finished: NotRequired[float]
    error: NotRequired[dict[str, Any]]
    result: NotRequired[dict[str, Any]]


class JobsPage(TypedDict):
    jobs: list[JobStatus]


class JobAccepted(TypedDict):
    job_id: str
    status: str
    total: int
    poll: str
    items: str


class AppRecord(TypedDict):
    id: int
    name: str
    api_key: str | None
    qps: int | None
    active: bool
    created: float
    revoked: float | None


class NewAppRecord(AppRecord):
    secret: str  # shown in this answer only


class AppsPage(TypedDict):
    apps: list[AppRecord]
