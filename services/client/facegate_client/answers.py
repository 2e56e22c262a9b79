"""The native API's answers, as the server declares them (its shared/answers.py, from which
it generates /openapi.json). Copied, not imported: the client installs without the server.
tests/unit/test_client_openapi.py compares each type with the server's document, so a change
on one side that the other does not follow fails there. docs/api.md says what each field means.

No `from __future__ import annotations` here: Python 3.11 reads NotRequired only from real
annotations, not from strings."""

from typing import Any, Literal, NotRequired

# typing_extensions' TypedDict: on Python 3.11 pydantic (the contract test) reads no other
from typing_extensions import TypedDict


class ErrorDescription(TypedDict):
    code: str  # the error kind's name
    cloudwalk_code: int
    baidu_code: int
    message: str


class Problem(TypedDict):
    """A native error: an RFC 9457 problem (application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    error: ErrorDescription


class Box(TypedDict):
    x: int
    y: int
    width: int
    height: int


class Point(TypedDict):
    x: float
    y: float


class FaceJson(TypedDict):
    """A face as the image operations show it."""

    box: Box
    probability: float
    landmarks: list[Point]  # the detector's 5: eyes, nose, mouth corners
    crop: NotRequired[str]  # base64 JPEG (detect with crops)
    score: NotRequired[float]  # compare/many: against face_a
    feature: NotRequired[str]  # detect with features


class AnalysedLandmarks(TypedDict):
    points5: list[Point]  # the detector's 5
    points68: list[tuple[float, float]]  # iBUG 300-W order
    points4: list[tuple[float, float]]  # Baidu's 4
    points72: list[tuple[float, float]]  # Baidu's 72


class Gender(TypedDict):
    value: Literal["male", "female"]
    probability: float  # 0.5-1


class Emotions(TypedDict):
    angry: float
    disgust: float
    fear: float
    happy: float
    sad: float
    surprise: float
    neutral: float


class Emotion(TypedDict):
    value: Literal["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    probabilities: Emotions


class Expression(TypedDict):
    value: Literal[0, 1, 2]  # none, smile, laugh
    probability: float


class Glasses(TypedDict):
    value: Literal[0, 1, 2]  # none, glasses, sunglasses
    probability: float


class FaceShape(TypedDict):
    square: float
    triangle: float
    oval: float
    heart: float
    round: float


class Occlusion(TypedDict):
    left_eye: float
    right_eye: float
    nose: float
    mouth: float
    left_cheek: float
    right_cheek: float
    chin: float


class FaceType(TypedDict):
    human: float
    cartoon: float


class Quality(TypedDict):
    occlusion: Occlusion  # 0 clear - 1 covered
    blur: float  # 0 sharp - 1 blurred
    sharpness: float
    illumination: int  # 0-255
    completeness: Literal[0, 1]
    type: FaceType


class Pose(TypedDict):
    yaw: float
    pitch: float
    roll: float
    rotation_angle: int


class Liveness(TypedDict):
    score: float
    threshold: float
    live: bool


class AnalysedFace(TypedDict):
    """A face of /v1/analyse: its box and probability, and each field asked for (docs/api.md,
    "Face analysis")."""

    box: Box
    probability: float
    landmarks: NotRequired[AnalysedLandmarks]
    age: NotRequired[float]  # years
    gender: NotRequired[Gender]
    emotion: NotRequired[Emotion]
    expression: NotRequired[Expression]
    glasses: NotRequired[Glasses]
    face_shape: NotRequired[FaceShape]
    beauty: NotRequired[float]  # 0-100
    quality: NotRequired[Quality]
    pose: NotRequired[Pose]
    liveness: NotRequired[Liveness]


class Detected(TypedDict):
    width: int
    height: int
    faces: list[FaceJson]
    model: NotRequired[str]  # with features


class Analysed(TypedDict):
    width: int
    height: int
    fields: list[str]
    faces: list[AnalysedFace]


class Feature(TypedDict):
    model: str
    rotation: int
    feature: str  # base64, model-tagged (docs/api.md, "Features")
    face: FaceJson


class CompareResult(TypedDict):
    score: float
    same_person: bool
    threshold: float
    model: str
    face_a: FaceJson
    face_b: FaceJson


class ComparedMany(TypedDict):
    score: float
    model: str
    threshold: float
    face_a: FaceJson
    faces: list[FaceJson]  # each with its score


class Similarity(TypedDict):
    score: float
    same_person: bool


class JobQueued(TypedDict):
    """An operation run as a job (`async`, POST /v1/jobs): poll it."""

    job_id: str
    status: str
    poll: str


class WebhookDelivery(TypedDict):
    """How a job's callback_url delivery goes (docs/api.md, "Webhooks")."""

    url: str
    status: str  # watching (the job runs), retrying, delivered, failed
    attempts: int
    last_status: NotRequired[int]  # the receiver's HTTP status at the last attempt
    last_error: NotRequired[str]
    delivered: NotRequired[float]


