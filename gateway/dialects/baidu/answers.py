"""Baidu's answers, field by field, as Baidu face API v2 defines them (the frame adds `log_id`;
an error is `error_code`, `error_msg` and `log_id`). Documented from these (gateway/openapi/);
no `from __future__ import annotations`, so the types are real at run time."""

from typing import NotRequired

from typing_extensions import TypedDict  # pydantic reads it on Python 3.11


class Failure(TypedDict):
    error_code: int
    error_msg: str
    log_id: int


class Nothing(TypedDict):
    pass


class Location(TypedDict):
    left: int
    top: int
    width: int
    height: int


class Point(TypedDict):
    x: float
    y: float


class Qualities(TypedDict):
    occlusion: dict[str, float]
    blur: float
    illumination: float
    completeness: int
    type: dict[str, float]


class Shape(TypedDict):
    type: str
    probability: float


class Face(TypedDict):
    """One face (detect, faceverify): the fields asked for in face_fields are added."""

    location: Location
    face_probability: float
    rotation_angle: int
    yaw: float
    pitch: float
    roll: float
    age: NotRequired[float]
    beauty: NotRequired[float]
    expression: NotRequired[int]
    expression_probability: NotRequired[float]
    faceshape: NotRequired[list[Shape]]
    gender: NotRequired[str]
    gender_probability: NotRequired[float]
    glasses: NotRequired[int]
    glasses_probability: NotRequired[float]
    landmark: NotRequired[list[Point]]
    landmark72: NotRequired[list[Point]]
    qualities: NotRequired[Qualities]
    faceliveness: NotRequired[float]


class Detected(TypedDict):
    result_num: int
    result: list[Face]


class Pair(TypedDict):
    index_i: int
    index_j: int
    score: float  # 0-100


class MatchInfo(TypedDict, total=False):
    qualities: str  # the JSON of one qualities object per image, as the document types it
    faceliveness: str  # per image, comma-separated


class Matched(TypedDict):
    result_num: int
    result: list[Pair]
    ext_info: NotRequired[list[MatchInfo]]


class PersonInfo(TypedDict, total=False):
    faceliveness: float
    qualities: Qualities


class PersonVerified(TypedDict):
    result: float  # similarity in [0, 1]
    ext_info: NotRequired[PersonInfo]


class Liveness(TypedDict):
    faceliveness: str


class UserMatch(TypedDict):
    group_id: str
    uid: str
    user_info: str
    scores: list[float]  # 0-100


class Identified(TypedDict):
    result_num: int
    result: list[UserMatch]
    ext_info: NotRequired[list[Liveness]]


class Verified(TypedDict):
    result_num: int
    result: list[float]  # 0-100
    ext_info: NotRequired[list[Liveness]]


class Position(Location):
    degree: int
    prob: float


class FaceUserMatch(UserMatch):
    position: Position


class MultiIdentified(TypedDict):
    result_num: int
    result: list[FaceUserMatch]
    ext_info: NotRequired[list[Liveness]]


class UserEntry(TypedDict):
    uid: str
    user_info: str
    group_id: str
    groups: list[str]


class Users(TypedDict):
    result_num: int
    result: list[UserEntry]


class Names(TypedDict):
    result_num: int
    result: list[str]


class GroupUser(TypedDict):
    uid: str
    user_info: str


class GroupUsers(TypedDict):
    result_num: int
    result: list[GroupUser]


class Token(TypedDict):
    """/oauth/2.0/token (RFC 6749, section 5.1, with Baidu's extra fields)."""

    access_token: str
    expires_in: int
    scope: str
    session_key: str
    session_secret: str
    refresh_token: str
