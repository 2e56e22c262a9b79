"""Webhooks: a job's `callback_url` gets one signed POST when the job ends.

A job given a callback_url is written to an outbox (ports.WebhookOutbox) when it is accepted.
The gateways watch the outbox: each entry is checked (the job read as GET /v1/jobs/{id} reads
it) until its job has ended, then POSTed under the image-URL fetch rules (shared/urlfetch.py:
public addresses only unless FACEGATE_URL_ALLOW lists the network) and retried with backoff
until the receiver answers 2xx or FACEGATE_WEBHOOK_ATTEMPTS are spent. Watching rather than
being told by the worker means a job whose worker died is still reported, and no event can
come before the result it announces is readable.

Signature (the scheme of Stripe's and GitHub's webhooks): headers `X-Facegate-Timestamp` (Unix
seconds) and `X-Facegate-Signature: sha256=HEX`, HEX = HMAC-SHA256(the app's webhook secret,
"{timestamp}.{body}"). The secret is derived from a server key and the app's credentials, so
`facegate app rotate` changes it too; the app reads it at GET /v1/webhooks/secret.

Bounds (Redis runs with noeviction, and tenants share it): an app has at most
FACEGATE_WEBHOOKS_PENDING entries not yet delivered (429 past it); a job is watched for at most
WATCH_DEADLINE_S. One gateway delivers at most SLOTS at once and PER_APP of one app's, and looks
at a window of CLAIM_WINDOW due entries per pass, so an app whose receiver hangs, or whose jobs
are many, delays another app's delivery by a pass or two, not by its backlog.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import time
import uuid
from collections import Counter
from dataclasses import dataclass

from services.gallery.apps import App
from services.recognition import catalogue, people, reembed
from services.recognition.context import Recognition
from services.recognition.ports import WebhookEntry, WebhookOutbox
from shared.errors import ERRORS, FaceError
from shared.job_metrics import WEBHOOK_DELIVERIES
from shared.urlfetch import DeliveryError, checked_url, post_json

ENDED = ("done", "failed", "cancelled")
SLOTS = 64  # deliveries one gateway has in flight (asyncio tasks: cheap)
PER_APP = 2  # of which one app's
CLAIM_WINDOW = 256  # entries looked at per pass
LEASE_S = 60.0  # a claimed entry another gateway may take after this (its gateway died)
WATCH_MAX_S = 5.0  # a running job is looked at again within this
WATCH_DEADLINE_S = 24 * 3600.0  # a job not ended by then is reported as such, and forgotten
BACKOFF_S = (5.0, 30.0, 120.0, 600.0, 1800.0)  # after the 1st, 2nd, ... failed attempt
log = logging.getLogger("facegate.webhooks")


def webhook_secret(server_key: bytes, app: App) -> str:
    """The app's signing secret: new when its API secret is rotated, the same on every
    gateway."""
    material = f"webhook|{app.api_key}|".encode() + bytes(app.secret_hash or b"")
    return hmac.new(server_key, material, hashlib.sha256).hexdigest()


async def app_secret(ctx: Recognition, app_id: int) -> str:
    """The app's webhook secret (APP_AUTH when the app is gone or revoked)."""
    app = await ctx.gallery.apps.by_id(app_id)
    if app is None or not app.active or not ctx.webhook_key:
        raise FaceError(ERRORS.APP_AUTH, "no webhook secret for this app")
    return webhook_secret(ctx.webhook_key, app)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str,
           tolerance_s: float = 300.0, now: float | None = None) -> bool:
    """What a receiver does (docs/api.md, "Webhooks"): the signature matches and the timestamp
    is recent (a replayed old delivery is refused)."""
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


async def check(ctx: Recognition, url: str | None) -> None:
    """Before a job is stored: PARAM_INVALID for a callback_url its delivery would refuse."""
    if url is None:
        return
    if ctx.webhooks is None:
        raise FaceError(ERRORS.NOT_SUPPORTED, "webhooks need the Redis-backed queue")
    await checked_url(url, ctx.settings)


async def check_room(ctx: Recognition, app: int, url: str | None) -> None:
    """Before a job is stored: RATE_LIMIT when the app has FACEGATE_WEBHOOKS_PENDING
    undelivered already (a burst of concurrent requests may pass it by a few)."""
    await check(ctx, url)
    if url is not None and ctx.webhooks is not None and await ctx.webhooks.pending(
            app, time.time()) >= ctx.settings.webhooks_pending:
        raise FaceError(ERRORS.RATE_LIMIT, f"this app has {ctx.settings.webhooks_pending} "
                        "webhooks not yet delivered; retry when some have been")


