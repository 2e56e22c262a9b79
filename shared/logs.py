"""Structured logs: one JSON object per line from every logger of the process (facegate's,
uvicorn's, Celery's, kombu's, ...), carrying the request id (Baidu's log_id) when the line
belongs to a request, so a gateway's line and the worker's lines for one request match.
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


# Loggers that servers and libraries give handlers of their own (uvicorn's dictConfig, Celery's
# set-up): those handlers go, and every line reaches the root's one handler.
OWN_HANDLERS = ("facegate", "uvicorn", "uvicorn.error", "celery", "kombu", "amqp", "redis",
                "py.warnings")
# Libraries whose INFO lines are one per request or connection: warnings and above only
QUIET = ("httpx", "httpcore", "PIL", "multipart")


def configure(level: str, as_json: bool) -> None:
    """The process's one log configuration: one handler on the root logger, writing JSON lines
    (or plain text) to stderr, and every other logger passing its lines up to it."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if as_json else logging.Formatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in OWN_HANDLERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    # uvicorn's access line holds the query string, where Baidu's clients send access_token:
    # never written (the gateway writes its own, path only: gateway/observe.py). uvicorn logs
    # it whenever the logger has a handler up its chain, so it must not pass lines up either.
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = []
    access.propagate = False
    access.disabled = True
    logging.captureWarnings(True)
