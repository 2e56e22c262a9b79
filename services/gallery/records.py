"""What the gallery's repositories hand back: plain records, no connections."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

import numpy as np
from pgvector import Vector

from shared.settings import GateLevel

MAX_TAG_BYTES = 128  # a face's (and a group's) tag, UTF-8: every dialect refuses longer ones


@dataclass
class Group:
    id: int
    name: str
    tag: str
    model: int
    face_count: int
    indexed: bool
    quality: GateLevel | None = None  # its enrolments' default level; None: the service's


GROUP_COLUMNS = "id, name, tag, model, face_count, indexed, quality"  # as Group takes them


class Keep(Enum):
    """An update's value for a column it leaves as it is, where None cannot say so because
    None is a value of its own (a group's quality level cleared back to the service's)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass
class StoredFace:
    id: int
    group: str
    tag: str
    box: list[int]
    quality: float | None
    created_at: datetime
    updated_at: datetime


@dataclass
class FaceRow:
    """A face that passed the gate, as every enrolment path writes it."""

    vector: np.ndarray
    model: int
    box: list[int]
    quality: float | None
    sha256: bytes | None
    thumbnail: bytes | None = None  # a small JPEG of the face, None where thumbnails are off
    region: bytes | None = None  # the face's region (JPEG) a re-embedding reads


@dataclass
class ListedFace:
    """A face as a gallery listing shows it."""

    id: int
    tag: str
    box: list[int]
    quality: float | None
    created_at: datetime
    uid: str | None  # the Baidu user it belongs to, if any
    has_thumbnail: bool


@dataclass
class FaceWritten:
    """An enrolment's outcome: `created` is false when its idempotency key was seen before."""

    face_id: int
    created: bool


@dataclass
class Match:
    face_id: int
    cosine: float
    tag: str
    user_id: int | None = None


@dataclass
class Person:
    """A person of a group (a Baidu user is one): its id (Baidu's uid), name (Baidu's
    user_info) and how many faces it has in the group."""

    person_id: str
    name: str
    faces: int
    created_at: datetime


@dataclass
class PersonFace:
    """One face of a candidate person, as identify-by-person fuses them."""

    user_id: int
    person_id: str
    name: str
    face_id: int
    cosine: float
    quality: float | None
    template_norm: float = 1.0  # |mean of the person's face vectors| (person_fusion)


@dataclass
class StoredFaceData:
    """Everything a face's row holds, as an export writes it and an import reads it back."""

    id: int  # in its group (an import's ids are new)
    tag: str
    key: str | None  # its idempotency key
    person_id: str | None
    person_name: str | None
    box: list[int]
    quality: float | None
    vector: np.ndarray
    sha256: bytes | None
    thumbnail: bytes | None
    created_at: datetime | None = None
    region: bytes | None = None  # the stored face region (JPEG) a re-embedding reads


@dataclass
class Imported:
    """What one import batch wrote."""

    persons_created: int
    faces_created: int
    faces_existing: int  # their key was in the group already (a part imported twice)


@dataclass
class Identity:
    id_card_number: str
    name: str
    model: int
    vector: np.ndarray


@dataclass
class UserMatch:
    group: str
    uid: str
    user_info: str
    cosines: list[float] = field(default_factory=list)


@dataclass
class UserEntry:
    uid: str
    user_info: str
    group: str


def image_hash(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def vector_array(stored) -> np.ndarray:
    if isinstance(stored, Vector):  # pgvector-python's binary loader wraps the array
        stored = stored.to_numpy()
    return np.asarray(stored, np.float32)
