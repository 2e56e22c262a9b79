"""CloudWalk's answers, field by field, as CloudWalk face server API v1.24 defines them (the
frame adds `result` 0 and `info`; an error is `result` and `info` alone). Documented from these
(gateway/openapi/); no `from __future__ import annotations`, so the types are real at run time."""

from typing_extensions import TypedDict  # pydantic reads it on Python 3.11


class Failure(TypedDict):
    """The envelope of every answer: `result` 0 and "成功", or an error code and its message."""

    result: int
    info: str


class Box(TypedDict):
    x: int
    y: int
    width: int
    height: int


class DetectedFace(Box):
    img: str  # the face's crop as base64 JPEG when mode=1, else "null"


class Detected(TypedDict):
    faces: list[DetectedFace]


class Feature(TypedDict):
    feature: str


class Score(TypedDict):
    score: float


class ScoredFace(Box):
    score: float


class ComparedMany(TypedDict):
    score: float
    faces: list[ScoredFace]


class AttributeFace(Box):
    age: str  # years, as text
    gender: str  # "1" male, "-1" female


class Attributes(TypedDict):
    faces: list[AttributeFace]


class Point(TypedDict):
    x: int
    y: int


class KeyptFace(Box):
    keypt: list[Point]


class Keypoints(TypedDict):
    faces: list[KeyptFace]


class Cleaned(TypedDict):
    img: str


class Nothing(TypedDict):
    pass


class GroupRow(TypedDict, total=False):
    groupId: str
    info: str
    count: int


class Groups(TypedDict):
    total: int
    rows: list[GroupRow]


class FaceCreated(TypedDict):
    faceId: int


class FaceRow(TypedDict):
    faceId: int
    tag: str


class Faces(TypedDict):
    total: int
    rows: list[FaceRow]


class Match(TypedDict):
    faceId: int
    score: float
    tag: str


class Identified(TypedDict):
    faces: list[Match]


class MatchedFace(Match, Box):
    pass


class IdentifiedEach(TypedDict):
    groupId: str
    faces: list[MatchedFace]
