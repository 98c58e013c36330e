"""JSON log lines: one object per line, with the invocation's fields at the top level."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

__all__ = ["JSONFormatter", "configure_logging", "invocation_logger"]

LOGGER = "faaskit"


class JSONFormatter(logging.Formatter):
    """``{"ts", "level", "logger", "msg", ...fields}``; fields from ``extra={"fields": {}}``."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            line.update(fields)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class _InvocationAdapter(logging.LoggerAdapter[logging.Logger]):
    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = kwargs.setdefault("extra", {})
        extra["fields"] = {**(self.extra or {}), **extra.get("fields", {})}
        return msg, kwargs


def invocation_logger(**fields: Any) -> logging.LoggerAdapter[logging.Logger]:
    """A logger whose every line carries ``fields`` (request id, function)."""
    return _InvocationAdapter(logging.getLogger(f"{LOGGER}.app"), fields)


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """Send faaskit's logs as JSON lines to ``stream`` (stderr). Idempotent."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level)
    logger.propagate = False
    for handler in logger.handlers:
        if getattr(handler, "_faaskit", False):
            handler.setLevel(level)
            return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter())
    handler._faaskit = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
