"""How commands print: rich tables for people, one JSON document for scripts (``--json``).

JSON names are the same in every command: ``id``/``name`` as the objects call them, epoch
seconds in ``*_at`` with ISO 8601 text (UTC, milliseconds) beside each in ``*_iso``
(``at`` → ``iso``), lists as arrays."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    from faaskit.store.protocol import Message

__all__ = ["console", "message_record", "print_json", "short", "stamp", "when", "with_iso"]


def console(*, soft_wrap: bool = True) -> Console:
    """A console on stdout; by default it never wraps a long line of text."""
    from rich.console import Console

    return Console(soft_wrap=soft_wrap)


def print_json(document: Any) -> None:
    """``document`` as one indented JSON document on stdout."""
    import orjson

    sys.stdout.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n")


def with_iso(record: dict[str, Any], *keys: str) -> dict[str, Any]:
    """``record`` with ISO text beside each epoch field: ``died_at`` → ``died_iso``."""
    from faaskit.sagas.queries import iso

    for key in keys:
        record["iso" if key == "at" else key.removesuffix("_at") + "_iso"] = iso(record.get(key))
    return record


def message_record(message: Message) -> dict[str, Any]:
    """A published message for ``--json``."""
    record = {
        "id": message.id,
        "topic": message.topic,
        "key": message.key,
        "data": message.data,
        "headers": message.headers,
        "correlation_id": message.correlation_id,
        "causation_id": message.causation_id,
        "published_at": message.published_at,
        "expires_at": message.expires_at,
    }
    return with_iso(record, "published_at", "expires_at")


def stamp(epoch: float) -> str:
    """``2026-01-31 12:00:00`` (UTC, to the second), for tables and ``events tail``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


def when(epoch: float | None) -> str:
    """``2026-01-31 12:00:00.123`` (UTC), or empty for None."""
    from faaskit.sagas.queries import iso

    text = iso(epoch)
    return "" if text is None else text.replace("T", " ").removesuffix("+00:00")


def short(value: Any, width: int = 60) -> str:
    """``value`` (text, or else its JSON) cut to ``width`` characters with an ellipsis."""
    if value is None:
        return ""
    import orjson

    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    return text if len(text) <= width else text[: width - 1] + "…"
