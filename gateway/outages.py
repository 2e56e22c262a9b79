"""Outages of the services the gateway depends on, told apart from bugs: Redis (the queue and
results) or PostgreSQL (the gallery) unreachable is a retryable SYSTEM_BUSY (CloudWalk 4098,
Baidu 216401, HTTP 503 with Retry-After), never an internal error."""

from __future__ import annotations

import kombu.exceptions
import psycopg
import redis.exceptions

from shared.errors import ERRORS, FaceError

RETRY_AFTER_S = 5  # what the native API's Retry-After says: Redis and PostgreSQL restart in seconds

_OUTAGES: tuple[tuple[tuple[type[BaseException], ...], str], ...] = (
    ((redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
      redis.exceptions.BusyLoadingError, kombu.exceptions.OperationalError),
     "the queue (Redis) is unavailable"),
    # Redis at its maxmemory with noeviction refuses writes: the queue is full for now
    ((redis.exceptions.OutOfMemoryError,), "the queue (Redis) is full"),
    ((psycopg.OperationalError, psycopg.InterfaceError), "the database is unavailable"),
)


def as_outage(exc: BaseException) -> FaceError | None:
    """SYSTEM_BUSY naming the unavailable service, or None when `exc` is no outage."""
    for kinds, what in _OUTAGES:
        if isinstance(exc, kinds):
            return FaceError(ERRORS.SYSTEM_BUSY, f"{what}; retry in a few seconds")
    return None
