"""What the core needs of the gallery, as an interface (the queue's is ports.py).

One Protocol per repository, holding only the methods the core (services/recognition), the
dialects (gateway/) and the workers call, and GalleryPort grouping them under the attribute
names of services.gallery.database.Gallery, which satisfies it structurally. The in-memory fake
in tests/fakes/gallery.py satisfies it too; tests/support/gallery_cases.py holds both to the same
cases, so the core's rules can be tested in the fast ring on the fake. The records the methods
take and give (Group, FaceRow, IngestJob, ...) stay the gallery's own: they are plain data.

A method's signature here is the concrete repository's, parameter for parameter
(tests/unit/test_gallery_fake.py compares them), so a change to one shows up as a failing test
rather than as a fake that drifted.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, Callable, Iterable
from typing import Protocol

import numpy as np

from services.gallery.apps import App, NewApp
from services.gallery.clusters import ClusterRow, ClusterRun, Constraints, Vote
from services.gallery.ingest import IngestJob, ItemOutcome, NewItem, PendingItem
from services.gallery.records import (
    KEEP,
    FaceRow,
    FaceWritten,
    Group,
    Identity,
    Imported,
    Keep,
    ListedFace,
    Match,
    Person,
    PersonFace,
    StoredFace,
    StoredFaceData,
    UserEntry,
    UserMatch,
)
from shared.errors import FaceError
from shared.settings import GateLevel
from shared.tasks import Chunk


class GroupsPort(Protocol):
    """Groups and their faces (services/gallery/faces.py). Every method takes the calling app:
    a group is found by (app, name), so one app never reaches another's."""

    async def create_group(self, app: int, name: str, tag: str, model: int,
                           quality: GateLevel | None = None) -> Group:
        """A new empty group holding `model`, its enrolments' default level `quality` (None:
        the service's); GROUP_CREATE if the app has one of that name."""

    async def group(self, app: int, name: str) -> Group:
        """The group, or GROUP_NOT_FOUND."""

    async def groups_named(self, app: int, names: list[str]) -> list[Group]:
        """Those of the named groups that exist, by name (the others left out)."""

    async def update_group(self, app: int, name: str, quality: GateLevel | Keep | None = KEEP,
                           tag: str | None = None) -> Group:
        """The group with its enrolments' default level set to `quality` (None: back to the
        service's; KEEP: as it was) and its tag to `tag` when given; GROUP_NOT_FOUND."""

    async def delete_group(self, app: int, name: str) -> None:
        """The group and its faces (GROUP_NOT_FOUND)."""

    async def groups_page(self, app: int, page: int, size: int) -> tuple[int, list[Group]]:
        """(the app's groups, one page of them in creation order); pages count from 1."""

    async def group_names(self, app: int, start: int, num: int) -> list[str]:
        """Names of the app's groups in creation order, from `start`."""

    async def searchable_group(self, app: int, name: str, model: int) -> Group:
        """The group, if faces of `model` can be searched in it (else GROUP_NOT_FOUND,
        MODEL_MISMATCH, GROUP_EMPTY)."""

    async def add_face(self, app: int, group_name: str, face: FaceRow, tag: str,
                       request_key: str | None = None, person: str | None = None
                       ) -> tuple[FaceWritten, Group]:
        """One face and the group's count, or neither; the model checked in the write; the
        face is the group's person `person` when given (USER_NOT_FOUND). A request_key seen
        before in the group returns the face it made (created false) and writes nothing. Also
        the group after the write."""

    async def delete_face(self, app: int, group_name: str, face_id: int) -> None:
        """GROUP_NOT_FOUND, FACE_NOT_FOUND."""

    async def edit_face(self, app: int, group_name: str, face_id: int, tag: str | None = None,
                        face: FaceRow | None = None) -> None:
        """A new tag, a new face (of the group's model), or both."""

    async def face(self, app: int, group_name: str, face_id: int) -> StoredFace:
        """GROUP_NOT_FOUND, FACE_NOT_FOUND."""

    async def faces_page(self, app: int, group_name: str, tag: str, offset: int, limit: int,
                         person: str | None = None) -> tuple[int, list[ListedFace]]:
        """(faces whose tag contains `tag`, any case, of the person `person` when given
        (USER_NOT_FOUND); a page of them, newest first)."""

    async def thumbnail(self, app: int, group_name: str, face_id: int) -> bytes | None:
        """The face's stored JPEG, None if it has none."""

    async def face_vector(self, app: int, group_name: str, face_id: int
                          ) -> tuple[int, np.ndarray]:
        """(the face's model, its embedding)."""

    async def search(self, group: Group, vector: np.ndarray, top_n: int) -> list[Match]:
        """The group's top_n faces by cosine to `vector`, best first. `group` comes from one of
        the app-scoped reads above: that is where tenancy was decided."""

    async def export_faces(self, group: Group, after: int, limit: int) -> list[StoredFaceData]:
        """A page of the group's faces by id after `after`, with all they hold."""

    async def people_faces(self, group: Group, vector: np.ndarray, user_ids: list[int]
                           ) -> list[PersonFace]:
        """Every face of those persons in the group, with its cosine to `vector`."""

    async def people_sizes(self, group: Group) -> dict[int, int]:
        """The group's people by their number of faces (faces -> persons): persons with a
        face, each face with no person a person of one face."""


