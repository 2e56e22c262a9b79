"""Apps (tenants) and their credentials: create, list, revoke, verify.

An app has a name, an API key (public, sent with every request or exchanged for a token) and
a secret shown once at creation. Only a salted SHA-256 of the secret is stored; comparison is
constant-time. The only writer of the `apps` and `server_keys` tables: the synchronous
functions serve the `facegate app` command and set-up; the gateway reads apps through AppLookup.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

import psycopg
from psycopg_pool import AsyncConnectionPool

from shared.errors import ERRORS, FaceError

T = TypeVar("T")
APP_COLUMNS = "id, name, api_key, secret_salt, secret_hash, qps, revoked_at, created_at"


@dataclass
class App:
    id: int
    name: str
    api_key: str | None
    secret_salt: bytes | None
    secret_hash: bytes | None
    qps: int | None
    revoked_at: datetime | None
    created_at: datetime

    @property
    def active(self) -> bool:
        return self.revoked_at is None and self.secret_hash is not None

    def secret_matches(self, secret: str) -> bool:
        if not self.active or not secret:
            return False
        return hmac.compare_digest(hash_secret(bytes(self.secret_salt), secret),
                                   bytes(self.secret_hash))


@dataclass
class NewApp:
    app: App
    secret: str


def hash_secret(salt: bytes, secret: str) -> bytes:
    return hashlib.sha256(salt + secret.encode()).digest()


def create_app(conn: psycopg.Connection, name: str, qps: int | None = None) -> NewApp:
    if not name or len(name) > 64:
        raise FaceError(ERRORS.PARAM_INVALID, "app name must be 1-64 characters")
    api_key = secrets.token_hex(12)
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    try:
        row = conn.execute(
            f"INSERT INTO apps (name, api_key, secret_salt, secret_hash, qps) "
            f"VALUES (%s, %s, %s, %s, %s) RETURNING {APP_COLUMNS}",
            (name, api_key, salt, hash_secret(salt, secret), qps)).fetchone()
    except psycopg.errors.UniqueViolation:
        raise FaceError(ERRORS.PARAM_INVALID, f"app {name} already exists") from None
    return NewApp(App(*row), secret)


def list_apps(conn: psycopg.Connection) -> list[App]:
    return [App(*row) for row in conn.execute(f"SELECT {APP_COLUMNS} FROM apps ORDER BY id")]


def revoke_app(conn: psycopg.Connection, name_or_key: str) -> App:
    row = conn.execute(
        f"UPDATE apps SET revoked_at = now() WHERE (name = %s OR api_key = %s) "
        f"AND revoked_at IS NULL RETURNING {APP_COLUMNS}", (name_or_key, name_or_key)).fetchone()
    if row is None:
        raise FaceError(ERRORS.PARAM_INVALID, f"no active app {name_or_key}")
    return App(*row)


def rotate_secret(conn: psycopg.Connection, name_or_key: str) -> NewApp:
    """A new secret for an active app; the old one stops working (its data stays)."""
    secret = secrets.token_urlsafe(32)
    salt = secrets.token_bytes(16)
    row = conn.execute(
        f"UPDATE apps SET secret_salt = %s, secret_hash = %s WHERE (name = %s OR api_key = %s) "
        f"AND revoked_at IS NULL RETURNING {APP_COLUMNS}",
        (salt, hash_secret(salt, secret), name_or_key, name_or_key)).fetchone()
    if row is None:
        raise FaceError(ERRORS.PARAM_INVALID, f"no active app {name_or_key}")
    return NewApp(App(*row), secret)


def set_qps(conn: psycopg.Connection, name_or_key: str, qps: int | None) -> App:
    """An active app's own requests-per-second limit (None: the service's default)."""
    row = conn.execute(
        f"UPDATE apps SET qps = %s WHERE (name = %s OR api_key = %s) AND revoked_at IS NULL "
        f"RETURNING {APP_COLUMNS}", (qps, name_or_key, name_or_key)).fetchone()
    if row is None:
        raise FaceError(ERRORS.PARAM_INVALID, f"no active app {name_or_key}")
    return App(*row)


def server_key(conn: psycopg.Connection, name: str) -> bytes:
    """A key shared by every gateway, made on first use (ON CONFLICT: the first writer wins)."""
    conn.execute("INSERT INTO server_keys (name, value) VALUES (%s, %s) "
                 "ON CONFLICT (name) DO NOTHING", (name, secrets.token_bytes(32)))
    return bytes(conn.execute("SELECT value FROM server_keys WHERE name = %s",
                              (name,)).fetchone()[0])


class AppAdmin:
    """App management for the gateway's admin API: the same functions as `facegate app`, each
    on a short connection of its own in a thread (rare calls; one code path for both)."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url

    def _call(self, fn: Callable[..., T], *args) -> T:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            return fn(conn, *args)

    async def list(self) -> list[App]:
        return await asyncio.to_thread(self._call, list_apps)

    async def create(self, name: str, qps: int | None) -> NewApp:
        return await asyncio.to_thread(self._call, create_app, name, qps)

    async def rotate(self, name_or_key: str) -> NewApp:
        return await asyncio.to_thread(self._call, rotate_secret, name_or_key)

    async def revoke(self, name_or_key: str) -> App:
        return await asyncio.to_thread(self._call, revoke_app, name_or_key)

    async def set_qps(self, name_or_key: str, qps: int | None) -> App:
        return await asyncio.to_thread(self._call, set_qps, name_or_key, qps)


class AppLookup:
    """The gateway's read of apps, for authentication."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def by_credential(self, key_or_name: str) -> App | None:
        """The app whose API key (or, for CloudWalk's app_id, name) this is."""
        if "\x00" in key_or_name:  # PostgreSQL refuses NUL in text, so no app has one
            return None
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                f"SELECT {APP_COLUMNS} FROM apps WHERE api_key = %s OR name = %s "
                "ORDER BY api_key = %s DESC LIMIT 1",
                (key_or_name, key_or_name, key_or_name))).fetchone()
        return App(*row) if row else None

    async def by_id(self, app_id: int) -> App | None:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(
                f"SELECT {APP_COLUMNS} FROM apps WHERE id = %s", (app_id,))).fetchone()
        return App(*row) if row else None
