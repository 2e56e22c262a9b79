"""Who is calling: apps' credentials, OAuth access tokens, and per-app rate limits.

- CloudWalk and native requests carry `app_id` (the app's API key, or its name as CloudWalk
  face server API v1.24 calls it) and `app_secret` headers (its protocol header, 2.1); the
  native API also takes `Authorization: Bearer <access_token>`.
- Baidu requests carry `access_token` in the query string, from /oauth/2.0/token
  (client_credentials: client_id = API key, client_secret = secret). A token is
  `<app id>.<expiry>.<secret mark><nonce>.<HMAC-SHA256>` signed with a key every gateway shares
  (table server_keys), so any gateway verifies any token without a lookup, and an expired token
  (111) is told apart from a forged or damaged one (110). The mark is drawn from the app's
  secret as it was when the token was issued: rotating the secret or revoking the app ends its
  tokens (apps are re-read at most APP_CACHE_S seconds later).
- Rate limits: a counter per app and second in Redis, shared by every gateway process.
- Brute-force guard, counted in Redis (every gateway shares the counts) per client address
  (an IPv6 address per /64, which one host commonly holds whole) and the app the credentials
  claim: past FACEGATE_AUTH_FAILURE_LIMIT failures within FACEGATE_AUTH_FAILURE_WINDOW seconds,
  every authentication for that app from that address is refused with RATE_LIMIT until the
  window ends, the right credentials too (else guessing would go on); past the looser
  FACEGATE_AUTH_FAILURE_ADDRESS_LIMIT for all apps together, that address is refused for any
  app. Each try is counted before its credentials are checked and taken back when they are
  right, so guesses sent in parallel cannot pass the limit. The client address is the one a
  trusted proxy forwarded (FACEGATE_TRUSTED_PROXIES).
With FACEGATE_AUTH=false every request is the default app and nothing is checked.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
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
# One try, counted as a failure until its credentials prove right: against the address and the
# app it names (refused past ARGV[1]), then, unless already refused there, against the address
# alone (refused past ARGV[2], 0: no such bucket), so that tries the first bucket refuses
# unchecked do not fill the second. 1: go on and check; 0: refused.
COUNT_TRY = """
local pair = redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
if pair > tonumber(ARGV[1]) then return 0 end
local all = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[3])
local wide = tonumber(ARGV[2])
if wide > 0 and all > wide then return 0 end
return 1
"""


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
        self._count_try = None  # the COUNT_TRY script, registered on first use

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

    def _secret_mark(self, app: App) -> str:
        """8 hex digits drawn from the app's stored secret hash: a token carries the mark of
        the secret it was issued under, and stops matching once the secret changes."""
        stored = bytes(app.secret_hash or b"")
        return hmac.new(self.token_key, b"secret:" + stored, hashlib.sha256).hexdigest()[:8]

    async def issue_token(self, key: str, secret: str, address: str = "") -> tuple[str, int]:
        app = await self.guarded(address, key, self.by_secret(key, secret))
        ttl = self.settings.token_ttl_s
        body = f"{app.id}.{int(time.time()) + ttl}.{self._secret_mark(app)}{secrets.token_hex(4)}"
        return f"{body}.{self._sign(body)}", ttl

    async def by_token(self, token: str) -> App:
        if not token:
            raise FaceError(ERRORS.TOKEN_INVALID, "access_token is required")
        parts = token.split(".")
        if len(parts) != 4 or not all(parts) or not token.isascii():
            raise FaceError(ERRORS.TOKEN_INVALID, "malformed access_token")
        body, signature = ".".join(parts[:3]), parts[3]
        if not hmac.compare_digest(self._sign(body).encode(), signature.encode()):
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
        if not hmac.compare_digest(parts[2][:8].encode(), self._secret_mark(app).encode()):
            raise FaceError(ERRORS.TOKEN_INVALID, "the app's secret was changed since this "
                            "token was issued; get a new one from /oauth/2.0/token")
        return app

    # brute-force guard ------------------------------------------------------------------
    def _failure_keys(self, address: str, claimed: str) -> tuple[str, str]:
        """(the count for this address and the app the credentials name, the count for this
        address) in the current window."""
        window = self.settings.auth_failure_window_s
        slot = int(time.time()) // window
        where = guard_address(address)
        app = hashlib.sha256(claimed.encode("utf-8", "replace")).hexdigest()[:16]
        return (f"facegate:authfail:{window}:{where}:{app}:{slot}",
                f"facegate:authfail:{window}:{where}:{slot}")

    async def guarded(self, address: str, claimed: str, check: Awaitable[App]) -> App:
        """`check` (an authentication whose credentials name the app `claimed`) unless
        `address` has failed too often for that app, or for all apps together. The try is
        counted as a failure before the credentials are looked at, in one Redis transaction,
        and taken back if they are right."""
        limit = self.settings.auth_failure_limit
        if limit <= 0 or not address:
            return await check
        window = self.settings.auth_failure_window_s
        pair_key, address_key = self._failure_keys(address, claimed)
        if self._count_try is None:
            self._count_try = self.redis.register_script(COUNT_TRY)
        allowed = await self._count_try(keys=[pair_key, address_key], args=[
            limit, self.settings.auth_failure_address_limit, window + 1])
        if not allowed:
            check.close()  # never awaited: the credentials are not even looked at
            raise FaceError(ERRORS.RATE_LIMIT, f"too many failed authentications from "
                            f"{guard_address(address)}; retry in at most {window} s")
        try:
            app = await check
        except FaceError:
            raise  # counted already
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.decr(pair_key).decr(address_key).execute()
        return app

    # requests ---------------------------------------------------------------------------
    async def app_for_headers(self, headers, address: str = "") -> int:
        """CloudWalk / native: the app id for these headers (checked, rate-limited)."""
        if not self.settings.auth:
            return DEFAULT_APP
        bearer = headers.get("authorization", "")
        if bearer.lower().startswith("bearer "):
            token = bearer[7:].strip()
            app = await self.guarded(address, token_app(token), self.by_token(token))
        else:
            key = headers.get("app_id", "")
            app = await self.guarded(address, key, self.by_secret(key,
                                                                 headers.get("app_secret", "")))
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

        await self.guarded(address, "admin", check())

    async def app_for_token(self, token: str, address: str = "") -> int:
        if not self.settings.auth:
            return DEFAULT_APP
        app = await self.guarded(address, token_app(token), self.by_token(token))
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


def guard_address(address: str) -> str:
    """What the guard counts by: an IPv4 address as it is, an IPv6 address by its /64 (one
    host commonly holds a whole /64, so counting by address would let it try again from the
    next), an IPv4-mapped IPv6 address as its IPv4 address."""
    try:
        ip = ipaddress.ip_address(address.split("%")[0])
    except ValueError:
        return address[:64]
    if ip.version == 6:
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return f"{ipaddress.ip_network(f'{ip}/64', strict=False).network_address}/64"
    return str(ip)


def token_app(token: str) -> str:
    """The app an access token names (its first field), for the guard's count: whether or not
    the token is genuine, guesses against one app's tokens count against that app."""
    first = token.split(".", 1)[0]
    return f"token:{first}" if first.isascii() and first.isdigit() and len(first) <= 18 \
        else "token:?"
