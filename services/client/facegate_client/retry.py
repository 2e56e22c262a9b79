"""When a request is sent again, decided once for both clients.

A 429 (the app's QPS limit; CloudWalk answers it as result 4117) is refused before any work is
done, so every call retries it, after the server's Retry-After or an exponential backoff. A 503
(SYSTEM_BUSY: an outage, or no result in time, CloudWalk 4098) may come after the work was
queued, so only calls that change nothing, or change it at most once (an enrolment with a key,
a bulk load: keys make it idempotent), retry it. A connection refused (the request never left)
is retried by every call.
"""

from __future__ import annotations

import random

import httpx

CLOUDWALK_RETRY = {4117: 429, 4098: 503}  # CloudWalk result code -> the HTTP status it means
BACKOFF_CAP_S = 30.0


def _cloudwalk_result(response: httpx.Response) -> int | None:
    try:
        result = response.json().get("result")
    except (ValueError, AttributeError):
        return None
    return result if isinstance(result, int) else None


def _status(path: str, response: httpx.Response) -> int:
    """The HTTP status the answer means: CloudWalk's dialect answers HTTP 200 always."""
    if response.status_code == 200 and path.startswith("/face/"):
        result = _cloudwalk_result(response)
        return 200 if result is None else CLOUDWALK_RETRY.get(result, 200)
    return response.status_code


def pause_s(attempt: int, backoff_s: float, retry_after: str | None = None) -> float:
    """The wait before try `attempt + 1`, jittered so that clients limited together do not
    come back together."""
    delay = min(BACKOFF_CAP_S, backoff_s * 2.0 ** attempt)
    if retry_after and retry_after.isdigit():
        delay = min(BACKOFF_CAP_S, float(retry_after))
    return delay * random.uniform(0.8, 1.2)


def next_try(attempt: int, retries: int, backoff_s: float, *, path: str, idempotent: bool,
             response: httpx.Response | None) -> float | None:
    """Seconds to wait before sending the request again, or None when this outcome stands.
    `attempt` counts from 0; `response` None: the connection was refused."""
    if attempt >= retries:
        return None
    if response is None:
        return pause_s(attempt, backoff_s)
    status = _status(path, response)
    if status == 429 or (status == 503 and idempotent):
        return pause_s(attempt, backoff_s, response.headers.get("retry-after"))
    return None
