"""The kombu and Celery internals shared/broker_internals.py relies on are still there, with the
shape it uses (numbered as in its docstring). No Redis: a changed name, key or signature fails
here; tests/integration/test_broker_internals.py checks the behaviour against a real Redis."""

from __future__ import annotations

import inspect
from collections import OrderedDict
from types import SimpleNamespace

from celery import Celery
from celery.backends.redis import RedisBackend
from celery.concurrency import thread as thread_pool
from celery.concurrency.base import BasePool
from kombu import Connection
from kombu.asynchronous import Hub
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

from shared import broker_internals
from shared.broker_internals import (
    LeasingChannel,
    LeasingQoS,
    LeasingTransport,
    ResultReader,
    leasing_transport,
    queue_lists,
    result_key,
    result_reader_url,
)
from shared.tasks import PRIORITY_STEPS, QUEUES, queue_keys

UNREACHABLE = "redis://127.0.0.1:1/0"  # never connected to: nothing here talks to Redis


def _parameters(function) -> list[tuple[str, object]]:
    return [(p.name, p.default) for p in inspect.signature(function).parameters.values()]


def test_the_held_messages_are_kept_in_delivered_and_acked_ones_only_marked():
    """1, 5: `_delivered` holds the tags in order; virtual.QoS.ack only marks a tag dirty (no
    Redis, no channel call), and the next append flushes it."""
    qos = virtual.QoS(SimpleNamespace())  # a channel it must not touch
    assert isinstance(qos._delivered, OrderedDict)
    qos.append("message-1", "tag-1")
    qos.append("message-2", "tag-2")
    assert list(qos._delivered) == ["tag-1", "tag-2"]
    virtual.QoS.ack(qos, "tag-1")
    assert "tag-1" in qos._dirty and "tag-1" in qos._delivered  # acked, not yet flushed
    qos.append("message-3", "tag-3")
    assert list(qos._delivered) == ["tag-2", "tag-3"]
    qos._on_collect.cancel()  # no restore at garbage collection: there is no channel


def test_the_redis_qos_methods_facegate_overrides_keep_their_signatures():
    """6, 2: what LeasingQoS overrides, and kombu's sweep that restores old stamps."""
    assert _parameters(kombu_redis.QoS.restore_unacked) == [
        ("self", inspect.Parameter.empty), ("client", None)]
    assert _parameters(kombu_redis.QoS.ack) == [
        ("self", inspect.Parameter.empty), ("delivery_tag", inspect.Parameter.empty)]
    assert _parameters(kombu_redis.QoS.reject) == [
        ("self", inspect.Parameter.empty), ("delivery_tag", inspect.Parameter.empty),
        ("requeue", False)]
    assert [name for name, _ in _parameters(kombu_redis.QoS.restore_visible)] == [
        "self", "start", "num", "interval"]
    assert issubclass(LeasingQoS, kombu_redis.QoS)
    for name in ("restore_unacked", "ack", "reject"):
        assert _parameters(getattr(LeasingQoS, name)) == _parameters(
            getattr(kombu_redis.QoS, name))


def test_the_redis_channel_keys_and_hooks():
    """2, 3, 7, 9: the keys kombu keeps held messages under, the client a renewal borrows,
    and the class attributes that make the subclasses take effect."""
    channel = kombu_redis.Channel
    assert channel.unacked_key == "unacked" == broker_internals.UNACKED_KEY
    assert channel.unacked_index_key == "unacked_index"
    assert isinstance(channel.visibility_timeout, int | float)
    assert _parameters(channel.conn_or_acquire) == [
        ("self", inspect.Parameter.empty), ("client", None)]
    assert channel.QoS is kombu_redis.QoS and kombu_redis.Transport.Channel is channel
    assert LeasingChannel.QoS is LeasingQoS and LeasingTransport.Channel is LeasingChannel
    # the QoS reads its keys from its channel
    assert isinstance(inspect.getattr_static(kombu_redis.QoS, "unacked_index_key"),
                      kombu_redis.cached_property)


