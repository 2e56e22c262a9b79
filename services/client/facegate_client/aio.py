"""AsyncFacegate: the native API over one httpx.AsyncClient connection pool, with the same
methods as Facegate (sync.py), awaited, and the same requests, retries and answers
(operations.py, retry.py)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar, cast

import httpx

from . import operations as ops
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
    Feature,
    GroupRecord,
    IdentifyResult,
    ImportResult,
    ItemOutcome,
    JobAccepted,
    JobStatus,
    Models,
    NotPerson,
    PersonCreated,
    PersonRecord,
    PersonsPage,
    ReembedStatus,
    Similarity,
)
from .call import Call, ImageInput, Operation, Pause, headers
from .operations import KEEP, Keep, Quality
from .retry import next_try

T = TypeVar("T")


class AsyncFacegate:
    def __init__(self, base_url: str, app_id: str = "", app_secret: str = "", *,
                 admin_secret: str = "", timeout: float = 600.0, retries: int = 6,
                 backoff_s: float = 0.5, transport: httpx.AsyncBaseTransport | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.http = httpx.AsyncClient(base_url=base_url.rstrip("/"),
                                      headers=headers(app_id, app_secret, admin_secret),
                                      timeout=timeout, transport=transport)
        self.retries = retries
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.retried = 0  # how many times a call was sent again (for benchmarks and tests)

    async def close(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> AsyncFacegate:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- running operations (call.py) ---------------------------------------------------
    async def _send(self, call: Call[Any]) -> httpx.Response:
        """The response, after retrying what may be retried (retry.py)."""
        attempt = 0
        while True:
            try:
                response = await self.http.request(call.method, call.path, **call.options)
            except httpx.ConnectError:
                wait = next_try(attempt, self.retries, self.backoff_s, path=call.path,
                                idempotent=call.idempotent, response=None)
                if wait is None:
                    raise
            else:
                wait = next_try(attempt, self.retries, self.backoff_s, path=call.path,
                                idempotent=call.idempotent, response=response)
                if wait is None:
                    return response
            self.retried += 1
            await self.sleep(wait)
            attempt += 1

    async def _run(self, operation: Operation[T]) -> T:
        if isinstance(operation, Call):
            return operation.read(await self._send(operation))
        value: Any = None
        error: Exception | None = None
        while True:
            try:  # each step's result (or its exception) goes back into the operation
                step = operation.throw(error) if error else operation.send(value)
            except StopIteration as done:
                return cast(T, done.value)
            value, error = None, None
            try:
                if isinstance(step, Pause):
                    await self.sleep(step.seconds)
                else:
                    value = await self._run(step)
            except Exception as exc:
                error = exc

    async def send(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any
                   ) -> httpx.Response:
        """Any request, retried as the rules say (retry.py); the response as it came."""
        return await self._send(ops.raw(method, path, idempotent, kwargs))

    async def call(self, method: str, path: str, *, idempotent: bool = True, **kwargs: Any
                   ) -> Any:
        """A native call's JSON answer; ApiError for an error answer."""
        return await self._run(ops.raw(method, path, idempotent, kwargs))

    async def cloudwalk(self, path: str, **fields: Any) -> dict[str, Any]:
        """A CloudWalk call (`/face/...`, form fields): its body, `result` included (0 is
        success; 4117 and 4098 are retried first)."""
        return await self._run(ops.cloudwalk(path, fields))

    # --- images -------------------------------------------------------------------------
    async def detect(self, image: ImageInput, *, crops: bool = False) -> Detected:
        return await self._run(ops.detect(image, crops))

    async def analyse(self, image: ImageInput, fields: Iterable[str]) -> Analysed:
        return await self._run(ops.analyse(image, fields))

    async def feature(self, image: ImageInput) -> Feature:
        return await self._run(ops.feature(image))

    async def compare(self, image_a: ImageInput, image_b: ImageInput) -> CompareResult:
        return await self._run(ops.compare(image_a, image_b))

    async def similarity(self, feature_a: str, feature_b: str) -> Similarity:
        return await self._run(ops.similarity(feature_a, feature_b))

    async def models(self) -> Models:
        return await self._run(ops.models())

    # --- groups and faces ---------------------------------------------------------------
    async def groups(self, page: int = 1, size: int = 1000) -> list[GroupRecord]:
        return await self._run(ops.groups(page, size))

    async def create_group(self, name: str, tag: str = "", *, exist_ok: bool = False,
                           quality: Quality | None = None) -> bool:
        """True if it was made; with exist_ok an existing group is fine (False). `quality`:
        the group's default enrolment level (strict, lenient, none)."""
        return await self._run(ops.create_group(name, tag, exist_ok, quality))

    async def update_group(self, name: str, *, quality: Quality | Keep | None = KEEP,
                           tag: str | None = None) -> GroupRecord:
        """Changes the group's default enrolment level (None: back to the server's setting;
        left out: unchanged) and, when given, its tag; the group as it is then."""
        return await self._run(ops.update_group(name, quality, tag))

    async def delete_group(self, name: str) -> Deleted:
        return await self._run(ops.delete_group(name))

    async def faces(self, group: str, tag: str = "", offset: int = 0, limit: int = 50
                    ) -> list[FaceRecord]:
        return await self._run(ops.faces(group, tag, offset, limit))

    async def enrol(self, group: str, image: ImageInput, tag: str = "", key: str | None = None,
                    *, quality: Quality | None = None, person_id: str | None = None
                    ) -> Enrolled:
        """The photo's largest face into the group; key="auto": the image's own key;
        `quality`: the gate's level (None: the group's default, else the server's);
        `person_id`: the group's person it is a face of."""
        return await self._run(ops.enrol(group, image, tag, key, quality, person_id))

    async def delete_face(self, group: str, face_id: int) -> Deleted:
        return await self._run(ops.delete_face(group, face_id))

    async def thumbnail(self, group: str, face_id: int) -> bytes:
        return await self._run(ops.thumbnail(group, face_id))

    async def identify(self, group: str, image: ImageInput, top_n: int = 5) -> IdentifyResult:
        return await self._run(ops.identify(group, image, top_n))

    # --- persons: the people of a group, each with several faces -------------------------
    async def create_person(self, group: str, name: str, key: str | None = None
                            ) -> PersonCreated:
        """A person in the group; `key`: its id, yours to choose (a retry returns it)."""
        return await self._run(ops.create_person(group, name, key))

    async def people(self, group: str, offset: int = 0, limit: int = 50) -> PersonsPage:
        return await self._run(ops.people(group, offset, limit))

    async def person(self, group: str, person_id: str) -> PersonRecord:
        return await self._run(ops.person(group, person_id))

    async def rename_person(self, group: str, person_id: str, name: str) -> PersonRecord:
        return await self._run(ops.rename_person(group, person_id, name))

    async def delete_person(self, group: str, person_id: str) -> Deleted:
        return await self._run(ops.delete_person(group, person_id))

    async def person_faces(self, group: str, person_id: str, offset: int = 0, limit: int = 50
                           ) -> list[FaceRecord]:
        return await self._run(ops.person_faces(group, person_id, offset, limit))

    async def merge_people(self, group: str, person_id: str, other: str) -> PersonRecord:
        return await self._run(ops.merge_people(group, person_id, other))

    async def not_person(self, group: str, person_id: str, face_id: int) -> NotPerson:
        return await self._run(ops.not_person(group, person_id, face_id))

    async def move_face(self, group: str, face_id: int, person_id: str | None) -> FaceAssigned:
        return await self._run(ops.move_face(group, face_id, person_id))

    async def export_group(self, group: str, after: int = 0, limit: int = 0) -> bytes:
        return await self._run(ops.export_group(group, after, limit))

    async def reembed(self, group: str, model: str, drop_faces: bool = False, *,
                      callback_url: str | None = None) -> ReembedStatus:
        return await self._run(ops.reembed(group, model, drop_faces, callback_url))

    async def import_group(self, group: str, data: bytes, reembed: bool = False
                           ) -> ImportResult:
        return await self._run(ops.import_group(group, data, reembed))

    # --- clustering: who is in a group --------------------------------------------------
    async def cluster(self, group: str, threshold: float | None = None, *,
                      callback_url: str | None = None) -> ClusterJob:
        return await self._run(ops.cluster(group, threshold, callback_url))

    async def clusters(self, group: str, offset: int = 0, limit: int = 100) -> ClustersPage:
        return await self._run(ops.clusters(group, offset, limit))

    async def all_clusters(self, group: str) -> list[ClusterRecord]:
        return await self._run(ops.all_clusters(group))

    async def name_cluster(self, group: str, cluster_id: int, tag: str) -> ClusterNamed:
        return await self._run(ops.name_cluster(group, cluster_id, tag))

    async def confirm_cluster(self, group: str, cluster_id: int, person_id: str | None = None,
                              name: str | None = None) -> ClusterConfirmed:
        return await self._run(ops.confirm_cluster(group, cluster_id, person_id, name))

    async def merge_clusters(self, group: str, cluster_id: int, other: int) -> ClusterEdited:
        return await self._run(ops.merge_clusters(group, cluster_id, other))

    async def move_to_cluster(self, group: str, cluster_id: int, face_ids: list[int]
                              ) -> ClusterEdited:
        return await self._run(ops.move_to_cluster(group, cluster_id, face_ids))

    async def split_cluster(self, group: str, cluster_id: int, face_ids: list[int]
                            ) -> ClusterEdited:
        return await self._run(ops.split_cluster(group, cluster_id, face_ids))

    # --- bulk enrolment and jobs --------------------------------------------------------
    async def bulk_archive(self, group: str, archive: bytes, manifest: bytes | None = None, *,
                           callback_url: str | None = None, quality: Quality | None = None
                           ) -> JobAccepted:
        return await self._run(ops.bulk_archive(group, archive, manifest, callback_url, quality))

    async def bulk_items(self, group: str, items: list[dict[str, Any]], *,
                         callback_url: str | None = None, quality: Quality | None = None
                         ) -> JobAccepted:
        return await self._run(ops.bulk_items(group, items, callback_url, quality))

    async def bulk_lines(self, group: str, body: bytes, content_type: str, *,
                         callback_url: str | None = None, quality: Quality | None = None
                         ) -> JobAccepted:
        return await self._run(ops.bulk_lines(group, body, content_type, callback_url, quality))

    async def job(self, job_id: str) -> JobStatus:
        return await self._run(ops.job(job_id))

    async def jobs(self, limit: int = 20) -> list[JobStatus]:
        return await self._run(ops.jobs(limit))

    async def job_items(self, job_id: str, offset: int = 0, limit: int = 500,
                        status: str | None = None) -> list[ItemOutcome]:
        return await self._run(ops.job_items(job_id, offset, limit, status))

    async def all_job_items(self, job_id: str, status: str | None = None) -> list[ItemOutcome]:
        return await self._run(ops.all_job_items(job_id, status))

    async def cancel_job(self, job_id: str) -> JobStatus | ReembedStatus:
        return await self._run(ops.cancel_job(job_id))

    async def wait_for_jobs(self, job_ids: list[str], *, poll_s: float = 1.0,
                            timeout_s: float | None = None,
                            on_progress: Callable[[list[JobStatus]], None] | None = None
                            ) -> list[JobStatus]:
        """Polls until every job has ended; TimeoutError after timeout_s."""
        return await self._run(ops.wait_for_jobs(job_ids, poll_s, timeout_s, on_progress))

    async def wait_for_job(self, job_id: str, *, poll_s: float = 1.0,
                           timeout_s: float | None = None) -> JobStatus:
        """The job once it has ended; JobFailed if it failed."""
        return await self._run(ops.wait_for_job(job_id, poll_s, timeout_s))
