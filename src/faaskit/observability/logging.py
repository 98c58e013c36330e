"""JSON log lines: one object per line, with the invocation's fields at the top level.

Every line is redacted: a secret value faaskit has read (:mod:`faaskit.secrets.redaction`)
shows as ``***`` in the message, the fields and the traceback."""

from __future__ import annotations

import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from faaskit.errors import ConfigurationError
from faaskit.observability.tracing import current_trace_id
from faaskit.secrets.redaction import redactor

__all__ = ["JSONFormatter", "RedactingFilter", "configure_logging", "invocation_logger"]

LOGGER = "faaskit"
LEVELS_VARIABLE = "FAASKIT_LOG_LEVELS"
_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


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
        trace_id = current_trace_id()  # inside a traced invocation: its trace
        if trace_id is not None:
            line["trace_id"] = trace_id
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


def invocation_logger(function: str, **fields: Any) -> logging.LoggerAdapter[logging.Logger]:
    """A logger whose every line carries ``function`` and ``fields`` (request id,
    correlation id, trigger); its level is the function's (``FAASKIT_LOG_LEVELS``)."""
    return _InvocationAdapter(
        logging.getLogger(f"{LOGGER}.app.{function}"), {"function": function, **fields}
    )


def invocations_logger(function: str) -> logging.Logger:
    """Where the runtime writes one DEBUG line per invocation of ``function`` (its
    outcome and duration): shown when the function's level is DEBUG."""
    return logging.getLogger(f"{LOGGER}.invocations.{function}")


def function_levels(text: str | None) -> dict[str, str]:
    """``FAASKIT_LOG_LEVELS`` (``send_welcome=DEBUG,place_order=WARNING``) as a dict;
    ConfigurationError for an entry that is not FUNCTION=LEVEL."""
    levels: dict[str, str] = {}
    for item in (text or "").replace(";", ",").split(","):
        if not item.strip():
            continue
        function, _, level = item.strip().rpartition("=")
        level = level.strip().upper()
        if not function.strip() or level not in _LEVELS:
            raise ConfigurationError(
                f"{LEVELS_VARIABLE}: {item.strip()!r} is not FUNCTION=LEVEL "
                f"(LEVEL one of {', '.join(_LEVELS)})"
            )
        levels[function.strip()] = level
    return levels


def configure_logging(level: str = "INFO", stream: Any = None) -> None:
    """Send faaskit's logs as JSON lines to ``stream`` (stderr), at ``level`` and, per
    function, at the level ``FAASKIT_LOG_LEVELS`` gives it. Idempotent."""
    logger = logging.getLogger(LOGGER)
    logger.setLevel(level)
    logger.propagate = False
    for function, function_level in function_levels(os.environ.get(LEVELS_VARIABLE)).items():
        logging.getLogger(f"{LOGGER}.app.{function}").setLevel(function_level)
        logging.getLogger(f"{LOGGER}.invocations.{function}").setLevel(function_level)
    for handler in logger.handlers:
        if getattr(handler, "_faaskit", False):
            handler.setLevel(logging.NOTSET)  # the loggers' levels decide, per function
            return
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JSONFormatter())
    handler._faaskit = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
