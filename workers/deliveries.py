"""How many times each task has been handed to a worker, so that a task that kills its workers
stops being handed out.

Tasks are acknowledged late: a worker that dies mid-task (an out-of-memory kill, a crash in a
decoder) leaves its task to return to the queue once its lease lapses (workers/broker.py), and
the next worker takes it. A task that kills every worker it reaches would take the pool down
one worker at a time. So each start is counted in Redis (`facegate:deliveries:<task id>`, kept
as long as a job's result); a task started more than FACEGATE_MAX_DELIVERIES times is not run
again but answered TASK_ABANDONED, and a task that ends (however) drops its count.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis

from shared.errors import ERRORS, FaceError
from shared.tasks import DELIVERIES_PREFIX

log = logging.getLogger("facegate.worker")


class Deliveries:
    def __init__(self, client: Callable[[], redis.Redis], limit: int, ttl_s: int) -> None:
        self.client = client  # the worker's Redis client (its result backend's)
        self.limit = limit
        self.ttl_s = ttl_s

    def start(self, task_id: str | None) -> FaceError | None:
        """Counts this start of the task; TASK_ABANDONED when it is one too many. A count
        Redis cannot keep (it is away) lets the task run."""
        if not task_id:
            return None
        key = DELIVERIES_PREFIX + task_id
        try:
            with self.client().pipeline(transaction=True) as pipe:
                count, _ = pipe.incr(key).expire(key, self.ttl_s).execute()
        except redis.RedisError as exc:
            log.debug("delivery count of %s not kept: %s", task_id, exc)
            return None
        if count <= self.limit:
            return None
        log.error("task %s was handed to a worker %d times and never finished: its workers "
                  "died; it is abandoned", task_id, count)
        return FaceError(ERRORS.TASK_ABANDONED,
                         f"the workers running this task died {self.limit} times (a photo they "
                         "cannot process within their memory?); it is not run again")

    def end(self, task_id: str | None) -> None:
        if not task_id:
            return
        try:
            self.client().delete(DELIVERIES_PREFIX + task_id)
        except redis.RedisError as exc:  # it expires
            log.debug("delivery count of %s not dropped: %s", task_id, exc)