def test_the_queue_lists_are_named_as_kombu_names_them():
    """10: one list per queue and priority step, as the channel names it (and shared/tasks.py's
    queue_keys, which observe.py and shares.py read, agrees)."""
    assert kombu_redis.Channel.sep == "\x06\x16"
    assert _parameters(kombu_redis.Channel._q_for_pri) == [
        ("self", inspect.Parameter.empty), ("queue", inspect.Parameter.empty),
        ("pri", inspect.Parameter.empty)]
    channel = SimpleNamespace(sep=kombu_redis.Channel.sep, priority_steps=list(PRIORITY_STEPS))
    channel.priority = lambda n: kombu_redis.Channel.priority(channel, n)
    for queue in QUEUES:
        kombus = [kombu_redis.Channel._q_for_pri(channel, queue, step) for step in PRIORITY_STEPS]
        assert queue_lists(queue, PRIORITY_STEPS) == kombus == queue_keys(queue)


def test_a_collected_connection_leaves_the_transport_without_its_client():
    """4: what Celery's collect() after a lost connection leaves behind, and what
    LeasingQoS takes for "the connection is gone"."""
    connection = Connection(UNREACHABLE)
    transport = connection.transport
    assert transport.client is connection
    connection.collect()
    assert transport.client is None
    qos = LeasingQoS.__new__(LeasingQoS)
    qos.channel = SimpleNamespace(connection=transport)
    assert qos._connection_gone()
    qos.channel = SimpleNamespace(connection=SimpleNamespace(client=object()))
    assert not qos._connection_gone()


def test_the_event_loop_hooks_the_renewal_timer_uses():
    """8: kombu registers the transport with the worker's hub on every (re)connect; the poller
    keeps the consuming channels in `_channels`; the hub's repeating timer can be cancelled."""
    assert _parameters(kombu_redis.Transport.register_with_event_loop) == [
        ("self", inspect.Parameter.empty), ("connection", inspect.Parameter.empty),
        ("loop", inspect.Parameter.empty)]
    connection = Connection(UNREACHABLE)
    cycle = connection.transport.cycle
    assert isinstance(cycle, kombu_redis.MultiChannelPoller)
    assert cycle._channels == set()
    cycle.add("a channel")
    assert cycle._channels == {"a channel"}
    entry = Hub().call_repeatedly(5, lambda: None)
    entry.cancel()
    assert entry.canceled
    connection.release()


def test_celery_takes_a_transport_class_and_the_thread_pool_cannot_cancel_a_task():
    """7: `broker_transport` may be a class. And why worker_cancel_long_running_tasks_on_
    connection_loss does not replace the reconnect guards: the thread pool facegate runs has
    no terminate_job, so Celery cannot cancel a running task there."""
    app = Celery(broker=UNREACHABLE)
    app.conf.broker_transport = leasing_transport(lambda visibility: visibility / 3)
    assert isinstance(app.connection_for_write().transport, LeasingTransport)
    assert thread_pool.TaskPool.terminate_job is BasePool.terminate_job  # NotImplementedError
    assert "worker_cancel_long_running_tasks_on_connection_loss" in {
        key.lower() for key in app.conf}


def test_leasing_transport_carries_its_interval_and_callback():
    beats = []
    transport = leasing_transport(lambda visibility: visibility / 2, lambda: beats.append(1))
    assert issubclass(transport, LeasingTransport) and transport.lease_interval(8) == 4
    transport.on_renewed()
    assert beats == [1]
    assert LeasingTransport.on_renewed() is None  # without a callback: nothing to call


def test_celery_redis_backend_publishes_each_result_on_its_key_and_subscribes_per_send():
    """11, 12: the result is SET under its key and PUBLISHed on a channel of the same name;
    on_task_call is the hook ResultReader turns off (the integration test shows send_task
    subscribing through it); the backend loads from a URL."""
    calls = []

    class Pipe:
        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def __getattr__(self, name):
            return lambda *args: calls.append((name, *args))

    backend = RedisBackend(app=Celery(), url=UNREACHABLE)
    key = result_key(backend, "a-task")
    assert key == b"celery-task-meta-a-task"
    backend.__dict__["client"] = SimpleNamespace(pipeline=Pipe)
    backend._set(key, b"meta", expires=60)
    assert ("publish", key, b"meta") in calls and ("setex", key, 60, b"meta") in calls
    assert _parameters(RedisBackend.on_task_call) == [
        ("self", inspect.Parameter.empty), ("producer", inspect.Parameter.empty),
        ("task_id", inspect.Parameter.empty)]
    app = Celery(backend=result_reader_url(UNREACHABLE))
    assert type(app.backend) is ResultReader
    assert app.backend.on_task_call(None, "a-task") is None