async def watch(ctx: Recognition, app: int, kind: str, job_id: str, url: str | None) -> None:
    """Once the job is stored: its callback_url into the outbox. The job stands if that fails
    (a Redis outage just then): its view then shows no webhook, rather than the client being
    told the job failed and sending it again."""
    if url is None or ctx.webhooks is None:
        return
    try:
        await ctx.webhooks.add(WebhookEntry(job_id=job_id, app=app, kind=kind, url=url,
                                            created=time.time()))
    except Exception as exc:
        log.warning("job %s runs without its webhook: %s", job_id, type(exc).__name__)


async def status(ctx: Recognition, job_id: str) -> dict | None:
    """The delivery status a job view shows (None: the job has no callback_url)."""
    if ctx.webhooks is None:
        return None
    entry = await ctx.webhooks.get(job_id)
    if entry is None:
        return None
    view = {"url": entry.url, "status": entry.state, "attempts": entry.attempts}
    if entry.last_status is not None:
        view["last_status"] = entry.last_status
    if entry.last_error:
        view["last_error"] = entry.last_error
    if entry.delivered_at is not None:
        view["delivered"] = entry.delivered_at
    return view


async def job_event(ctx: Recognition, entry: WebhookEntry) -> dict | None:
    """The body to POST once the job has ended; None while it runs."""
    event: dict = {"event": "job.ended", "job_id": entry.job_id, "kind": entry.kind,
                   "poll": f"/v1/jobs/{entry.job_id}"}
    error: dict | None = None
    if entry.kind == "ingest":
        job = await catalogue.ingest_job(ctx, entry.app, entry.job_id)
        if job is None:
            return {**event, "status": "failed", "error": _gone()}
        state, error = job.state, job.error
        event.update(group=job.group, counts=job.counts, total=job.total,
                     faces_created=job.created)
        finished = job.finished_at.timestamp() if job.finished_at else None
    elif entry.kind == "cluster":
        run = await people.clustering_job(ctx, entry.app, entry.job_id)
        if run is None:
            return {**event, "status": "failed", "error": _gone()}
        state, error = run.state, run.error
        event.update(group=run.group, clusters=run.clusters)
        finished = run.finished_at.timestamp() if run.finished_at else None
    elif entry.kind == "reembed":
        moving = await reembed.reembed_job(ctx, entry.app, entry.job_id)
        if moving is None:
            return {**event, "status": "failed", "error": _gone()}
        state, error = moving.state, moving.error
        event.update(group=moving.group, model=reembed.model_name(moving.model),
                     from_model=reembed.model_name(moving.from_model),
                     skipped=moving.skipped, dropped=moving.dropped)
        if state == "done":  # the faces the group now holds in `model`
            event["faces"] = moving.total - moving.dropped
        finished = moving.finished_at.timestamp() if moving.finished_at else None
    else:
        try:
            job_state = await ctx.queue.job(entry.job_id)
        except FaceError as exc:  # expired before it ended
            return {**event, "status": "failed", "error": _error(exc)}
        state, finished = job_state.status, None
        event["op"] = job_state.op
        if job_state.error is not None:
            error = job_state.error.to_dict()
    if state not in ENDED:
        return None
    event.update(status=state, finished=finished or time.time())
    if error:
        event["error"] = {"code": error.get("error", ""), "message": error.get("detail", "")}
    return event


def _gone() -> dict:
    return {"code": ERRORS.JOB_NOT_FOUND.name, "message": "the job is gone"}


def _error(exc: FaceError) -> dict:
    return {"code": exc.kind.name, "message": exc.detail}


def watch_interval(age_s: float) -> float:
    """How soon a running job is looked at again: quickly while it is young (most jobs end in
    seconds), every WATCH_MAX_S after."""
    return min(WATCH_MAX_S, max(0.5, age_s / 4))


@dataclass
class Outcome:
    delivered: bool
    status: int | None = None
    error: str = ""


