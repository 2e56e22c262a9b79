"""Where facegate leans on kombu's and Celery's internals: every private attribute, Redis key
that kombu or Celery owns, and class of theirs that facegate subclasses is used here. The
worker's transport (workers/broker.py) and the gateway's task search and result reading
(gateway/dispatch.py) call the named functions and classes below; shared/tasks.queue_keys
names a queue's lists through queue_lists.

Checked against kombu 5.7.0, celery 5.7.0 and redis-py 8.1.0 (the pins in pyproject.toml).
tests/unit/test_broker_internals.py checks that every internal listed here is still there with
the same shape; tests/integration/test_broker_internals.py checks, against a real Redis, that
each still behaves as relied on. A kombu or Celery upgrade that changes one fails those tests.

What facegate needs, and why Celery's settings do not give it (measured by
`python -m bench.broker_settings --repeat 3`: docs/operations.md, "What Celery's own settings
cover"):

- Leases. kombu's Redis transport acknowledges late by keeping each delivered message in the
  `unacked` hash and its delivery time in the `unacked_index` sorted set; any consumer's sweep
  pushes back on its queue a message stamped longer than `visibility_timeout` ago. With that
  setting alone, a task longer than the timeout runs again while it still runs (an 18 s task
  started 3 times with a 6 s timeout), and a timeout long enough for the slowest task makes a
  dead worker's task wait that long after its delivery (18 s: started again 17.9 s after its
  worker was killed). No setting renews a delivery's stamp. So a live worker re-stamps the
  messages it holds (ZADD XX, as SQS's ChangeMessageVisibility does): the 18 s task ran once,
  and a dead worker's task came back 5.9-6.0 s after the kill with a 6 s timeout.
- Reconnects. On a lost connection Celery collects the old connection (its kombu transport
  loses its client) and closes it. Closing the channel pushes its held messages back, and a
  task that finishes later acknowledges through that channel; both build a Redis pool from the
  client that is gone, `_connparams()` raises AttributeError("'NoneType' object has no
  attribute 'hostname'"), and Celery ends the worker ("Unrecoverable error"). Measured: the
  stock worker exited on 12 of 12 Redis restarts (the tracebacks read ended in the push,
  restore_unacked), 6 of them with worker_cancel_long_running_tasks_on_connection_loss on
  (Celery's thread pool cannot cancel a running task: it has no terminate_job). Where the
  push gets as far as Redis, it can drop the message instead (out of `unacked`, never onto its
  queue: tests/integration/test_broker_internals.py). Neither push nor acknowledgement
  is needed: each message is in the `unacked` hash and returns to its queue once its lease
  runs out (the interrupted task then runs again; tasks are idempotent). With the guards the
  worker stayed up on 6 of 6 restarts.
- task_reject_on_worker_lost (on in shared/tasks.py) requeues the task of a prefork child that
  died (started again 0.1-3.0 s later), but facegate's workers use the thread pool, where what
  dies is the worker process itself: then only the lease brings the task back.
- Lost on the way. kombu pops a message (BRPOP) and only then records it as held; a worker
  killed between the two loses it, and no setting closes that window. The gateway searches the
  queue lists and the held messages for a task (task_accounted_for) and sends it again.

The internals, one by one:

kombu.transport.redis, the worker's side
 1. `QoS._delivered` (kombu.transport.virtual.QoS): the delivery tags the channel holds, acked
    ones included until kombu flushes them. Read to renew their leases (ZADD XX skips the acked
    ones), cleared when the connection is gone. kombu changes it on the consumer's thread only,
    which is where the renewal timer runs.
 2. `Channel.unacked_index_key` ("unacked_index": tag -> delivery time) and the rule of
    `QoS.restore_visible`: a tag scored before now - `visibility_timeout` is restored.
 3. `Channel.conn_or_acquire()`: a client from the channel's pool, for the renewal.
 4. `Channel.connection` (the virtual Transport) and its `.client` (the kombu Connection),
    None once Celery has collected a lost connection: the test for "the connection is gone".
 5. `virtual.QoS.ack(tag)`: forgets a tag on this side only (kombu's dirty set), no Redis.
 6. `QoS.restore_unacked(client=None)`, `QoS.ack(tag)`, `QoS.reject(tag, requeue=False)`:
    overridden with kombu's signatures, called by kombu and Celery.
 7. `Channel.QoS` and `Transport.Channel`: the classes kombu instantiates, so that subclasses
    take effect; Celery accepts a Transport class as `broker_transport`.
 8. `Transport.register_with_event_loop(connection, loop)`, called on every (re)connect with
    the worker's hub; `Transport.cycle` (the MultiChannelPoller) and its `_channels` (the
    consuming channels); `loop.call_repeatedly` (kombu.asynchronous.Hub, returns an entry
    with cancel()); `connection.client.transport_options["visibility_timeout"]`.
kombu.transport.redis, the gateway's side
 9. `Channel.unacked_key` ("unacked": tag -> JSON [message, exchange, routing key]).
10. The queue lists: one Redis list per queue and priority step, the queue's name for step 0
    and `<queue><Channel.sep><step>` for the others (`Channel._q_for_pri`); each entry is the
    message's JSON, which names the task id (`headers.id`).
celery.backends.redis.RedisBackend
11. `_set`: a result is SET under `get_key_for_task(id)` and PUBLISHed on a channel of the same
    name; the gateway subscribes to it instead of polling.
12. `on_task_call(producer, task_id)`: send_task calls it to subscribe for AsyncResult.get();
    overridden to nothing (ResultReader), loaded as `<module>:<class>+<url>` (result_backend).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence

import redis.asyncio as aioredis
from celery.backends.redis import RedisBackend
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

log = logging.getLogger("facegate.worker")  # the transport's lines come from the worker

UNACKED_KEY = kombu_redis.Channel.unacked_key  # 9: the messages workers hold


# The worker's side: leases and reconnects (1-8).

class LeasingQoS(kombu_redis.QoS):
    """kombu's Redis QoS that renews its held messages' leases and does not end the worker
    when its connection is gone."""

    def _connection_gone(self) -> bool:
        connection = self.channel.connection  # 4
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
        # has no attribute 'hostname'") and Celery would end the worker. The message stays held,
        # returns once its lease runs out, and the task runs again (tasks are idempotent).
        if self._connection_gone():
            log.warning("broker connection gone: task done but its message stays held; it "
                        "runs again once its lease runs out")
            virtual.QoS.ack(self, delivery_tag)  # 5: forgotten here only
            return
        super().ack(delivery_tag)

    def reject(self, delivery_tag, requeue=False):
        if self._connection_gone():  # as ack(): the lease brings it back
            virtual.QoS.ack(self, delivery_tag)
            return
        super().reject(delivery_tag, requeue)

    def renew(self) -> int:
        """Re-stamps every message this channel holds (a PING when none); returns how many it
        held. XX: a message acknowledged meanwhile is not brought back."""
        tags = list(self._delivered)  # taken on the event loop's thread, as kombu's append()
        with self.channel.conn_or_acquire() as client:
            if tags:
                client.zadd(self.unacked_index_key, dict.fromkeys(tags, time.time()), xx=True)
            else:
                client.ping()
        return len(tags)


class LeasingChannel(kombu_redis.Channel):
    QoS = LeasingQoS


class LeasingTransport(kombu_redis.Transport):
    """kombu's Redis transport with a timer on the consumer's event loop that renews the
    leases of every consuming channel; made by leasing_transport()."""

    Channel = LeasingChannel

    @staticmethod
    def lease_interval(visibility_timeout: float) -> float:
        """Seconds between renewals for a visibility timeout: the worker's policy
        (workers/broker.lease_interval), which leasing_transport sets."""
        raise NotImplementedError("a LeasingTransport is made by leasing_transport()")

    @staticmethod
    def on_renewed() -> None:
        """Called after Redis answered a renewal of a consuming channel."""

    def register_with_event_loop(self, connection, loop):
        super().register_with_event_loop(connection, loop)
        cycle = self.cycle
        # A reconnect registers again: one renewal timer per cycle, as kombu does for its own.
        previous = getattr(cycle, "_facegate_lease_tref", None)
        if previous is not None:
            previous.cancel()
        visibility = connection.client.transport_options.get(
            "visibility_timeout", kombu_redis.Channel.visibility_timeout)
        cycle._facegate_lease_tref = loop.call_repeatedly(
            self.lease_interval(visibility), self._renew_leases, cycle)

    def _renew_leases(self, cycle) -> None:
        channels = list(cycle._channels)
        try:
            for channel in channels:
                channel.qos.renew()
        except Exception as exc:  # broker away: kombu reconnects; on_renewed is not called
            log.debug("lease renewal failed: %s", exc)
            return
        if channels:  # Redis answered a consuming channel
            self.on_renewed()


def leasing_transport(lease_interval: Callable[[float], float],
                      on_renewed: Callable[[], None] | None = None) -> type[LeasingTransport]:
    """The transport class for Celery's `broker_transport`: renews every
    `lease_interval(visibility timeout)` seconds and calls `on_renewed` when Redis answered."""
    fields: dict[str, object] = {"lease_interval": staticmethod(lease_interval)}
    if on_renewed is not None:
        fields["on_renewed"] = staticmethod(on_renewed)
    return type("Transport", (LeasingTransport,), fields)


# The gateway's side: where a task's message is (9, 10), and results (11, 12).

def queue_lists(queue: str, steps: Iterable[int]) -> list[str]:
    """The Redis lists kombu keeps `queue`'s messages in, one per priority step, in the
    order a worker serves them."""
    return [queue if step == 0 else f"{queue}{kombu_redis.Channel.sep}{step}" for step in steps]


async def task_accounted_for(client: aioredis.Redis, lists: Sequence[str], task_id: str,
                             result_key: str | bytes, scan_max: int) -> bool:
    """Whether the broker still accounts for the task: its message waits in one of `lists`
    (queue_lists), a worker holds it (the `unacked` hash), or its result is at `result_key`.

    Messages carry images, so only up to `scan_max` waiting and `scan_max` held messages are
    searched; with more, the task counts as accounted for (the work in flight drains first).
    The search is one transaction: a message moving from a dead worker's hands back to its
    queue is seen in one place."""
    async with client.pipeline(transaction=False) as pipe:
        for key in lists:
            pipe.llen(key)
        *lengths, holding = await pipe.hlen(UNACKED_KEY).execute()
    if sum(lengths) > scan_max or holding > scan_max:
        return True
    async with client.pipeline(transaction=True) as pipe:
        for key in lists:
            pipe.lrange(key, 0, -1)
        *queued, held, finished = await pipe.hvals(UNACKED_KEY).exists(result_key).execute()
    if finished:
        return True
    needle = task_id.encode()  # the message's JSON names its task id
    return any(needle in message for listed in [*queued, held] for message in listed)


def result_key(backend: RedisBackend, task_id: str) -> bytes:
    """The key Celery's Redis backend SETs the task's result under, and the pub/sub channel it
    PUBLISHes the result on (11)."""
    return backend.get_key_for_task(task_id)


class ResultReader(RedisBackend):
    """Celery's Redis result backend minus the SUBSCRIBE it issues on every send_task (12).

    That subscription is for AsyncResult.get(), which the gateway never calls: it would cost a
    blocking Redis round trip inside the event loop per request, and its never-read pub/sub
    buffer grows until Redis drops the connection. The gateway reads results itself.
    """

    def on_task_call(self, producer, task_id) -> None:
        return None


def result_reader_url(redis_url: str) -> str:
    """Celery's `result_backend` setting for a ResultReader on `redis_url`."""
    return f"{__name__}:{ResultReader.__name__}+{redis_url}"
