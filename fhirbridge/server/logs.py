"""The log of ``fhirbridge serve``: plain text or one JSON object a line, every line with its request id.

What a log line may hold: methods, paths (never a query string: it holds names, birth dates and
identifiers of children), statuses, durations, request ids and the worker's id. Never a token (tokens
travel in the Authorization header, which nothing logs; one in a URL is refused before anything else).
The access log line of each request is written by the observability layer (server/observability.py),
which knows the request id and the duration; uvicorn's own access log is turned off, and should it be
turned on again its lines still lose their query strings (``WithoutQueryStrings``).
"""

from __future__ import annotations

import logging
import os
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

# The id of the request being served, for every log line written while serving it (threads the
# request hands work to inherit it: Starlette and anyio copy the context into them).
REQUEST_ID: ContextVar[str] = ContextVar("fhirbridge_request_id", default="-")
ACCESS_LOGGER = "fhirbridge.access"
LOG_FORMATS = ("text", "json")
# What an access line adds to a record (``extra``), written out by both formats.
ACCESS_FIELDS = ("method", "path", "status", "duration_ms")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(worker)s %(request_id)s] %(message)s"


class RequestContext(logging.Filter):
    """Gives every record the request id it was written under and the worker's id."""

    def __init__(self, worker: str = "") -> None:
        super().__init__()
        # Empty: this process's id, taken when the filter is made, in each worker process that logs.
        self.worker = worker or str(os.getpid())

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.worker = self.worker
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request id, worker, and the access fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", REQUEST_ID.get()),
            "worker": getattr(record, "worker", "-"),
        }
        for name in ACCESS_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


class WithoutQueryStrings(logging.Filter):
    """Access log lines name the path only: a query string holds names, birth dates and identifiers of
    children, which have no place in a log file."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def log_config(log_format: str, worker: str) -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the server: fhirbridge's loggers and uvicorn's, to stderr."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"FHIRBRIDGE_LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    formatter: dict[str, Any] = {"()": JsonFormatter} if log_format == "json" else {"format": TEXT_FORMAT}
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": log_format,
        "filters": ["context"],
    }
    quiet = {"handlers": ["default"], "level": "INFO", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": RequestContext, "worker": worker}, "no_query": {"()": WithoutQueryStrings}},
        "formatters": {log_format: formatter},
        "handlers": {"default": handler},
        "loggers": {
            "fhirbridge": quiet,
            "uvicorn": quiet,
            "uvicorn.access": {**quiet, "filters": ["no_query"]},
        },
    }


__all__ = [
    "ACCESS_LOGGER",
    "LOG_FORMATS",
    "REQUEST_ID",
    "JsonFormatter",
    "RequestContext",
    "WithoutQueryStrings",
    "log_config",
]
