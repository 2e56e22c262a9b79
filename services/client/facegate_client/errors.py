"""The two exceptions a call raises besides httpx's own (a timeout, a connection lost)."""

from __future__ import annotations

from typing import Any

from .answers import JobStatus


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
    """wait_for_job's job ended `failed`; `job` is its last status."""

    def __init__(self, job: JobStatus) -> None:
        error = job.get("error") or {}
        super().__init__(f"job {job.get('job_id')} {job.get('status')}: "
                         f"{error.get('message', '')}")
        self.job = job
