"""The shared gallery cases (tests/support/gallery_cases.py) on real PostgreSQL + pgvector: the
same cases the in-memory fake passes in the fast ring, so the fake the core's rules are tested
on behaves as the gallery does. An embedded server of this module's own (no Redis, no worker),
a database migrated once as a template, and a fresh copy of it for each case."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest

from services.cli.embedded import EmbeddedPostgres
from services.gallery.database import Gallery
from services.gallery.migrate import migrate
from tests.support.gallery_cases import CASES, OPTIONS, Case

TEMPLATE = "gallery_cases_template"


def database_url(server_url: str, name: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    postgres = EmbeddedPostgres(tmp_path_factory.mktemp("gallery_port"))
    try:
        with psycopg.connect(postgres.url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{TEMPLATE}"')
        migrate(database_url(postgres.url, TEMPLATE))
        yield postgres.url
    finally:
        postgres.stop()


@pytest.fixture
def database(server: str) -> Iterator[str]:
    """A migrated database no other case has touched (a copy of the template: milliseconds,
    where migrating each would take a second)."""
    name = f"case_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    yield database_url(server, name)
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_postgres_gallery(case: Case, database: str):
    async def run() -> None:
        gallery = await Gallery.open(database, max_size=4, run_migrations=False, **OPTIONS)
        try:
            await case(gallery)
        finally:
            await gallery.close()

    asyncio.run(run())
