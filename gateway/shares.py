"""Each app's share of the workers: what it has in the queue, admitted or refused in one Redis
script, and the priority its next task gets.

An app's calls (synchronous requests) and jobs (asynchronous ones) waiting or running are
members of one sorted set, `facegate:share:<app>`, as `<c|j>|<task id>|<image bytes>`, scored
by when the member lapses (a task nobody finished: its worker died too often, or its message
was lost). The worker removes a task's member when the task ends (shared/tasks.py carries the
key and member). Before a task is sent, one script (ADMIT) drops lapsed members and refuses
it when

- the queue holds FACEGATE_QUEUE_MAX tasks already, every app's together (the busy answer:
  the service is overloaded, retry later);
- it is a job and the app has FACEGATE_JOBS_IN_FLIGHT jobs already (429: the app's own quota,
  as ingestion has FACEGATE_INGEST_IN_FLIGHT chunks);
- the app's images in the queue would pass FACEGATE_APP_QUEUED_BYTES (429), unless the app has
  nothing queued (one request is always taken: the body limit bounds it).

Otherwise the member is added, atomically with the checks, and the task gets a priority in its
band (shared/tasks.py) by how much of the same kind the app has already: an app with little
queued goes ahead of one with much, so a flood from one app waits behind everyone else's
calls rather than in front of them. Workers take calls before jobs before bulk work (the
queues' order), so neither a backlog of jobs nor an ingestion delays anyone's calls.
"""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass

import redis.asyncio as aioredis

from shared.errors import ERRORS, FaceError
from shared.settings import Settings
from shared.tasks import (
    CALL_PRIORITIES,
    INTERACTIVE_QUEUE,
    JOB_PRIORITIES,
    JOBS_QUEUE,
    SHARE_PREFIX,
    queue_keys,
)

# The app the current request speaks for, set by the request frame once it is authenticated
# (gateway/frame.py): the dispatcher charges its tasks to that app's share.
CALLER: ContextVar[int | None] = ContextVar("facegate_caller", default=None)

CALL, JOB = "c", "j"
# (tasks of the same kind the app already has, at least) -> step within the band
_CALL_STEPS = ((8, 3), (4, 2), (2, 1), (0, 0))
_JOB_STEPS = ((8, 2), (2, 1), (0, 0))

ADMIT = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local held, calls, jobs = 0, 0, 0
for _, member in ipairs(members) do
  local kind, size = string.match(member, '^(%a)|[^|]*|(%d+)$')
  held = held + tonumber(size)
  if kind == 'c' then calls = calls + 1 else jobs = jobs + 1 end
end
if ARGV[9] == 'j' and jobs >= tonumber(ARGV[5]) then return {-2, jobs} end
if ARGV[9] == 'c' and calls >= tonumber(ARGV[10]) then return {-4, calls} end
if #members > 0 and held + tonumber(ARGV[3]) > tonumber(ARGV[6]) then return {-3, held} end
local max_queue = tonumber(ARGV[7])
if max_queue > 0 then
  local waiting = 0
  for i = 2, #KEYS do waiting = waiting + redis.call('LLEN', KEYS[i]) end
  if waiting >= max_queue then return {-1, waiting} end
end
redis.call('ZADD', KEYS[1], ARGV[4], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[8])
if ARGV[9] == 'c' then return {1, calls} end
return {1, jobs}
"""


# ADMIT's refusals: the error and what it says (count: what the limit counted)
_REFUSALS = {
    -1: (ERRORS.SYSTEM_BUSY, "{count} tasks are waiting for the workers (FACEGATE_QUEUE_MAX); "
                             "retry in a few seconds"),
    -2: (ERRORS.RATE_LIMIT, "this app has {count} jobs queued or running "
                            "(FACEGATE_JOBS_IN_FLIGHT); submit more when some have ended"),
    -3: (ERRORS.RATE_LIMIT, "this app has {mib} MiB of images queued "
                            "(FACEGATE_APP_QUEUED_BYTES); retry when some have ended"),
    -4: (ERRORS.RATE_LIMIT, "this app has {count} calls queued or running "
                            "(FACEGATE_CALLS_IN_FLIGHT); retry when some have ended"),
}


@dataclass(frozen=True)
class Admission:
    """A task let into the queue: the share it holds (None: no app to charge) and its
    priority."""

    priority: int
    share_key: str | None = None
    share_member: str | None = None

    def fields(self) -> dict[str, str | int]:
        """What the task carries: its priority, and its share for the worker to give back."""
        if self.share_key is None:
            return {"priority": self.priority}
        return {"priority": self.priority, "share_key": self.share_key,
                "share_member": self.share_member}


def priority(kind: str, already: int) -> int:
    """The task's priority: its band's first step for an app with little of that kind
    queued, later steps as the app has more."""
    band, steps = (CALL_PRIORITIES, _CALL_STEPS) if kind == CALL else (JOB_PRIORITIES,
                                                                       _JOB_STEPS)
    return band[next(step for least, step in steps if already >= least)]


def image_bytes(request: dict) -> int:
    """The image bytes a vision request carries (what it holds of Redis while queued)."""
    return sum(len(spec.get("data", b"")) for spec in request.get("images", ()))


class Shares:
    def __init__(self, redis: aioredis.Redis, settings: Settings) -> None:
        self.settings = settings
        self._admit = redis.register_script(ADMIT)
        self._waiting = [*queue_keys(INTERACTIVE_QUEUE), *queue_keys(JOBS_QUEUE)]
        # a member lapses once its task cannot still be running: a call after its caller's
        # wait and every redelivery a dead worker's lease allows; a job with its result
        self._lapse = {CALL: 2 * settings.sync_timeout_s
                       + settings.max_deliveries * 2 * settings.visibility_timeout_s,
                       JOB: float(settings.result_ttl_s)}

    async def admit(self, kind: str, task_id: str, request: dict) -> Admission:
        """Admission for a call or a job of the calling app (CALLER), or FaceError: RATE_LIMIT
        for the app's own limits, SYSTEM_BUSY for a full queue."""
        app = CALLER.get()
        size = image_bytes(request)
        settings = self.settings
        key = f"{SHARE_PREFIX}{app if app is not None else 0}"
        member = f"{kind}|{task_id}|{size}"
        now = time.time()
        verdict, count = await self._admit(
            keys=[key, *self._waiting],
            args=[now, member, size, now + self._lapse[kind], settings.jobs_in_flight,
                  settings.app_queued_bytes, settings.queue_max,
                  int(max(self._lapse.values())) + 1, kind, settings.calls_in_flight])
        if verdict < 0:
            kind_of_error, message = _REFUSALS[verdict]
            raise FaceError(kind_of_error, message.format(count=count, mib=count // 2**20))
        return Admission(priority(kind, count), key, member)
