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

import redis.asyncio as aioredis
from celery import states
from celery.backends.redis import RedisBackend

from services.gallery.ingest import Chunk
from services.recognition.ports import JobState
from shared.errors import ERRORS, FaceError
from shared.logs import REQUEST_ID
from shared.settings import Settings
from shared.tasks import (
    INTERACTIVE_QUEUE,
    JOB_KEY_PREFIX,
    VISION_TASK,
    make_celery,
    send_ingest_chunk,
)

log = logging.getLogger("facegate.gateway")
LOST_AFTER_S = 30.0  # a task is in a worker's hands (unacked) or has a result well before this
LOST_SCAN_MAX = 20  # messages carry images: a longer queue or hand is not searched


class ResultReader(RedisBackend):
    """Celery's Redis result backend minus the SUBSCRIBE it issues on every send_task.

    That subscription is for AsyncResult.get(), which the gateway never calls: it would cost a
    blocking Redis round trip inside the event loop per request, and its never-read pub/sub
    buffer grows until Redis drops the connection. The Dispatcher reads results itself.
    """

    def on_task_call(self, producer, task_id) -> None:
        return None


class Dispatcher:
    """The recognition core's VisionQueue (services/recognition/ports.py) over Celery."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.celery = make_celery(settings, "facegate-gateway")
        self.celery.conf.result_backend = f"{__name__}:ResultReader+{settings.redis_url}"
        self.backend = self.celery.backend
        self._waiting: dict[bytes, list[asyncio.Future]] = {}
        self._redis: aioredis.Redis | None = None
        self._pubsub = None
        self._reader: asyncio.Task | None = None
        self._listening = asyncio.Event()  # set while some request waits on a channel

    async def start(self) -> None:
        self._redis = aioredis.from_url(self.settings.redis_url)
        self._pubsub = self._redis.pubsub()
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

    def submit(self, request: dict) -> str:
        task_id = str(uuid.uuid4())
        request = {**request, "request_id": REQUEST_ID.get()}  # for the worker's log lines
        self.celery.send_task(VISION_TASK, args=[request], task_id=task_id,
                              queue=INTERACTIVE_QUEUE)
        return task_id

    async def wait(self, task_id: str, timeout: float | None = None) -> dict:
        """The task's return value; FaceError(SYSTEM_BUSY) if it is not done in time."""
        key = self.backend.get_key_for_task(task_id)
        future = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(key, []).append(future)
        try:
            await self._pubsub.subscribe(key)
            self._listening.set()
            raw = await self._redis.get(key)
            if raw is not None:
                meta = self.backend.decode_result(raw)
                if meta["status"] in states.READY_STATES and not future.done():
                    future.set_result(meta)
            meta = await asyncio.wait_for(future, timeout or self.settings.sync_timeout_s)
        except TimeoutError:
            raise FaceError(ERRORS.SYSTEM_BUSY,
                            f"no result within {timeout or self.settings.sync_timeout_s:.0f} s; "
                            f"job {task_id} is still queued or running") from None
        finally:
            waiters = self._waiting.get(key)
            if waiters and future in waiters:
                waiters.remove(future)
            if not self._waiting.get(key):
                self._waiting.pop(key, None)
                await self._pubsub.unsubscribe(key)
        return _task_value(meta)

    async def call(self, request: dict) -> dict:
        return await self.wait(self.submit(request))

    def send_chunk(self, chunk: Chunk) -> None:
        send_ingest_chunk(self.celery, chunk)

    # Jobs: a task plus what the gateway needs to render its result later.
    async def submit_job(self, op: str, options: dict, request: dict) -> str:
        task_id = self.submit(request)
        record = {"op": op, "options": options, "created": time.time(),
                  "queue": INTERACTIVE_QUEUE}
        await self._redis.set(JOB_KEY_PREFIX + task_id, json.dumps(record),
                              ex=self.settings.result_ttl_s)
        return task_id

    async def job(self, job_id: str) -> JobState:
        raw = await self._redis.get(JOB_KEY_PREFIX + job_id)
        if raw is None:
            raise FaceError(ERRORS.JOB_NOT_FOUND, f"no job {job_id} (unknown or expired)")
        record = json.loads(raw)
        state = JobState(job_id, "queued", record["op"], record["options"], record["created"])
        meta_raw = await self._redis.get(self.backend.get_key_for_task(job_id))
        if meta_raw is None:
            if await self._lost(job_id, record):
                state.status = "failed"
                state.error = FaceError(ERRORS.SYSTEM_BUSY, "the job's task was lost (a worker "
                                        "died as it took it); submit the job again")
            return state
        meta = self.backend.decode_result(meta_raw)
        if meta["status"] == states.STARTED:
            state.status = "running"
        elif meta["status"] == "PROGRESS":  # a long task reporting how far it got
            state.status = "running"
            state.progress = meta["result"]
        elif meta["status"] in states.READY_STATES:
            state.status = "done"
            state.result = _task_value(meta)
        return state


    async def _lost(self, job_id: str, record: dict) -> bool:
        """A job with no result whose task is neither in its queue nor held by a worker.

        kombu's Redis transport pops a message (BRPOP) and only then records it as held
        (`unacked`); a worker killed between the two loses it, and nothing would ever redeliver
        it. So a job older than LOST_AFTER_S that is in neither place, and still has no result,
        is reported failed rather than queued for ever. Only a short queue and a short list of
        held messages are searched (each message carries its images); while either is longer,
        the job counts as waiting, and is judged once the work in flight has drained."""
        if time.time() - record["created"] < LOST_AFTER_S:
            return False
        queue = record.get("queue", INTERACTIVE_QUEUE)
        if (await self._redis.llen(queue) > LOST_SCAN_MAX
                or await self._redis.hlen("unacked") > LOST_SCAN_MAX):
            return False
        needle = job_id.encode()
        held = [*await self._redis.lrange(queue, 0, -1), *await self._redis.hvals("unacked")]
        if any(needle in message for message in held):
            return False
        # taken and finished while we looked?
        return await self._redis.get(self.backend.get_key_for_task(job_id)) is None


def _task_value(meta: dict) -> dict:
    if meta["status"] != states.SUCCESS:
        raise FaceError(ERRORS.ENGINE, f"task {meta['status'].lower()}: {meta.get('result')}")
    value = meta["result"]
    if "error" in value:
        raise FaceError.from_dict(value["error"])
    return value
