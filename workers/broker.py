"""kombu's Redis transport with two changes: a worker renews the lease on the messages it holds,
and it no longer dies when the broker connection drops.

Leases. kombu's Redis transport acknowledges late by writing each message it delivers to the
`unacked` hash, with its delivery time in the `unacked_index` sorted set; any consumer puts back
on its queue a message held longer than the visibility timeout. Left alone, that timeout must
outlast the slowest task, so a task held by a worker that was killed came back only after 5
minutes, long after a synchronous request waiting for it had given up. Here a live worker
re-stamps the messages it holds every few seconds (ZADD XX: never one already acknowledged), as
SQS's ChangeMessageVisibility does: a message goes back to its queue only when its worker has
stopped renewing it, FACEGATE_VISIBILITY_TIMEOUT (30 s) after that worker died, however long a
healthy worker takes.

The same timer is the worker's pulse (BrokerPulse): it runs on the consumer's event loop and
talks to Redis, so a recent beat says the worker both consumes and reaches the broker. The
worker's /readyz (beside /metrics) reports it; its liveness check (/healthz) only mentions it:
an old beat during a Redis outage is the outage, which a restart would not cure (the consumer
reconnects by itself, below), so it must not get workers restarted (workers/metrics.py).

Reconnects. kombu (5.x), on a lost connection, calls restore_unacked() through a channel whose
connection has lost its client, and _connparams() fails with AttributeError("'NoneType' object
has no attribute 'hostname'"), which Celery treats as unrecoverable: the worker exits for good
(seen on every Redis restart in tests/faults). A task finishing while the connection is down
fails the same way when it acknowledges (seen in the deployment test: the worker container
exited and Docker restarted it). Neither push nor acknowledgement is needed: each message is
in the `unacked` hash, and returns to its queue once its lease runs out.
"""

from __future__ import annotations

import logging
import math
import time

from kombu.transport import redis as kombu_redis

log = logging.getLogger("facegate.worker")


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


class QoS(kombu_redis.QoS):
    def _connection_gone(self) -> bool:
        connection = self.channel.connection
        return connection is None or connection.client is None

    def restore_unacked(self, client=None):
        if client is None and self._connection_gone():
            log.warning("broker connection gone: %d unacknowledged message(s) return to their "
                        "queue once their lease runs out", len(self._delivered))
            self._delivered.clear()
            return
        super().restore_unacked(client)

    def ack(self, delivery_tag):
        # A task that finishes while the connection is down (Redis restarting) cannot remove
        # its message from `unacked`: kombu would fail with AttributeError ("'NoneType' object
        # has no attribute 'client'") and Celery would end the worker. The message stays held,
        # returns once its lease runs out, and the task runs again (tasks are idempotent).
        if self._connection_gone():
            log.warning("broker connection gone: task done but its message stays held; it "
                        "runs again once its lease runs out")
            kombu_redis.virtual.QoS.ack(self, delivery_tag)  # forgotten here only
            return
        super().ack(delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        if self._connection_gone():  # as ack(): the lease brings it back
            kombu_redis.virtual.QoS.ack(self, delivery_tag)
            return
        super().reject(delivery_tag, requeue)

    def renew(self) -> int:
        """Re-stamps every message this channel holds; returns how many it held."""
        tags = list(self._delivered)  # taken on the event loop's thread, as append() is
        with self.channel.conn_or_acquire() as client:
            if tags:
                now = time.time()
                client.zadd(self.unacked_index_key, dict.fromkeys(tags, now), xx=True)
            else:
                client.ping()
        return len(tags)


class Channel(kombu_redis.Channel):
    QoS = QoS


class Transport(kombu_redis.Transport):
    Channel = Channel
    pulse: BrokerPulse | None = None  # set by transport_for(); None: leases without a pulse

    def register_with_event_loop(self, connection, loop):
        super().register_with_event_loop(connection, loop)
        cycle = self.cycle
        # A reconnect registers again: one renewal timer per cycle, as kombu does for its own.
        previous = getattr(cycle, "_facegate_lease_tref", None)
        if previous is not None:
            previous.cancel()
        visibility = connection.client.transport_options.get("visibility_timeout", 3600)
        cycle._facegate_lease_tref = loop.call_repeatedly(
            lease_interval(visibility), self._renew_leases, cycle)

    def _renew_leases(self, cycle) -> None:
        channels = list(cycle._channels)
        try:
            for channel in channels:
                channel.qos.renew()
        except Exception as exc:  # broker away: kombu reconnects; the pulse stays old
            log.debug("lease renewal failed: %s", exc)
            return
        if channels and self.pulse is not None:  # Redis answered a consuming channel
            self.pulse.beat()


def transport_for(pulse: BrokerPulse) -> type[Transport]:
    """The transport class Celery should use, reporting its renewals to `pulse`."""
    return type("Transport", (Transport,), {"pulse": pulse})
