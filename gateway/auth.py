"""Who is calling: apps' credentials, OAuth access tokens, and per-app rate limits.

- CloudWalk and native requests carry `app_id` (the app's API key, or its name as CloudWalk
  face server API v1.24 calls it) and `app_secret` headers (its protocol header, 2.1); the
  native API also takes `Authorization: Bearer <access_token>`.
- Baidu requests carry `access_token` in the query string, from /oauth/2.0/token
  (client_credentials: client_id = API key, client_secret = secret). A token is
  `<app id>.<expiry>.<nonce>.<HMAC-SHA256>` signed with a key every gateway shares (table
  server_keys), so any gateway verifies any token without a lookup, and an expired token (111)
  is told apart from a forged or damaged one (110). Revoking an app invalidates its tokens
  (apps are re-read at most APP_CACHE_S seconds later).
- Rate limits: a counter per app and second in Redis, shared by every gateway process.
- Brute-force guard: failed authentications are counted per client address in Redis (every
  gateway shares the count); past FACEGATE_AUTH_FAILURE_LIMIT within
  FACEGATE_AUTH_FAILURE_WINDOW seconds, every authentication from that address is refused with
  RATE_LIMIT until the window ends, the right credentials too (else guessing would go on).
With FACEGATE_AUTH=false every request is the default app and nothing is checked.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Awaitable

import redis.asyncio as aioredis

from services.gallery.apps import App, AppLookup
from services.gallery.database import DEFAULT_APP
from shared.errors import ERRORS, FaceError
from shared.settings import Settings

APP_CACHE_S = 5.0
APP_CACHE_MAX = 10_000
TOKEN_SCOPE = "brain_all_scope facegate"  # Baidu's SDK sends tokens only when it sees this


class Authenticator:
    def __init__(self, apps: AppLookup | None, settings: Settings, token_key: bytes,
                 redis: aioredis.Redis) -> None:
        if settings.auth and apps is None:
            raise RuntimeError("FACEGATE_AUTH needs FACEGATE_DATABASE_URL (apps live there)")
        self.apps = apps
        self.settings = settings
        self.token_key = token_key
        self.redis = redis
        self._by_key: dict[str, tuple[float, App | None]] = {}
        self._by_id: dict[int, tuple[float, App | None]] = {}

    # apps -------------------------------------------------------------------------------
    @staticmethod
    async def _cached(cache: dict, key, load) -> App | None:
        """An app row re-read at most every APP_CACHE_S seconds. Unknown keys are cached too
        (no database round trip per forged request), so the cache is bounded."""
        now = time.monotonic()
        hit = cache.get(key)
        if hit and now - hit[0] < APP_CACHE_S:
            return hit[1]
        if len(cache) >= APP_CACHE_MAX:
            cache.clear()
        app = await load(key)
        cache[key] = (now, app)
        return app

    async def _app_by_key(self, key: str) -> App | None:
        return await self._cached(self._by_key, key, self.apps.by_credential)

    async def _app_by_id(self, app_id: int) -> App | None:
        return await self._cached(self._by_id, app_id, self.apps.by_id)

    async def by_secret(self, key: str, secret: str) -> App:
        if not key or not secret:
            raise FaceError(ERRORS.APP_AUTH, "app_id and app_secret are required")
        app = await self._app_by_key(key)
        if app is None or not app.secret_matches(secret):
            # one message for an unknown app and a wrong secret: no probing for app names
            raise FaceError(ERRORS.APP_AUTH, "unknown app or wrong secret")
        return app

    # tokens -----------------------------------------------------------------------------
    def _sign(self, body: str) -> str:
        return hmac.new(self.token_key, body.encode(), hashlib.sha256).hexdigest()[:40]

    async def issue_token(self, key: str, secret: str, address: str = "") -> tuple[str, int]:
        app = await self.guarded(address, self.by_secret(key, secret))
        ttl = self.settings.token_ttl_s
        body = f"{app.id}.{int(time.time()) + ttl}.{secrets.token_hex(8)}"
        return f"{body}.{self._sign(body)}", ttl

    async def by_token(self, token: str) -> App:
        if not token:
            raise FaceError(ERRORS.TOKEN_INVALID, "access_token is required")
        parts = token.split(".")
        if len(parts) != 4 or not all(parts):
            raise FaceError(ERRORS.TOKEN_INVALID, "malformed access_token")
        body, signature = ".".join(parts[:3]), parts[3]
        if not hmac.compare_digest(self._sign(body), signature):
            raise FaceError(ERRORS.TOKEN_INVALID, "access_token signature does not match")
        if not (parts[0].isdigit() and parts[1].isdigit() and len(parts[0]) <= 18
                and len(parts[1]) <= 12):  # only ever signed by this service, but checked
            raise FaceError(ERRORS.TOKEN_INVALID, "malformed access_token")
        app_id, expires = int(parts[0]), int(parts[1])
        if expires < time.time():
            raise FaceError(ERRORS.TOKEN_EXPIRED, "get a new one from /oauth/2.0/token")
        app = await self._app_by_id(app_id)
        if app is None or not app.active:
            raise FaceError(ERRORS.TOKEN_INVALID, "the app was revoked")
        return app

    # brute-force guard ------------------------------------------------------------------
    def _failure_key(self, address: str) -> str:
        window = self.settings.auth_failure_window_s
        return f"facegate:authfail:{window}:{address}:{int(time.time()) // window}"

    async def guarded(self, address: str, check: Awaitable[App]) -> App:
        """`check` (an authentication) unless `address` has failed too often; counts its
        failures."""
        limit = self.settings.auth_failure_limit
        if limit <= 0 or not address:
            return await check
        key = self._failure_key(address)
        failures = await self.redis.get(key)
        if failures is not None and int(failures) >= limit:
            check.close()  # never awaited: the credentials are not even looked at
            window = self.settings.auth_failure_window_s
            raise FaceError(ERRORS.RATE_LIMIT, f"over {limit} failed authentications from "
                            f"{address}; retry in at most {window} s")
        try:
            return await check
        except FaceError:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, self.settings.auth_failure_window_s + 1)
                await pipe.execute()
            raise

    # requests ---------------------------------------------------------------------------
    async def app_for_headers(self, headers, address: str = "") -> int:
        """CloudWalk / native: the app id for these headers (checked, rate-limited)."""
        if not self.settings.auth:
            return DEFAULT_APP
        bearer = headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            check = self.by_token(bearer[7:].strip())
        else:
            check = self.by_secret(headers.get("app_id", ""), headers.get("app_secret", ""))
        app = await self.guarded(address, check)
        await self.throttle(app)
        return app.id

    async def admin(self, headers, address: str = "") -> None:
        """The admin credential (FACEGATE_ADMIN_SECRET, header `admin_secret`), guarded like
        an app's secret; with no admin secret set, app management over HTTP is off."""
        expected = self.settings.admin_secret
        if not expected:
            raise FaceError(ERRORS.APP_AUTH, "app management over HTTP is off "
                            "(FACEGATE_ADMIN_SECRET is not set); use `facegate app`")

        async def check() -> None:
            given = headers.get("admin_secret", "")
            if not hmac.compare_digest(given.encode(), expected.encode()):
                raise FaceError(ERRORS.APP_AUTH, "wrong or missing admin_secret")

        await self.guarded(address, check())

    async def app_for_token(self, token: str, address: str = "") -> int:
        if not self.settings.auth:
            return DEFAULT_APP
        app = await self.guarded(address, self.by_token(token))
        await self.throttle(app)
        return app.id

    async def throttle(self, app: App) -> None:
        limit = app.qps if app.qps is not None else self.settings.rate_limit_qps
        if limit <= 0:
            return
        second = int(time.time())
        key = f"facegate:rate:{app.id}:{second}"
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, 2)
            count, _ = await pipe.execute()
        if count > limit:
            raise FaceError(ERRORS.RATE_LIMIT, f"over {limit} requests per second")