class OperationJob(TypedDict):
    """GET /v1/jobs/{id} of an operation's job."""

    job_id: str
    op: str
    status: str  # queued, running, done, failed
    created: float
    progress: NotRequired[dict[str, Any]]
    error: NotRequired[dict[str, Any]]
    result: NotRequired[dict[str, Any]]  # the operation's answer, once done
    webhook: NotRequired[WebhookDelivery]


class Models(TypedDict):
    recommended_score: float
    models: list[dict[str, Any]]


class Match(TypedDict):
    face_id: int
    tag: str
    score: float
    same_person: bool


class PersonMatch(TypedDict):
    person_id: str | None  # null: a face with no person, which counts as a person of its own
    name: str  # the person's name, or that face's tag
    score: float  # fused over the person's faces in the group
    same_person: bool  # score >= the verdict's threshold at the group's size
    face_id: int  # the person's face nearest the probe
    faces: int  # how many of its faces the score fuses


class Verdict(TypedDict):
    fpir: float  # the false-positive identification rate same_person keeps
    people: int  # the people in the group it is calibrated to
    threshold: float  # the score a person needs there


class IdentifyResult(TypedDict):
    group: str
    threshold: float
    matches: list[Match]
    people: list[PersonMatch]
    verdict: Verdict


class PersonRecord(TypedDict):
    person_id: str
    name: str
    group: str
    faces: int
    created: float


class PersonCreated(PersonRecord):
    new: bool  # false: the key named a person the app has (a retry), now in this group


class PersonsPage(TypedDict):
    total: int
    offset: int
    people: list[PersonRecord]


class GroupRecord(TypedDict):
    name: str
    tag: str
    faces: int
    indexed: NotRequired[bool]
    quality: NotRequired[str | None]  # its enrolments' default level; null: the service's


class GroupsPage(TypedDict):
    total: int
    page: int
    groups: list[GroupRecord]


class FaceRecord(TypedDict):
    face_id: int
    tag: str
    box: list[int]
    quality: float | None
    created: float
    uid: str | None
    person_id: str | None  # the person it is a face of (a Baidu user: its uid), if any
    thumbnail: bool


class FacesPage(TypedDict):
    total: int
    offset: int
    faces: list[FaceRecord]


class Enrolled(TypedDict):
    face_id: int
    created: bool
    group: str


class Deleted(TypedDict):
    deleted: bool
    name: NotRequired[str]
    face_id: NotRequired[int]
    uid: NotRequired[str]
    person_id: NotRequired[str]


class Progress(TypedDict):
    done: int
    total: int
    percent: float
    rate_per_s: float
    eta_s: float | None
    chunks_in_flight: int


class JobStatus(TypedDict):
    """An ingestion job (GET /v1/jobs/{id} of a bulk load, GET /v1/jobs)."""

    job_id: str
    op: str
    status: str  # running, done, cancelled, failed
    group: str
    created: float
    progress: Progress
    counts: dict[str, int]
    faces_created: int
    items: str  # the path of its items
    quality: NotRequired[str]  # the level it enrols at: strict, lenient or none
    finished: NotRequired[float]
    error: NotRequired[dict[str, Any]]
    result: NotRequired[dict[str, Any]]
    webhook: NotRequired[WebhookDelivery]


