"""Whose a job is, the core decides (services/recognition/jobs.py): a job belongs to the app
that submitted it, and another app's read of it answers JOB_NOT_FOUND; the dialect only
translates. A fake queue stands in for Redis; without a database no id is an ingestion or
clustering job."""

import asyncio
import time

import pytest

from services.recognition import jobs, vision
from services.recognition.context import Recognition
from services.recognition.ports import JobState
from shared.errors import ERRORS, FaceError
from shared.settings import Settings


class FakeQueue:
    def __init__(self) -> None:
        self.states: dict[str, JobState] = {}

    async def submit_job(self, op: str, options: dict, request: dict) -> str:
        job_id = f"job-{len(self.states)}"
        self.states[job_id] = JobState(job_id, "queued", op, options, time.time())
        return job_id

    async def job(self, job_id: str) -> JobState:
        if job_id not in self.states:
            raise FaceError(ERRORS.JOB_NOT_FOUND, f"no job {job_id} (unknown or expired)")
        return self.states[job_id]


def _ctx() -> Recognition:
    return Recognition(Settings().changed(database_url=""), FakeQueue())


def test_the_submitting_app_reads_its_job():
    ctx = _ctx()

    async def scenario() -> JobState:
        job_id = await jobs.submit_owned(ctx, 7, vision.JOB_OPERATIONS["detect"], [b"img"],
                                         {"crops": True})
        return await jobs.owned(ctx, 7, job_id)

    state = asyncio.run(scenario())
    assert isinstance(state, JobState) and state.op == "detect"
    assert state.options == {"crops": True, jobs.OWNER: 7}


def test_another_app_is_told_there_is_no_such_job():
    ctx = _ctx()

    async def scenario() -> None:
        job_id = await jobs.submit_owned(ctx, 7, vision.JOB_OPERATIONS["feature"], [b"img"], {})
        await jobs.owned(ctx, 8, job_id)

    with pytest.raises(FaceError) as caught:
        asyncio.run(scenario())
    assert caught.value.kind is ERRORS.JOB_NOT_FOUND and caught.value.detail == "no such job"


def test_an_unknown_job_is_the_queue_s_not_found():
    with pytest.raises(FaceError) as caught:
        asyncio.run(jobs.owned(_ctx(), 7, "nope"))
    assert caught.value.kind is ERRORS.JOB_NOT_FOUND
