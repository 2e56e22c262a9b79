"""The shapes of the native API's answers the client returns (docs/api.md has every field)."""

from __future__ import annotations

from typing import Any, TypedDict


class Box(TypedDict):
    x: int
    y: int
    width: int
    height: int


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
    indexed: bool


class FaceRecord(TypedDict):
    face_id: int
    tag: str
    box: list[int]
    quality: float | None
    created: float
    uid: str | None
    thumbnail: bool


class Progress(TypedDict):
    done: int
    total: int
    percent: float
    rate_per_s: float
    eta_s: float | None
    chunks_in_flight: int


class JobStatus(TypedDict, total=False):
    job_id: str
    op: str
    status: str  # queued, running, done, cancelled, failed
    group: str
    progress: Progress
    counts: dict[str, int]
    faces_created: int
    result: dict[str, Any]
    error: dict[str, Any]
