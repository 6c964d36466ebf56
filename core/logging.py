"""Log lines as text for a person at a terminal, or as one JSON object a line (``LOG_FORMAT=json``) for a log
collector, which then needs no pattern to find the level, the logger or the request a line belongs to."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from flask import has_request_context

from core.context import current_origin

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, ISO 8601), level, logger, message, the request id and channel of
    the unit of work it was logged in (core.context), and the traceback when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        origin = current_origin()
        # A web request sets its origin and leaves it set: outside a request context it names an earlier request.
        stale = origin.channel in ("web", "api") and not has_request_context()
        if not stale and origin.channel != "unknown":
            entry["channel"] = origin.channel
            if origin.request_id:
                entry["request_id"] = origin.request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack"] = self.formatStack(record.stack_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str, log_format: str) -> None:
    """Log to stderr at ``level`` in ``log_format``, unless the process has set up logging already (gunicorn's
    configuration with LOG_FORMAT=json, a test runner)."""
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
