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
from shared.errors import ERRORS, FaceError, job_not_found
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
            raise job_not_found(job_id)
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


def test_another_app_is_told_what_an_unknown_id_is_told():
    ctx = _ctx()

    async def scenario() -> tuple[str, FaceError, FaceError]:
        job_id = await jobs.submit_owned(ctx, 7, vision.JOB_OPERATIONS["feature"], [b"img"], {})
        answers = []
        for app, asked in ((8, job_id), (7, "0" * len(job_id))):
            try:
                await jobs.owned(ctx, app, asked)
            except FaceError as exc:
                answers.append(exc)
        return job_id, *answers

    job_id, theirs, unknown = asyncio.run(scenario())
    assert theirs.kind is unknown.kind is ERRORS.JOB_NOT_FOUND
    # the same words but for the id asked about: nothing says the id exists
    assert theirs.detail.replace(job_id, "ID") == unknown.detail.replace("0" * len(job_id), "ID")


def test_an_unknown_job_is_the_queue_s_not_found():
    with pytest.raises(FaceError) as caught:
        asyncio.run(jobs.owned(_ctx(), 7, "nope"))
    assert caught.value.kind is ERRORS.JOB_NOT_FOUND
