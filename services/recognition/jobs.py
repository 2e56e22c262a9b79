"""Jobs: an operation queued now and read later (GET /v1/jobs/{id}).

A job record keeps its op name and options; the result is finished (vision.py) when it is
read. Bulk enrolment is an ingestion job instead, kept in PostgreSQL (ingest.py).
"""

from __future__ import annotations

from services.recognition import vision


def job_result(op: str, result: dict, options: dict) -> object:
    """A finished job's canonical result."""
    return vision.JOB_OPERATIONS[op].finish(result, options)
