"""JSON log lines: one object per line, with the invocation's fields at the top level.

Every line is redacted: a secret value faaskit has read (:mod:`faaskit.secrets.redaction`)
shows as ``***`` in the message, the fields and the traceback."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from faaskit.secrets.redaction import redactor

__all__ = ["JSONFormatter", "RedactingFilter", "configure_logging", "invocation_logger"]

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
        if not redactor:
            return orjson.dumps(line, default=str).decode()
        # before encoding (a value with a quote or a backslash changes when encoded), then
        # the encoded line too (values nested in fields, rendered by default=str)
        for key, value in line.items():
            if isinstance(value, str):
                line[key] = redactor.redact(value)
        return redactor.redact(orjson.dumps(line, default=str).decode())


class RedactingFilter(logging.Filter):
    """Hides secret values from records that go to handlers of your own (faaskit's
    JSON lines are redacted already)::

        handler.addFilter(RedactingFilter())

    The message is rendered and redacted in place, and a traceback formatted and
    redacted into ``exc_text``."""

    def filter(self, record: logging.LogRecord) -> bool:
        if redactor:
            record.msg, record.args = redactor.redact(record.getMessage()), None
            if record.exc_info:
                # a standard Formatter prints exc_text when it is set
                record.exc_text = redactor.redact(_FORMATTER.formatException(record.exc_info))
        return True


_FORMATTER = logging.Formatter()


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
