"""The /v1 path parameters every route under a path shares, one model each: a route's
parameters extend the one its path starts with."""

from __future__ import annotations

from pydantic import Field

from gateway.contract import Fields, GroupName


class GroupPath(Fields):
    """/v1/groups/{group}/..."""

    group: GroupName


class JobPath(Fields):
    """/v1/jobs/{job_id}/..."""

    job_id: str = Field(max_length=200)
