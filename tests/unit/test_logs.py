"""The JSON log lines (shared/logs.py) stay one entry per line whatever a client sends."""

from __future__ import annotations

import json
import logging

from shared.logs import JsonFormatter


def test_unicode_line_breaks_in_a_message_stay_on_one_line():
    path = "/v1/identities/\u2003\x0b\x85\u2028\u2029x"
    record = logging.LogRecord("facegate.access", logging.INFO, __file__, 1, "request", (), None)
    record.fields = {"path": path}
    line = JsonFormatter().format(record)
    assert len(line.splitlines()) == 1  # str.splitlines breaks at \x85, \u2028, \u2029 too
    assert json.loads(line)["path"] == path
