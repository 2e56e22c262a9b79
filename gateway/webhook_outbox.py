"""The webhook outbox in Redis (services/recognition/ports.WebhookOutbox): one JSON entry per
job, kept KEEP_S so a job view can show how its delivery went, and one sorted set of job ids
by when each is next due, from which gateways claim work with one atomic script."""

from __future__ import annotations

import json
from dataclasses import asdict

from redis.asyncio import Redis

from services.recognition.ports import WebhookEntry

DUE = "facegate:webhooks:due"
ENTRY = "facegate:webhook:"
KEEP_S = 7 * 24 * 3600

# Take up to ARGV[3] ids due by ARGV[1] and make each due again at ARGV[2] (the lease): two
# gateways never claim the same entry, and one that dies loses only the lease.
_CLAIM = """
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(ids) do redis.call('ZADD', KEYS[1], ARGV[2], id) end
return ids
"""


class RedisOutbox:
    def __init__(self, redis: Redis) -> None:
        self.redis = redis
        self._claim = redis.register_script(_CLAIM)

    async def add(self, entry: WebhookEntry) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(ENTRY + entry.job_id, _dump(entry), ex=KEEP_S)
            pipe.zadd(DUE, {entry.job_id: entry.created})
            await pipe.execute()

    async def get(self, job_id: str) -> WebhookEntry | None:
        raw = await self.redis.get(ENTRY + job_id)
        return None if raw is None else WebhookEntry(**json.loads(raw))

    async def claim(self, now: float, count: int, lease_until: float) -> list[WebhookEntry]:
        ids = [i.decode() if isinstance(i, bytes) else i
               for i in await self._claim(keys=[DUE], args=[now, lease_until, count])]
        if not ids:
            return []
        entries = []
        for job_id, raw in zip(ids, await self.redis.mget([ENTRY + i for i in ids]),
                               strict=True):
            if raw is None:  # expired: nothing left to deliver
                await self.redis.zrem(DUE, job_id)
            else:
                entries.append(WebhookEntry(**json.loads(raw)))
        return entries

    async def reschedule(self, entry: WebhookEntry, at: float) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(ENTRY + entry.job_id, _dump(entry), ex=KEEP_S)
            pipe.zadd(DUE, {entry.job_id: at})
            await pipe.execute()

    async def close(self, entry: WebhookEntry) -> None:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.set(ENTRY + entry.job_id, _dump(entry), ex=KEEP_S)
            pipe.zrem(DUE, entry.job_id)
            await pipe.execute()


def _dump(entry: WebhookEntry) -> str:
    return json.dumps(asdict(entry))
