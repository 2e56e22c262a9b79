"""The webhook outbox in Redis (services/recognition/ports.WebhookOutbox): one JSON entry per
job, one sorted set of job ids by when each is next due, from which gateways claim work with
one atomic script, and per app a sorted set of its entries not yet delivered (what
FACEGATE_WEBHOOKS_PENDING caps). Redis runs with noeviction, so everything here is bounded: an
app's open entries by the cap, each open entry by OPEN_KEEP_S, a closed one by the job's own
lifetime (FACEGATE_RESULT_TTL)."""

from __future__ import annotations

import json
from dataclasses import asdict

from redis.asyncio import Redis

from services.recognition.ports import WebhookEntry

DUE = "facegate:webhooks:due"
ENTRY = "facegate:webhook:"
OPEN = "facegate:webhooks:open:"  # + app id
# Watched for at most a day (services/recognition/webhooks.WATCH_DEADLINE_S), then retried for
# under an hour: an open entry outlives both
OPEN_KEEP_S = 2 * 24 * 3600

# Take up to ARGV[3] ids due by ARGV[1] and make each due again at ARGV[2] (the lease): two
# gateways never claim the same entry, and one that dies loses only the lease.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""


class RedisOutbox:
    def __init__(self, redis: Redis, closed_keep_s: int) -> None:
        self.redis = redis
        self.closed_keep_s = closed_keep_s
        self._claim = redis.register_script(_CLAIM)

    async def pending(self, app: int, now: float) -> int:
        """The app's entries not yet closed (those older than OPEN_KEEP_S are gone)."""
        key = OPEN + str(app)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(key, "-inf", now - OPEN_KEEP_S)
            pipe.zcard(key)
            return (await pipe.execute())[1]

    async def add(self, entry: WebhookEntry) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(ENTRY + entry.job_id, _dump(entry), ex=OPEN_KEEP_S)
            pipe.zadd(DUE, {entry.job_id: entry.created})
            pipe.zadd(OPEN + str(entry.app), {entry.job_id: entry.created})
            pipe.expire(OPEN + str(entry.app), OPEN_KEEP_S)
            await pipe.execute()

    async def get(self, job_id: str) -> WebhookEntry | None:
        raw = await self.redis.get(ENTRY + job_id)
        return None if raw is None else WebhookEntry(**json.loads(raw))

    async def claim(self, now: float, count: int, lease_until: float) -> list[WebhookEntry]:
        ids = [i.decode() if isinstance(i, bytes) else i
               for i in await self._claim(keys=[DUE], args=[now, lease_until, count])]
        if not ids:
            return []
        entries, gone = [], []
        for job_id, raw in zip(ids, await self.redis.mget([ENTRY + i for i in ids]),
                               strict=True):
            if raw is None:  # expired: nothing left to deliver
                gone.append(job_id)
            else:
                entries.append(WebhookEntry(**json.loads(raw)))
        if gone:
            await self.redis.zrem(DUE, *gone)
        return entries

    async def reschedule(self, entry: WebhookEntry, at: float) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(ENTRY + entry.job_id, _dump(entry), keepttl=True)
            pipe.zadd(DUE, {entry.job_id: at})
            await pipe.execute()

    async def defer(self, job_ids: list[str], at: float) -> None:
        if job_ids:
            await self.redis.zadd(DUE, dict.fromkeys(job_ids, at), xx=True)

    async def close(self, entry: WebhookEntry) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(ENTRY + entry.job_id, _dump(entry), ex=self.closed_keep_s)
            pipe.zrem(DUE, entry.job_id)
            pipe.zrem(OPEN + str(entry.app), entry.job_id)
            await pipe.execute()


def _dump(entry: WebhookEntry) -> str:
    return json.dumps(asdict(entry))
