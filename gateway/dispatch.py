"""Sending vision tasks and getting their results back, without a thread per waiting request.

Celery's Redis result backend SETs each result under `celery-task-meta-<id>` and PUBLISHes it
on a channel of the same name. The gateway keeps one pub/sub connection: a waiting request
subscribes to its task's channel, checks the key once (the result may already be there), and
sleeps on a future that the reader task resolves.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import msgpack
import redis.asyncio as aioredis
from celery import states
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from gateway.shares import CALL, JOB, Admission, Shares
from services.recognition.ports import JobState
from shared import tracing
from shared.broker_internals import (
    result_key,
    result_reader_url,
    task_accounted_for,
)
from shared.errors import ERRORS, FaceError, job_not_found
from shared.logs import REQUEST_ID
from shared.settings import Settings
from shared.tasks import (
    COPY_KEY_FIELD,
    INTERACTIVE_QUEUE,
    JOB_KEY_PREFIX,
    JOB_PRIORITIES,
    JOB_REQUEST_PREFIX,
    JOBS_QUEUE,
    VISION_TASK,
    Chunk,
    ClusterRequest,
    ReembedChunk,
    make_celery,
    queue_keys,
    send_cluster_run,
    send_ingest_chunk,
    send_reembed_chunk,
    vision_payload,
)

log = logging.getLogger("facegate.gateway")
LOST_AFTER_S = 30.0  # a task is in a worker's hands (unacked) or has a result well before this
LOST_SCAN_MAX = 20  # messages carry images: a longer queue or hand is not searched
LOST_CHECK_S = 10.0  # a synchronous request without a result looks for its task this often


class Dispatcher:
    """The recognition core's VisionQueue (services/recognition/ports.py) over Celery."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.celery = make_celery(settings, "facegate-gateway")
        # Celery's Redis result backend without its per-send SUBSCRIBE: results are read here
        self.celery.conf.result_backend = result_reader_url(settings.redis_url)
        self.backend = self.celery.backend
        self._waiting: dict[bytes, list[asyncio.Future]] = {}
        self._redis: aioredis.Redis | None = None
        self._pubsub = None
        self._reader: asyncio.Task | None = None
        self._listening = asyncio.Event()  # set while some request waits on a channel

    async def start(self) -> None:
        # A pooled connection that Redis dropped (a restart) is reconnected and the command
        # sent again, up to 3 times within about a second, before an outage is answered; a
        # Redis that does not answer a connect within 2 s counts as down.
        self._redis = aioredis.from_url(
            self.settings.redis_url, retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 3),
            retry_on_error=[aioredis.ConnectionError, aioredis.TimeoutError],
            socket_connect_timeout=2)
        self._pubsub = self._redis.pubsub()
        self.shares = Shares(self._redis, self.settings)
        self._reader = asyncio.create_task(self._read())

    async def stop(self) -> None:
        if self._reader:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._pubsub:
            await self._pubsub.aclose()
        if self._redis:
            await self._redis.aclose()

    @property
    def redis(self) -> aioredis.Redis:
        return self._redis

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def _read(self) -> None:
        while True:
            try:
                if not self._pubsub.subscribed:
                    self._listening.clear()
                    await self._listening.wait()
                    continue
                message = await self._pubsub.get_message(ignore_subscribe_messages=True,
                                                         timeout=1.0)
                if message and message["type"] == "message":
                    self._deliver(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a dropped connection must not stop every waiter
                log.warning("result reader: %s; reconnecting", exc)
                await asyncio.sleep(0.5)
                await self._recheck()

    async def _recheck(self) -> None:
        """After a reconnect (redis-py subscribes to the channels again): a result published
        while the connection was down was missed, but its key is there (Redis keeps it, and an
        append-only Redis keeps it through a restart)."""
        for key in list(self._waiting):
            try:
                raw = await self._redis.get(key)
            except Exception:
                return  # still down: the next round tries again
            if raw is not None:
                self._deliver(key, raw)

    def _deliver(self, channel: bytes, payload: bytes) -> None:
        meta = self.backend.decode_result(payload)
        if meta["status"] not in states.READY_STATES:
            return
        for future in self._waiting.pop(channel, []):
            if not future.done():
                future.set_result(meta)

    def submit(self, request: dict, task_id: str, admission: Admission,
               queue: str = INTERACTIVE_QUEUE) -> str:
        """Sends an admitted request (it carries its share back to the worker; request_id is
        for the worker's log lines)."""
        # the trace the request belongs to (a job sent again keeps the one it was sent with)
        parent = tracing.traceparent()
        request = vision_payload(request, request_id=REQUEST_ID.get(), **admission.fields(),
                                 **({"traceparent": parent} if parent else {}))
        self.celery.send_task(VISION_TASK, args=[request], task_id=task_id, queue=queue,
                              priority=admission.priority)
        return task_id

    async def wait(self, task_id: str, timeout: float | None = None,
                   on_idle: Callable[[], Awaitable[None]] | None = None) -> dict:
        """The task's return value; FaceError(SYSTEM_BUSY) if it is not done in time.
        `on_idle` is awaited every LOST_CHECK_S seconds without a result."""
        timeout = timeout or self.settings.sync_timeout_s
        key = result_key(self.backend, task_id)
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.setdefault(key, []).append(future)
        deadline = loop.time() + timeout
        try:
            await self._pubsub.subscribe(key)
            self._listening.set()
            raw = await self._redis.get(key)
            if raw is not None:
                meta = self.backend.decode_result(raw)
                if meta["status"] in states.READY_STATES and not future.done():
                    future.set_result(meta)
            while True:
                left = deadline - loop.time()
                if left <= 0:
                    raise TimeoutError
                try:
                    meta = await asyncio.wait_for(
                        asyncio.shield(future), min(left, LOST_CHECK_S) if on_idle else left)
                    break
                except TimeoutError:
                    if on_idle is None or deadline - loop.time() <= 0:
                        raise
                    await on_idle()
        except TimeoutError:
            raise FaceError(ERRORS.SYSTEM_BUSY,
                            f"no result within {timeout:.0f} s; "
                            f"job {task_id} is still queued or running") from None
        finally:
            future.cancel()  # shielded: a wait cut short leaves no pending future behind
            waiters = self._waiting.get(key)
            if waiters and future in waiters:
                waiters.remove(future)
            if not self._waiting.get(key):
                self._waiting.pop(key, None)
                await self._pubsub.unsubscribe(key)
        return _task_value(meta)

    async def call(self, request: dict) -> dict:
        """Submits and waits; a task lost on its way to a worker is sent again.

        A task held by a worker that dies comes back by itself once that worker's lease on it
        runs out (workers/broker.py). One popped by a worker killed before kombu recorded it
        as held is in no queue and no worker's hands: nothing would ever run it, so the
        gateway, which still holds the request, sends it again under the same id (the task
        is idempotent: should the first copy turn up after all, both write the same result)."""
        task_id = str(uuid.uuid4())
        admission = await self.shares.admit(CALL, task_id, request)
        self.submit(request, task_id, admission)
        sent = time.time()

        async def resend_if_lost() -> None:
            nonlocal sent
            if await self._lost(task_id, sent, INTERACTIVE_QUEUE):
                log.warning("task %s was lost on its way to a worker; sending it again",
                            task_id)
                self.submit(request, task_id, admission)
                sent = time.time()

        try:
            return await self.wait(task_id, on_idle=resend_if_lost)
        finally:
            # nobody reads a call's result again: it leaves Redis now, not after
            # FACEGATE_RESULT_TTL (one that comes after the wait gave up stays that long)
            await self._forget(task_id)

    async def _forget(self, task_id: str) -> None:
        try:
            await self._redis.delete(result_key(self.backend, task_id))
        except Exception as exc:  # it expires
            log.debug("result of %s not deleted: %s", task_id, exc)

    def send_chunk(self, chunk: Chunk) -> None:
        send_ingest_chunk(self.celery, chunk)

    def send_cluster_run(self, request: ClusterRequest) -> None:
        send_cluster_run(self.celery, request)

    def send_reembed_chunk(self, chunk: ReembedChunk) -> None:
        send_reembed_chunk(self.celery, chunk)

    # Jobs: a task plus what the gateway needs to render its result later.
    async def submit_job(self, op: str, options: dict, request: dict) -> str:
        """The job's record, a copy of its request until a worker starts it (the one way to
        send again a task lost as it was taken: see call(); the worker deletes the copy, so it
        costs memory only while the job is queued), then the task."""
        task_id = str(uuid.uuid4())
        admission = await self.shares.admit(JOB, task_id, request)
        copy_key = JOB_REQUEST_PREFIX + task_id
        request = vision_payload(request, **{COPY_KEY_FIELD: copy_key})
        record = {"op": op, "options": options, "created": time.time(), "queue": JOBS_QUEUE,
                  "priority": admission.priority, **admission.fields()}
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(JOB_KEY_PREFIX + task_id, json.dumps(record),
                     ex=self.settings.result_ttl_s)
            pipe.set(copy_key, msgpack.packb(request), ex=self.settings.result_ttl_s)
            await pipe.execute()
        self.submit(request, task_id, admission, JOBS_QUEUE)
        return task_id

    async def job(self, job_id: str) -> JobState:
        raw = await self._redis.get(JOB_KEY_PREFIX + job_id)
        if raw is None:
            raise job_not_found(job_id)
        record = json.loads(raw)
        state = JobState(job_id, "queued", record["op"], record["options"], record["created"])
        meta_raw = await self._redis.get(result_key(self.backend, job_id))
        if meta_raw is None:
            queue = record.get("queue", INTERACTIVE_QUEUE)
            if await self._lost(job_id, record.get("sent", record["created"]), queue):
                copy = await self._redis.get(JOB_REQUEST_PREFIX + job_id)
                if copy is None:  # expired, or the job is older than the copies
                    state.status = "failed"
                    state.error = FaceError(ERRORS.SYSTEM_BUSY, "the job's task was lost (a "
                                            "worker died as it took it); submit the job again")
                    return state
                log.warning("job %s was lost on its way to a worker; sending it again", job_id)
                admission = Admission(record.get("priority", JOB_PRIORITIES[0]),
                                      record.get("share_key"), record.get("share_member"))
                self.submit(msgpack.unpackb(copy), job_id, admission, queue)
                record["sent"] = time.time()
                await self._redis.set(JOB_KEY_PREFIX + job_id, json.dumps(record), keepttl=True)
            return state
        meta = self.backend.decode_result(meta_raw)
        if meta["status"] == states.STARTED:
            state.status = "running"
        elif meta["status"] == "PROGRESS":  # a long task reporting how far it got
            state.status = "running"
            state.progress = meta["result"]
        elif meta["status"] in states.READY_STATES:
            try:
                state.result = _task_value(meta)
                state.status = "done"
            except FaceError as exc:  # the task ended with an error (TASK_ABANDONED, ...)
                state.status = "failed"
                state.error = exc
        return state

    async def _lost(self, task_id: str, sent: float, queue: str) -> bool:
        """A task sent over LOST_AFTER_S ago that the broker no longer accounts for: no
        result, in neither its queue nor a worker's hands.

        kombu's Redis transport pops a message and only then records it as held; a worker
        killed between the two loses it, and nothing would ever redeliver it
        (shared/broker_internals.py). While more than LOST_SCAN_MAX messages wait or are held
        (each carries its images), the task counts as waiting, and is judged once the work in
        flight has drained."""
        if time.time() - sent < LOST_AFTER_S:
            return False
        return not await task_accounted_for(
            self._redis, queue_keys(queue), task_id,
            result_key(self.backend, task_id), LOST_SCAN_MAX)


def _task_value(meta: dict) -> dict:
    if meta["status"] != states.SUCCESS:
        raise FaceError(ERRORS.ENGINE, f"task {meta['status'].lower()}: {meta.get('result')}")
    value = meta["result"]
    if "error" in value:
        raise FaceError.from_dict(value["error"])
    return value
