"""The gallery: one PostgreSQL + pgvector database, its connection pool, and one repository per
aggregate (groups and faces, Baidu users, identities, apps, index maintenance).

Handlers never see SQL; each table has one writer (see each module's docstring).
"""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from pgvector.psycopg import register_vector_async
from psycopg_pool import AsyncConnectionPool

from services.gallery.apps import AppAdmin, AppLookup
from services.gallery.clusters import ClusterRuns
from services.gallery.faces import HNSW_EF_SEARCH, GroupFaces
from services.gallery.identities import Identities
from services.gallery.indexes import Indexes
from services.gallery.ingest import IngestJobs
from services.gallery.migrate import migrate, pgvector_version
from services.gallery.reembed import ReembedRuns
from services.gallery.users import BaiduUsers
from shared.settings import Settings

DEFAULT_APP = 1


@dataclass
class Gallery:
    pool: AsyncConnectionPool
    pgvector: tuple[int, ...]
    groups: GroupFaces
    users: BaiduUsers
    identities: Identities
    apps: AppLookup
    indexes: Indexes
    ingest: IngestJobs
    app_admin: AppAdmin
    clusters: ClusterRuns
    reembeds: ReembedRuns

    @classmethod
    async def open(cls, database_url: str, hnsw_min_faces: int = 2000, max_size: int = 16,
                   run_migrations: bool = True, ingest_chunk: int = 32,
                   ingest_in_flight: int = 4, ingest_retention_s: int = 7 * 86400,
                   ingest_stale_s: float = 600.0) -> Gallery:
        """Migrations run here (under an advisory lock), so a new version's gateway brings its
        schema with it; a worker, which only writes rows, passes run_migrations=False."""
        if run_migrations:
            migrate(database_url)
        with psycopg.connect(database_url) as conn:
            version = pgvector_version(conn)

        async def configure(conn: psycopg.AsyncConnection) -> None:
            await register_vector_async(conn)
            # Once per connection rather than SET LOCAL per query: a search is one round trip.
            await conn.execute(f"SET hnsw.ef_search = {HNSW_EF_SEARCH}")
            if version >= (0, 8, 0):
                # Safety net: should a plan ever filter after an index scan, 0.8 keeps scanning
                # until enough rows pass instead of returning too few.
                await conn.execute("SET hnsw.iterative_scan = relaxed_order")

        # Autocommit: a read is one round trip (no BEGIN, no ROLLBACK when the connection goes
        # back to the pool); writes open explicit transactions.
        pool = AsyncConnectionPool(database_url, min_size=1, max_size=max_size,
                                   kwargs={"autocommit": True}, configure=configure, open=False)
        await pool.open(wait=True)
        groups = GroupFaces(pool)
        return cls(pool, version, groups, BaiduUsers(pool, groups), Identities(pool),
                   AppLookup(pool), Indexes(database_url, hnsw_min_faces),
                   IngestJobs(pool, ingest_chunk, ingest_in_flight, ingest_retention_s,
                              ingest_stale_s), AppAdmin(database_url), ClusterRuns(pool),
                   ReembedRuns(pool, database_url, hnsw_min_faces))

    @classmethod
    async def for_settings(cls, settings: Settings, max_size: int = 16,
                           run_migrations: bool = True) -> Gallery:
        return await cls.open(settings.database_url, settings.hnsw_min_faces, max_size,
                              run_migrations, settings.ingest_chunk, settings.ingest_in_flight,
                              settings.ingest_retention_s,
                              # a chunk unfinished this long lost its message (one held by a
                              # dead worker is back after the visibility timeout; this is for
                              # one lost as it was taken): send it again. Not sooner than 5
                              # minutes: a chunk may wait that long behind other apps' chunks.
                              float(max(300, settings.visibility_timeout_s + 60)))

    async def close(self) -> None:
        await self.pool.close()
