"""Structured logs: one JSON object per line, carrying the request id (Baidu's log_id) when the
line belongs to a request, so a gateway's line and the worker's line for one request match.
FACEGATE_LOG_JSON=false gives plain text for a terminal."""

from __future__ import annotations

import contextvars
import json
import logging
import time

REQUEST_ID: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")

_LINE_BREAKS = {0x85: "\\u0085", 0x2028: "\\u2028", 0x2029: "\\u2029"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {"ts": round(record.created, 3),
                 "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
                 "level": record.levelname.lower(), "logger": record.name,
                 "msg": record.getMessage()}
        request_id = getattr(record, "request_id", None) or REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        # one entry per line for any reader: the Unicode line breaks JSON leaves raw (a
        # client's path or parameter may hold them) are escaped too
        return json.dumps(entry, ensure_ascii=False, default=str).translate(_LINE_BREAKS)


def configure(level: str, as_json: bool) -> None:
    """facegate's own loggers (facegate.*): JSON lines on stderr, not passed to the root."""
    logger = logging.getLogger("facegate")
    logger.setLevel(level)
    logger.propagate = False
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger.handlers[:] = [handler]
