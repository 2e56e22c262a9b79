"""kombu's Redis transport with one fix: when the broker connection drops, a worker closing its
channel no longer dies trying to push its unacknowledged messages back over a connection that
is already gone.

kombu (5.x) then calls restore_unacked() through a channel whose connection has lost its
client, and _connparams() fails with AttributeError("'NoneType' object has no attribute
'hostname'"), which Celery treats as unrecoverable: the worker exits for good (seen on every
Redis restart in tests/faults). The messages are not lost by skipping that push: kombu wrote
each one to the `unacked` hash when it was delivered, and restore_visible() puts it back on its
queue once FACEGATE_VISIBILITY_TIMEOUT has passed, as it does for a worker that was killed.
"""

from __future__ import annotations

import logging

from kombu.transport import redis as kombu_redis

log = logging.getLogger("facegate.worker")


class QoS(kombu_redis.QoS):
    def restore_unacked(self, client=None):
        if client is None and self.channel.connection.client is None:
            log.warning("broker connection gone: %d unacknowledged message(s) return to their "
                        "queue after the visibility timeout", len(self._delivered))
            self._delivered.clear()
            return
        super().restore_unacked(client)


class Channel(kombu_redis.Channel):
    QoS = QoS


class Transport(kombu_redis.Transport):
    Channel = Channel