class Sender:
    """One gateway's delivery loop (started by the gateway's lifespan)."""

    def __init__(self, ctx: Recognition, outbox: WebhookOutbox) -> None:
        self.ctx, self.outbox = ctx, outbox
        self.in_flight: Counter[int] = Counter()
        self.tasks: set[asyncio.Task] = set()
        self.loop: asyncio.Task | None = None  # run_forever, as the gateway started it

    async def run_forever(self, pause_s: float = 0.5) -> None:
        while True:
            try:
                await self.pass_once()
            except Exception as exc:  # Redis or PostgreSQL away: try again shortly
                log.warning("webhook deliveries paused: %s", type(exc).__name__)
                await asyncio.sleep(5.0)
            await asyncio.sleep(pause_s)

    async def pass_once(self) -> int:
        free = SLOTS - sum(self.in_flight.values())
        if free <= 0:
            return 0
        now = time.time()
        started = 0
        later: list[str] = []
        # a window wider than the free slots, so that one app's backlog ahead of another's
        # entry is passed over in one pass, not one pass per SLOTS of it
        lease = max(LEASE_S, 3 * self.ctx.settings.url_timeout_s)
        for entry in await self.outbox.claim(now, CLAIM_WINDOW, now + lease):
            if started >= free or self.in_flight[entry.app] >= PER_APP:
                later.append(entry.job_id)  # its turn comes again soon
                continue
            self.in_flight[entry.app] += 1
            task = asyncio.create_task(self._handle(entry))
            self.tasks.add(task)
            task.add_done_callback(lambda t, app=entry.app: self._done(t, app))
            started += 1
        await self.outbox.defer(later, now + 1.0)
        return started

    def _done(self, task: asyncio.Task, app: int) -> None:
        self.tasks.discard(task)
        self.in_flight[app] -= 1
        if not self.in_flight[app]:
            del self.in_flight[app]
        if not task.cancelled() and task.exception() is not None:
            log.warning("webhook delivery broke: %r", task.exception())

    async def _handle(self, entry: WebhookEntry) -> None:
        now = time.time()
        event = await job_event(self.ctx, entry)
        if event is None and now - entry.created > WATCH_DEADLINE_S:
            entry.state, entry.last_error = "failed", "the job had not ended after a day"
            await self.outbox.close(entry)
            return
        if event is None:
            await self.outbox.reschedule(entry, now + watch_interval(now - entry.created))
            return
        outcome = await self.deliver(entry, event)
        entry.attempts += 1
        entry.last_status, entry.last_error = outcome.status, outcome.error
        if outcome.delivered:
            entry.state, entry.delivered_at = "delivered", time.time()
            await self.outbox.close(entry)
        elif entry.attempts >= self.ctx.settings.webhook_attempts:
            entry.state = "failed"
            await self.outbox.close(entry)
            log.warning("webhook of job %s failed after %d attempts: %s", entry.job_id,
                        entry.attempts, outcome.error)
        else:
            entry.state = "retrying"
            wait = BACKOFF_S[min(entry.attempts, len(BACKOFF_S)) - 1]
            await self.outbox.reschedule(entry, time.time() + wait)
        WEBHOOK_DELIVERIES.labels("delivered" if outcome.delivered else entry.state.replace(
            "retrying", "retry")).inc()

    async def deliver(self, entry: WebhookEntry, event: dict) -> Outcome:
        try:
            secret = await app_secret(self.ctx, entry.app)
        except FaceError:
            return Outcome(False, error="the app was revoked")
        body = json.dumps(event, separators=(",", ":")).encode()
        timestamp = int(time.time())
        headers = {"User-Agent": "facegate-webhooks/1", "X-Facegate-Event": event["event"],
                   "X-Facegate-Delivery": str(uuid.uuid4()),
                   "X-Facegate-Timestamp": str(timestamp),
                   "X-Facegate-Signature": sign(secret, timestamp, body)}
        try:
            status = await post_json(entry.url, body, headers, self.ctx.settings)
        except DeliveryError as exc:
            return Outcome(False, error=str(exc))
        if 200 <= status < 300:
            return Outcome(True, status)
        return Outcome(False, status, f"HTTP {status}")

    async def stop(self) -> None:
        if self.loop is not None:
            self.loop.cancel()
        for task in list(self.tasks):
            task.cancel()  # its lease lapses and another gateway delivers it
        await asyncio.gather(*self.tasks, *([self.loop] if self.loop else []),
                             return_exceptions=True)
