"""Apps in memory: services/gallery/apps.py's AppLookup and AppAdmin, with the same credentials
(a random API key, a secret shown once, only its salted hash kept) and the same refusals."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import replace

from services.gallery.apps import App, NewApp, hash_secret
from shared.errors import ERRORS, FaceError
from tests.fakes.tables import Tables


class FakeAppLookup:
    def __init__(self, tables: Tables) -> None:
        self.t = tables

    async def by_credential(self, key_or_name: str) -> App | None:
        if "\x00" in key_or_name:
            return None
        found = [a for a in sorted(self.t.apps.values(), key=lambda a: a.id)
                 if a.api_key == key_or_name or a.name == key_or_name]

        # ORDER BY api_key = %s DESC: a NULL key compares as NULL, which DESC puts first
        def rank(app: App) -> int:
            return 0 if app.api_key is None else (1 if app.api_key == key_or_name else 2)

        return replace(min(found, key=rank)) if found else None

    async def by_id(self, app_id: int) -> App | None:
        app = self.t.apps.get(app_id)
        return replace(app) if app else None


class FakeAppAdmin:
    def __init__(self, tables: Tables) -> None:
        self.t = tables

    async def list(self) -> list[App]:
        return [replace(a) for a in sorted(self.t.apps.values(), key=lambda a: a.id)]

    async def create(self, name: str, qps: int | None) -> NewApp:
        if not name or len(name) > 64:
            raise FaceError(ERRORS.PARAM_INVALID, "app name must be 1-64 characters")
        if any(a.name == name for a in self.t.apps.values()):
            raise FaceError(ERRORS.PARAM_INVALID, f"app {name} already exists")
        secret, salt = secrets.token_urlsafe(32), secrets.token_bytes(16)
        app = App(self.t.next_id("apps"), name, secrets.token_hex(12), salt,
                  hash_secret(salt, secret), qps, None, self.t.now())
        self.t.apps[app.id] = app
        return NewApp(replace(app), secret)

    async def rotate(self, name_or_key: str) -> NewApp:
        secret, salt = secrets.token_urlsafe(32), secrets.token_bytes(16)

        def rotate(app: App) -> None:
            app.secret_salt, app.secret_hash = salt, hash_secret(salt, secret)

        return NewApp(self._update(name_or_key, rotate), secret)

    async def revoke(self, name_or_key: str) -> App:
        now = self.t.now()

        def revoke(app: App) -> None:
            app.revoked_at = now

        return self._update(name_or_key, revoke)

    async def set_qps(self, name_or_key: str, qps: int | None) -> App:
        def limit(app: App) -> None:
            app.qps = qps

        return self._update(name_or_key, limit)

    def _update(self, name_or_key: str, change: Callable[[App], None]) -> App:
        """An active app named (or keyed) so, changed; PARAM_INVALID when there is none."""
        app = next((a for a in sorted(self.t.apps.values(), key=lambda a: a.id)
                    if name_or_key in (a.name, a.api_key) and a.revoked_at is None), None)
        if app is None:
            raise FaceError(ERRORS.PARAM_INVALID, f"no active app {name_or_key}")
        change(app)
        return replace(app)