class ItemOutcome(TypedDict):
    index: int
    key: str | None
    tag: str
    status: str  # enrolled, no_face, low_quality, bad_image, cancelled, failed, pending
    face_id: NotRequired[int]
    created: NotRequired[bool]
    error: NotRequired[dict[str, Any]]


class JobItems(TypedDict):
    job_id: str
    offset: int
    items: list[ItemOutcome]
    next: NotRequired[str]  # the next page's path, while a page is full


class JobsPage(TypedDict):
    jobs: list[JobStatus]


class JobAccepted(TypedDict):
    job_id: str
    status: str
    total: int
    poll: str
    items: str


class ClusterProgress(TypedDict):
    done: int  # faces whose neighbours are found
    total: int
    percent: float


class ClusterJob(TypedDict):
    """A clustering job (POST /v1/groups/{group}/clusters, GET /v1/jobs/{id})."""

    job_id: str
    op: str  # cluster
    status: str  # queued, running, done, failed
    group: str
    threshold: float
    created: float
    progress: ClusterProgress
    clusters: str  # the path of the group's clusters
    poll: NotRequired[str]
    finished: NotRequired[float]
    result: NotRequired[dict[str, int]]  # clusters, faces
    error: NotRequired[dict[str, Any]]
    webhook: NotRequired[WebhookDelivery]


class ClusterRecord(TypedDict):
    cluster_id: int
    size: int
    faces: list[int]  # every face id, ascending
    representative: int  # the face closest to the cluster's centre
    name: str | None  # the tag it was named with
    person_id: str | None  # the person most of its faces are (a confirmed cluster)
    person: str | None  # that person's name


class ClustersPage(TypedDict):
    group: str
    job_id: str  # the clustering this is
    threshold: float
    clustered: float  # when it finished
    total: int  # clusters
    faces: int
    offset: int
    clusters: list[ClusterRecord]


class ClusterNamed(TypedDict):
    group: str
    cluster_id: int
    tag: str
    faces: int  # faces tagged


class ClusterConfirmed(TypedDict):
    group: str
    cluster_id: int
    person_id: str
    name: str
    joined: int  # faces of the cluster that became the person's
    left: list[int]  # faces left as they were: another person's, or marked "not" this one
    faces: int  # the person's faces in the group now


class ClusterEdited(TypedDict):
    group: str
    cluster_id: int  # the cluster the faces are in now


class FaceAssigned(TypedDict):
    group: str
    face_id: int
    person_id: str | None
    changed: bool


class ImportResult(TypedDict):
    group: str
    model: str
    persons_created: int
    faces_created: int
    faces_existing: int  # their key was in the group already (a part sent twice)
    reembed_job: str | None  # a file of another model: the job re-embedding the group


class NotPerson(TypedDict):
    group: str
    person_id: str
    face_id: int
    was_theirs: bool  # the face was the person's until now


class ReembedProgress(TypedDict):
    done: int  # faces embedded or skipped
    total: int
    percent: float


class ReembedSkipped(TypedDict):
    no_region: int  # enrolled before regions were kept
    no_face: int  # the region showed no face to the detector
    dropped: int  # of those, deleted at the swap (drop_faces)


class ReembedStatus(TypedDict):
    """A re-embedding job (POST /v1/groups/{group}/reembed, GET /v1/jobs/{id})."""

    job_id: str
    op: str  # reembed
    status: str  # queued, running, done, failed, cancelled
    group: str
    model: str  # the model it moves the group to
    from_model: str  # the group's model when the job was made
    drop_faces: bool
    created: float
    progress: ReembedProgress
    skipped: ReembedSkipped
    poll: NotRequired[str]
    finished: NotRequired[float]
    result: NotRequired[dict[str, Any]]  # model, faces
    error: NotRequired[dict[str, Any]]
    webhook: NotRequired[WebhookDelivery]
