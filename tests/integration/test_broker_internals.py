"""kombu and Celery still behave, against a real Redis, the way shared/broker_internals.py relies
on (numbered as in its docstring), and the behaviour that makes facegate adapt them is still
there: if an upgrade fixes it, a test here fails and says which adaptation to drop.

A Redis of its own (services/cli/embedded.py, append-only as the stack's), so that a test can
stop and start it; the worker-level pins run a Celery worker subprocess (bench/broker_settings.py
holds the harness and prints the same scenarios' figures).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import redis.asyncio as aioredis
from celery import Celery, states
from kombu import Connection, Exchange, Queue

from services.cli.embedded import EmbeddedRedis
from shared.broker_internals import (
    UNACKED_KEY,
    ResultReader,
    leasing_transport,
    queue_lists,
    result_key,
    result_reader_url,
    task_accounted_for,
)
from shared.settings import Settings
from shared.tasks import PRIORITY_STEPS, make_celery

QUEUE = "facegate.test-internals"


@pytest.fixture(scope="module")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedRedis]:
    server = EmbeddedRedis(tmp_path_factory.mktemp("broker-internals"))
    yield server
    server.stop()


@pytest.fixture
def client(embedded: EmbeddedRedis) -> Iterator[redis.Redis]:
    with redis.Redis.from_url(embedded.url) as plain:
        plain.flushall()
        yield plain


def _transport_options(visibility: float) -> dict:
    # as shared/tasks.make_celery sets them: a list per priority step, a sweep every second
    return {"visibility_timeout": visibility, "priority_steps": list(PRIORITY_STEPS),
            "unacked_restore_interval": 1, "unacked_restore_throttle": 1}


def _take(url: str, transport=None, visibility: float = 30, priority: int = 0):
    """A connection that published one message and holds it unacknowledged."""
    queue = Queue(QUEUE, Exchange(QUEUE), QUEUE)
    conn = Connection(url, transport=transport, transport_options=_transport_options(visibility))
    conn.Producer().publish({"task": "held"}, exchange=queue.exchange, routing_key=QUEUE,
                            declare=[queue], priority=priority, headers={"id": "held-task"})
    received = []
    channel = conn.default_channel
    consumer = conn.Consumer(queue, callbacks=[lambda body, message: received.append(message)],
                             channel=channel)
    consumer.consume()
    deadline = time.monotonic() + 10
    while not received:
        assert time.monotonic() < deadline, "the message did not arrive"
        conn.drain_events(timeout=5)
    return conn, channel, received[0]


def test_a_held_message_is_kept_in_unacked_and_stamped_in_its_index(embedded, client):
    """1, 2, 9: what kombu writes for a message it delivered and has not had acknowledged, and
    what an acknowledgement removes."""
    conn, channel, message = _take(embedded.url)
    tag = message.delivery_tag
    assert list(channel.qos._delivered) == [tag]
    stamp = client.zscore("unacked_index", tag)
    assert stamp is not None and abs(stamp - time.time()) < 5
    raw, exchange, routing_key = json.loads(client.hget(UNACKED_KEY, tag))
    assert (exchange, routing_key) == (QUEUE, QUEUE) and raw["headers"]["id"] == "held-task"
    message.ack()
    assert client.zscore("unacked_index", tag) is None and not client.hexists(UNACKED_KEY, tag)
    conn.release()


def test_kombus_sweep_restores_an_old_stamp_and_a_renewal_keeps_it_held(embedded, client):
    """2 and the lease: restore_visible pushes back a message stamped over the visibility
    timeout ago (redelivered), LeasingQoS.renew re-stamps it so it stays held, and ZADD XX
    brings no acknowledged message back."""
    conn, channel, message = _take(embedded.url, leasing_transport(lambda v: 1.0),
                                   visibility=1)
    tag = message.delivery_tag
    time.sleep(1.3)
    assert channel.qos.renew() == 1
    channel.qos.restore_visible(num=10, interval=1)
    assert client.hexists(UNACKED_KEY, tag) and client.llen(QUEUE) == 0
    time.sleep(1.3)
    channel.qos.restore_visible(num=10, interval=1)  # not renewed: the sweep takes it back
    assert not client.hexists(UNACKED_KEY, tag) and client.llen(QUEUE) == 1
    assert json.loads(client.lindex(QUEUE, 0))["headers"]["redelivered"] is True
    channel.qos.renew()  # the tag is still in _delivered here: XX must not stamp it again
    assert client.zscore("unacked_index", tag) is None
    conn.release()


def test_the_renewal_timer_is_registered_once_per_cycle_and_beats_after_redis_answered(
        embedded, client):
    """8: register_with_event_loop runs on every (re)connect, with the visibility timeout in
    the connection's transport options; the poller lists the consuming channel; a renewal
    that reached Redis calls back."""
    from kombu.asynchronous import Hub

    timeouts, beats = [], []

    def interval(visibility: float) -> float:
        timeouts.append(visibility)
        return visibility / 4

    conn, channel, message = _take(embedded.url, leasing_transport(interval,
                                                                   lambda: beats.append(1)),
                                   visibility=8)
    hub = Hub()
    conn.register_with_event_loop(hub)
    cycle = conn.transport.cycle
    first = cycle._facegate_lease_tref
    conn.register_with_event_loop(hub)  # a reconnect
    assert timeouts == [8, 8]
    assert first.canceled and not cycle._facegate_lease_tref.canceled
    assert channel in cycle._channels
    before = client.zscore("unacked_index", message.delivery_tag)
    time.sleep(0.05)
    conn.transport._renew_leases(cycle)
    assert beats == [1] and client.zscore("unacked_index", message.delivery_tag) > before
    cycle._facegate_lease_tref.cancel()
    hub.close()
    message.ack()
    conn.release()


def _lose_connection(embedded: EmbeddedRedis, conn: Connection) -> None:
    """What a Redis restart does to a worker: the server goes, Celery collects the connection
    (kombu's transport loses its client), the server comes back."""
    embedded.stop()
    try:
        conn.collect()  # Celery ignores its errors too (Consumer.on_connection_error_after_...)
    finally:
        embedded.restart()  # started again (already stopped)


def test_stock_kombu_drops_a_held_message_after_a_lost_connection_facegate_keeps_it(
        embedded, client, caplog):
    """4, 6: why LeasingQoS.restore_unacked does nothing once the connection is gone. kombu's
    own, called after Celery collected a connection lost to a Redis restart, takes the
    message out of `unacked` and cannot push it back (its channel is half closed): the task
    is gone. If this starts passing a message back to its queue, kombu fixed it: drop the
    guard."""
    conn, channel, message = _take(embedded.url)
    tag = message.delivery_tag
    _lose_connection(embedded, conn)
    assert channel.connection.client is None and list(channel.qos._delivered) == [tag]
    with caplog.at_level(logging.CRITICAL, logger="kombu.transport.redis"):
        channel.qos.restore_unacked()
    assert "Could not restore message" in caplog.text
    assert not client.hexists(UNACKED_KEY, tag) and client.llen(QUEUE) == 0  # lost

    conn, channel, message = _take(embedded.url, leasing_transport(lambda v: 1.0))
    tag = message.delivery_tag
    _lose_connection(embedded, conn)
    channel.qos.restore_unacked()
    assert not channel.qos._delivered
    assert client.hexists(UNACKED_KEY, tag)  # held: its lease brings it back
    message.ack()  # a task done after the loss: no error, and the message stays held
    assert client.hexists(UNACKED_KEY, tag)


def test_stock_kombu_ends_the_worker_once_the_lost_channel_dropped_its_pools(embedded, client):
    """4, 6: why LeasingQoS.restore_unacked, ack and reject do nothing once the connection is
    gone. When closing the lost connection's channel got as far as dropping its pools (the
    state in a stock worker's traceback on a Redis restart: Channel.close ->
    restore_unacked_once -> restore_unacked -> conn_or_acquire -> _connparams), kombu builds a
    new pool from the connection's client, which is gone, and raises the AttributeError that
    Celery ends the worker on ("Unrecoverable error"); an acknowledgement does the same. If
    either stops raising, kombu fixed it: drop the guard."""
    conn, channel, message = _take(embedded.url)
    _lose_connection(embedded, conn)
    channel._disconnect_pools()  # what the channel's close() had done
    with pytest.raises(AttributeError, match="hostname"):
        channel.qos.restore_unacked()
    with pytest.raises(AttributeError, match="hostname"):
        message.ack()

    conn, channel, message = _take(embedded.url, leasing_transport(lambda v: 1.0))
    _lose_connection(embedded, conn)
    channel._disconnect_pools()
    channel.qos.restore_unacked()
    message.ack()
    assert client.hexists(UNACKED_KEY, message.delivery_tag)  # held: its lease brings it back


def test_priorities_land_in_the_lists_queue_lists_names(embedded, client):
    """10: a message of priority p waits in queue_lists(queue)[p], as JSON naming its task."""
    queue = Queue(QUEUE, Exchange(QUEUE), QUEUE)
    with Connection(embedded.url, transport_options=_transport_options(30)) as conn:
        for priority in (0, 4, 9):
            conn.Producer().publish({"p": priority}, exchange=queue.exchange,
                                    routing_key=QUEUE, declare=[queue], priority=priority,
                                    headers={"id": f"task-{priority}"})
    lists = queue_lists(QUEUE, PRIORITY_STEPS)
    lengths = [client.llen(key) for key in lists]
    assert [i for i, length in enumerate(lengths) if length] == [0, 4, 9]
    assert json.loads(client.lindex(lists[4], 0))["headers"]["id"] == "task-4"


def test_task_accounted_for_finds_a_task_waiting_held_or_done_and_not_a_lost_one(
        embedded, client):
    """9, 10, 11 through the gateway's search."""
    conn, _, message = _take(embedded.url, priority=5)
    queue = Queue(QUEUE, Exchange(QUEUE), QUEUE)
    conn.Producer().publish({"n": 2}, exchange=queue.exchange, routing_key=QUEUE,
                            declare=[queue], priority=5, headers={"id": "waiting-task"})
    client.set("celery-task-meta-done-task", b"{}")
    lists = queue_lists(QUEUE, PRIORITY_STEPS)

    async def search(task_id: str, scan_max: int = 20) -> bool:
        async with aioredis.Redis.from_url(embedded.url) as async_client:
            return await task_accounted_for(async_client, lists, task_id,
                                            f"celery-task-meta-{task_id}", scan_max)

    assert asyncio.run(search("held-task"))  # in a worker's hands
    assert asyncio.run(search("waiting-task"))  # in its queue, at priority 5
    assert asyncio.run(search("done-task"))  # its result is there
    assert not asyncio.run(search("lost-task"))
    assert asyncio.run(search("lost-task", scan_max=0))  # too much to search: waiting
    message.ack()
    conn.release()


def test_results_are_published_on_their_key_and_send_task_subscribes_unless_reader(
        embedded, client):
    """11, 12: Celery's Redis backend SETs a result and PUBLISHes it on a channel named as the
    key; its send_task subscribes to that channel per task (PUBSUB NUMSUB), ResultReader's
    does not."""
    app = make_celery(Settings().changed(redis_url=embedded.url), "test-internals")
    key = result_key(app.backend, "published-task")
    listener = client.pubsub()
    listener.subscribe(key)
    assert listener.get_message(timeout=2)["type"] == "subscribe"
    app.backend.store_result("published-task", {"faces": []}, states.SUCCESS)
    published = listener.get_message(timeout=5)
    assert published["channel"] == key and published["data"] == client.get(key)
    assert app.backend.decode_result(published["data"])["status"] == states.SUCCESS
    listener.close()

    # (the AsyncResult kept: when it goes, Celery unsubscribes)
    sent = app.send_task("facegate.test.nothing", task_id="subscribed-task", queue=QUEUE)
    subscribed = result_key(app.backend, "subscribed-task")
    assert dict(client.pubsub_numsub(subscribed))[subscribed] == 1
    del sent
    app.close()

    reader = Celery("test-reader", broker=embedded.url,
                    backend=result_reader_url(embedded.url))
    assert isinstance(reader.backend, ResultReader)
    sent = reader.send_task("facegate.test.nothing", task_id="unsubscribed-task", queue=QUEUE)
    unsubscribed = result_key(reader.backend, "unsubscribed-task")
    assert dict(client.pubsub_numsub(unsubscribed))[unsubscribed] == 0
    del sent
    reader.close()


def test_a_worker_runs_a_task_longer_than_the_visibility_timeout_once_only_with_leases(
        tmp_path: Path):
    """The lease against kombu's settings alone, on real worker subprocesses (thread pool, as
    facegate runs them): with a 4 s visibility timeout (the least FACEGATE_VISIBILITY_TIMEOUT
    takes) a 12 s task starts again while it runs on stock kombu, once on the leasing
    transport. If stock starts it once, kombu renews by
    itself: drop the leases."""
    from bench.broker_settings import Bench, scenario_long

    bench = Bench(tmp_path, visibility=4)
    try:
        stock = scenario_long(bench, "stock", 4)
        lease = scenario_long(bench, "lease", 4)
    finally:
        bench.close()
    assert len(stock.starts) >= 2, stock
    assert len(lease.starts) == 1, lease
