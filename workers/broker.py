"""The worker's broker transport: leases on the messages it holds, renewed while it lives, a
pulse for the health check, and Redis restarts survived.

A live worker re-stamps the messages it holds every few seconds, so a message goes back to its
queue only when its worker has stopped renewing it, FACEGATE_VISIBILITY_TIMEOUT (30 s) after that
worker died, however long a healthy worker takes; and a broker connection lost mid-task no
longer ends the worker. How that is done on kombu's Redis transport, and why Celery's own
settings do not do it, is in shared/broker_internals.py (the one module that touches kombu's
internals); this module holds the worker's policy: how often to renew, and the pulse.

The renewal timer is the worker's pulse (BrokerPulse): it runs on the consumer's event loop and
talks to Redis, so a recent beat says the worker both consumes and reaches the broker. The
worker's /readyz (beside /metrics) reports it; its liveness check (/healthz) only mentions it:
an old beat during a Redis outage is the outage, which a restart would not cure (the consumer
reconnects by itself), so it must not get workers restarted (workers/metrics.py).
"""

from __future__ import annotations

import math
import time

from shared.broker_internals import LeasingTransport, leasing_transport


def lease_interval(visibility_timeout: float) -> float:
    """Seconds between renewals: a third of the timeout (two renewals may be missed before a
    held message goes back), at most 5 s, so the pulse stays fresh for the health check."""
    return max(1.0, min(5.0, visibility_timeout / 3))


class BrokerPulse:
    """When this worker last renewed its leases on the broker (monotonic seconds)."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.last: float | None = None

    def beat(self) -> None:
        self.last = time.monotonic()

    def age(self) -> float:
        return math.inf if self.last is None else time.monotonic() - self.last

    def alive(self) -> bool:
        """Beat within three intervals: the consumer loop runs and Redis answers."""
        return self.age() <= 3 * self.interval


def transport_for(pulse: BrokerPulse) -> type[LeasingTransport]:
    """The transport class Celery should use (`broker_transport`), renewing every
    lease_interval() and beating `pulse` each time Redis answered."""
    return leasing_transport(lease_interval, pulse.beat)