class UsersPort(Protocol):
    """Baidu's users, each in one or more groups, owning faces there (services/gallery/users.py).
    Every method is one transaction."""

    async def add_user_face(self, app: int, uid: str, user_info: str, groups: list[str],
                            face: FaceRow, replace: bool, must_exist: bool = False
                            ) -> list[Group]:
        """The face under the user in each group (made on first use); the groups touched."""

    async def delete_user(self, app: int, uid: str, group: str | None = None) -> None:
        """The user out of one group, or out of all and gone (USER_NOT_FOUND)."""

    async def get_user(self, app: int, uid: str, group: str | None = None) -> list[UserEntry]:
        """The user in each of its groups (USER_NOT_FOUND)."""

    async def group_users(self, app: int, group: str, start: int, num: int
                          ) -> list[tuple[str, str]]:
        """(uid, user_info) of a group's users (GROUP_NOT_FOUND)."""

    async def copy_user(self, app: int, uid: str, source: str, targets: list[str]
                        ) -> list[Group]:
        """The user's faces in `source` copied into each target; the groups touched."""

    async def remove_user_from_groups(self, app: int, uid: str, groups: list[str]) -> None:
        """The user out of these groups, never out of all (USER_ONE_GROUP)."""

    async def create_person(self, app: int, group: str, person_id: str, name: str
                            ) -> tuple[Person, bool]:
        """(the person in the group, created); an id the app has is that person, joining the
        group with its name unchanged (GROUP_NOT_FOUND)."""

    async def person(self, app: int, group: str, person_id: str) -> Person:
        """GROUP_NOT_FOUND, USER_NOT_FOUND."""

    async def persons_page(self, app: int, group: str, offset: int, limit: int
                           ) -> tuple[int, list[Person]]:
        """(the group's persons, a page of them oldest first)."""

    async def delete_person(self, app: int, group: str, person_id: str) -> None:
        """The person and its faces out of the group (the group stays); gone when in no
        group."""

    async def rename_person(self, app: int, group: str, person_id: str, name: str) -> Person:
        """The person with its new name."""

    async def import_faces(self, app: int, group: str, model: int, tag: str,
                           faces_in: list[StoredFaceData]) -> tuple[Imported, Group]:
        """One import batch: the group (made if missing, else of `model`), its persons and
        faces, each face once per key."""

    async def assign_faces(self, app: int, group: str, face_ids: list[int],
                           person_id: str | None) -> int:
        """The faces become the person's (None: nobody's), its "not" marks on them cleared;
        FACE_NOT_FOUND, USER_NOT_FOUND; how many changed."""

    async def confirm_faces(self, app: int, group: str, face_ids: list[int], person_id: str
                            ) -> tuple[list[int], list[int]]:
        """Of the faces, those nobody's and not marked "not" the person become its: (joined,
        left out)."""

    async def not_person(self, app: int, group: str, person_id: str, face_id: int) -> bool:
        """The face is marked "not" the person and leaves it; whether it was its."""

    async def merge_persons(self, app: int, group: str, into: str, other: str) -> Person:
        """`other`'s faces become `into`'s; `other` leaves the group."""

    async def identify_users(self, app: int, groups: list[str], vector: np.ndarray, model: int,
                             user_top: int) -> list[UserMatch]:
        """The best users over the groups, each with its faces' cosines, best first."""

    async def verify_user(self, app: int, uid: str, groups: list[str], vector: np.ndarray,
                          model: int, top: int) -> list[float]:
        """Cosines of the query against the user's own faces in those groups, best first."""


class IdentitiesPort(Protocol):
    """The identity registry behind person/verify (services/gallery/identities.py)."""

    async def put(self, app: int, id_card_number: str, name: str, vector: np.ndarray,
                  model: int) -> bool:
        """Add or replace; True when it is new."""

    async def get(self, app: int, id_card_number: str) -> Identity:
        """IDENTITY_NOT_FOUND."""

    async def delete(self, app: int, id_card_number: str) -> None:
        """IDENTITY_NOT_FOUND."""


class AppsPort(Protocol):
    """The gateway's read of apps, for authentication (services/gallery/apps.py AppLookup)."""

    async def by_credential(self, key_or_name: str) -> App | None:
        """The app whose API key (or name) this is."""

    async def by_id(self, app_id: int) -> App | None: ...


