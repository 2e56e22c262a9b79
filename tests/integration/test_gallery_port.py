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
from services.gallery.users import claim_user
from shared.errors import ERRORS, FaceError
from tests.support.gallery_cases import CASES, MODEL, OPTIONS, Case, axis, new_app, row

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


def test_a_person_joining_a_group_while_its_only_group_is_deleted_is_kept(database: str):
    """The group deletion's erasure drops persons left in no group; one that another call
    is adding to a group at that moment (create_person in another group: its row claimed,
    the membership written, not yet committed) waits for that call and is kept, with its
    name, in the group it joined."""
    async def run() -> None:
        gallery = await Gallery.open(database, max_size=4, run_migrations=False, **OPTIONS)
        try:
            app = await new_app(gallery, "race")
            await gallery.groups.create_group(app, "old", "", MODEL)
            joined = await gallery.groups.create_group(app, "new", "", MODEL)
            await gallery.users.create_person(app, "old", "ann", "Ann")
            async with await psycopg.AsyncConnection.connect(database) as joining:
                async with joining.transaction():
                    user_id, created = await claim_user(joining, app, "ann", "Other name")
                    assert not created
                    await joining.execute("INSERT INTO group_users (group_id, user_id) "
                                          "VALUES (%s, %s)", (joined.id, user_id))
                    deleting = asyncio.create_task(gallery.groups.delete_group(app, "old"))
                    await asyncio.sleep(1.0)
                    assert not deleting.done()  # it waits on the person's row
                await deleting
            person = await gallery.users.person(app, "new", "ann")
            assert (person.person_id, person.name) == ("ann", "Ann")
            with pytest.raises(FaceError) as caught:
                await gallery.groups.group(app, "old")
            assert caught.value.kind is ERRORS.GROUP_NOT_FOUND
        finally:
            await gallery.close()

    asyncio.run(run())


async def _waiting_on_a_lock(database: str) -> None:
    """Until some backend of the database waits on a lock (at most 10 s)."""
    async with await psycopg.AsyncConnection.connect(database, autocommit=True) as watch:
        for _ in range(200):
            row = await (await watch.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).fetchone()
            if row[0]:
                return
            await asyncio.sleep(0.05)
    raise AssertionError("nothing waits on a lock")


@pytest.mark.parametrize("write", ["copy", "add"])
def test_a_write_waiting_on_one_of_its_groups_holds_none_behind_it(database: str, write: str):
    """Baidu's user/copy and user/add lock all their groups in id order, as user/delete does,
    so writes over several groups never wait on each other in a circle (a deadlock, which
    PostgreSQL breaks by failing one: 503). Group a is older than b and busy: a copy from b to
    a, or an add to [b, a], waits on a holding nothing, so a user/add into b goes on
    meanwhile. Locked in request order, either would hold b while it waits, and the second
    add would wait behind it."""
    async def run() -> None:
        gallery = await Gallery.open(database, max_size=4, run_migrations=False, **OPTIONS)
        try:
            app = await new_app(gallery, "order")
            a = await gallery.groups.create_group(app, "a", "", MODEL)
            await gallery.users.add_user_face(app, "u", "", ["b"], row(axis(1)), False)
            async with await psycopg.AsyncConnection.connect(database) as busy:
                async with busy.transaction():
                    await busy.execute("SELECT id FROM groups WHERE id = %s FOR UPDATE", (a.id,))
                    waiting = asyncio.create_task(
                        gallery.users.copy_user(app, "u", "b", ["a"]) if write == "copy" else
                        gallery.users.add_user_face(app, "v", "", ["b", "a"], row(axis(3)),
                                                    False))
                    await _waiting_on_a_lock(database)
                    assert not waiting.done()
                    await asyncio.wait_for(gallery.users.add_user_face(
                        app, "w", "", ["b"], row(axis(2)), False), timeout=10)
                touched = await waiting
            assert sorted(g.name for g in touched) == (["a"] if write == "copy" else ["a", "b"])
            who = "u" if write == "copy" else "v"
            assert {e.group for e in await gallery.users.get_user(app, who)} == {"a", "b"}
        finally:
            await gallery.close()

    asyncio.run(run())
