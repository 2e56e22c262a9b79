"""The gallery in memory: services/recognition/gallery_port.py's GalleryPort over one set of
tables (tables.py), built with the options Gallery.open takes, so the core's rules run in the
fast ring. tests/support/gallery_cases.py holds it to the same cases as PostgreSQL.

Where it knowingly differs from PostgreSQL:
- search is always exact (a group with an HNSW index is searched approximately there), and
  faces at the same distance come back by id (PostgreSQL leaves their order open);
- an index is a flag, built at once by build_soon (PostgreSQL builds it in a background task);
- one caller at a time: no locks, so nothing here tests concurrency;
- a write that breaks a constraint raises tests.fakes.tables.IntegrityError where psycopg
  raises its own error class.
"""

from __future__ import annotations

from tests.fakes.apps import FakeAppAdmin, FakeAppLookup
from tests.fakes.clusters import FakeClusterRuns
from tests.fakes.groups import FakeGroupFaces, FakeIndexes
from tests.fakes.ingest import FakeIngestJobs
from tests.fakes.tables import Tables
from tests.fakes.users import FakeBaiduUsers, FakeIdentities


class FakeGallery:
    groups: FakeGroupFaces
    users: FakeBaiduUsers
    identities: FakeIdentities
    apps: FakeAppLookup
    indexes: FakeIndexes
    ingest: FakeIngestJobs
    app_admin: FakeAppAdmin
    clusters: FakeClusterRuns

    def __init__(self, hnsw_min_faces: int = 2000, ingest_chunk: int = 32,
                 ingest_in_flight: int = 4, ingest_retention_s: int = 7 * 86400,
                 ingest_stale_s: float = 600.0) -> None:
        self.tables = Tables()
        self.groups = FakeGroupFaces(self.tables)
        self.users = FakeBaiduUsers(self.tables, self.groups)
        self.identities = FakeIdentities(self.tables)
        self.apps = FakeAppLookup(self.tables)
        self.indexes = FakeIndexes(self.tables, hnsw_min_faces)
        self.ingest = FakeIngestJobs(self.tables, ingest_chunk, ingest_in_flight,
                                     ingest_retention_s, ingest_stale_s)
        self.app_admin = FakeAppAdmin(self.tables)
        self.clusters = FakeClusterRuns(self.tables)

    async def close(self) -> None:
        """Nothing to release; here so a test can treat it as it treats Gallery."""