class AppAdminPort(Protocol):
    """The operator's management of apps (services/gallery/apps.py AppAdmin); PARAM_INVALID
    for a name taken or an app that is not active."""

    async def list(self) -> list[App]: ...

    async def create(self, name: str, qps: int | None) -> NewApp: ...

    async def rotate(self, name_or_key: str) -> NewApp: ...

    async def revoke(self, name_or_key: str) -> App: ...

    async def set_qps(self, name_or_key: str, qps: int | None) -> App: ...


class IndexesPort(Protocol):
    """A large group's own search index (services/gallery/indexes.py)."""

    async def ensure_index(self, group: Group) -> bool:
        """Build the group's index now if it has reached the threshold; whether it did."""

    def build_soon(self, groups: Iterable[Group]) -> None:
        """Build the index of those that reached the threshold, without waiting for it."""


class IngestPort(Protocol):
    """Ingestion jobs, their items and chunks (services/gallery/ingest.py)."""

    async def create(self, app: int, group: str, batches: AsyncIterable[list[NewItem]],
                     quality: GateLevel | None = None) -> tuple[str, int]:
        """The job, enrolling at level `quality`, and all its items, or nothing; (job id,
        items)."""

    async def feed(self, app: int, send: Callable[[Chunk], None]) -> list[Chunk]:
        """Chunks handed out up to the app's in-flight cap, round-robin over its running jobs;
        stale ones sent again."""

    async def job(self, app: int, job_id: str) -> IngestJob:
        """JOB_NOT_FOUND, for another app's job too."""

    async def recent(self, app: int, limit: int) -> list[IngestJob]: ...

    async def exists(self, job_id: str) -> bool:
        """Whether any app has an ingestion job of that id."""

    async def items(self, app: int, job_id: str, offset: int, limit: int,
                    status: str | None = None) -> list[dict]: ...

    async def cancel(self, app: int, job_id: str) -> tuple[IngestJob, bool]:
        """(the job, whether this call ended it: it was running)."""

    async def pending(self, chunk: Chunk) -> tuple[IngestJob | None, list[PendingItem]]:
        """The chunk's job (None once it is not running) and its items still to do."""

    async def known_keys(self, app: int, group: str, keys: list[str]) -> dict[str, int]:
        """Face ids already enrolled in the group under these keys."""

    async def complete_chunk(self, chunk: Chunk, keys: dict[int, str], tags: dict[int, str],
                             outcomes: list[ItemOutcome], worker: str = ""
                             ) -> tuple[IngestJob | None, Group | None]:
        """The chunk's faces and outcomes in one write; a second delivery writes nothing."""

    async def finish(self, job_id: str) -> bool: ...


class ClustersPort(Protocol):
    """Clusterings of a group (services/gallery/clusters.py)."""

    async def create(self, app: int, group: Group, score: float) -> ClusterRun: ...

    async def run(self, run_id: str, app: int | None = None) -> ClusterRun | None:
        """A run by id (None if there is none, or it is another app's)."""

    async def latest(self, group: Group) -> ClusterRun | None: ...

    async def start(self, run_id: str) -> bool: ...

    async def progress(self, run_id: str, done: int) -> None: ...

    async def snapshot(self, group_id: int) -> tuple[np.ndarray, np.ndarray]: ...

    async def save(self, run_id: str, face_ids: np.ndarray, labels: np.ndarray,
                   representatives: np.ndarray) -> int: ...

    async def fail(self, run_id: str, error: FaceError) -> None: ...

    async def join_unassigned(self, run: ClusterRun, group: Group, k: int, vote: Vote) -> int: ...

    async def page(self, run: ClusterRun, offset: int, limit: int
                   ) -> tuple[int, int, list[ClusterRow]]: ...

    async def name(self, run: ClusterRun, cluster_id: int, tag: str) -> int: ...

    async def constraints(self, group_id: int) -> Constraints:
        """The group's faces' persons and "not this person" marks."""

    async def edit(self, run: ClusterRun, cluster_id: int | None,
                   face_ids: list[int] | None = None, from_cluster: int | None = None) -> int:
        """Faces (or all of `from_cluster`'s) moved into a cluster (None: a new one)."""

    async def cluster_faces(self, run: ClusterRun, cluster_id: int) -> list[int]:
        """The cluster's face ids (CLUSTER_NOT_FOUND)."""


class GalleryPort(Protocol):
    """The gallery as a whole: one repository per aggregate, read-only attributes (so a class
    holding a concrete repository satisfies it)."""

    @property
    def groups(self) -> GroupsPort: ...

    @property
    def users(self) -> UsersPort: ...

    @property
    def identities(self) -> IdentitiesPort: ...

    @property
    def apps(self) -> AppsPort: ...

    @property
    def indexes(self) -> IndexesPort: ...

    @property
    def ingest(self) -> IngestPort: ...

    @property
    def app_admin(self) -> AppAdminPort: ...

    @property
    def clusters(self) -> ClustersPort: ...
