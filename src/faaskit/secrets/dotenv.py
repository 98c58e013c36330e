"""A small ``.env`` parser: ``KEY=VALUE`` lines, ``export`` prefixes, ``#`` comments,
single quotes (literal) and double quotes (``\\n``, ``\\t``, ``\\"``, ``\\\\`` escapes;
both may span lines, for a PEM key). No variable expansion. A malformed line is a
ConfigurationError naming the file and the line number, never the line: it may hold a
value."""

from __future__ import annotations

from pathlib import Path

from faaskit.errors import ConfigurationError

__all__ = ["parse_dotenv"]

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "$": "$"}


def parse_dotenv(text: str, source: Path | str = ".env") -> dict[str, str]:
    """The variables ``text`` sets (a later line wins over an earlier one)."""
    values: dict[str, str] = {}
    position, line = 0, 1
    length = len(text)
    while position < length:
        end = text.find("\n", position)
        end = length if end < 0 else end
        stripped = text[position:end].strip()
        if not stripped or stripped.startswith("#"):
            position, line = end + 1, line + 1
            continue
        start_line = line
        if stripped.startswith("export ") or stripped.startswith("export\t"):
            stripped = stripped[7:].lstrip()
        key, equals, rest = stripped.partition("=")
        key = key.strip()
        if not equals or not _is_key(key):
            raise ConfigurationError(f"{source}, line {start_line}: expected KEY=VALUE")
        rest = rest.lstrip()
        if rest[:1] in ("'", '"'):
            # the value starts in this line and may run on: parse from the text itself
            offset = text.index("=", position) + 1
            offset = text.index(rest[0], offset)
            value, after = _quoted(text, offset, source, start_line)
            tail_end = text.find("\n", after)
            tail_end = length if tail_end < 0 else tail_end
            tail = text[after:tail_end].strip()
            if tail and not tail.startswith("#"):
                raise ConfigurationError(
                    f"{source}, line {start_line}: text after the closing quote"
                )
            line += text.count("\n", position, tail_end) + 1
            position = tail_end + 1
        else:
            comment = _comment_start(rest)
            value = (rest if comment < 0 else rest[:comment]).strip()
            position, line = end + 1, line + 1
        values[key] = value
    return values


def _is_key(key: str) -> bool:
    if not key or not (key[0].isalpha() or key[0] == "_"):
        return False
    return all(char.isalnum() or char in "_.-" for char in key) and key.isascii()


def _comment_start(value: str) -> int:
    """Where an inline comment starts: a ``#`` after whitespace (``a#b`` is a value)."""
    for index, char in enumerate(value):
        if char == "#" and (index == 0 or value[index - 1] in " \t"):
            return index
    return -1


def _quoted(text: str, start: int, source: Path | str, line: int) -> tuple[str, int]:
    """The quoted value opening at ``start``, and the index after its closing quote."""
    quote = text[start]
    index = start + 1
    if quote == "'":
        close = text.find("'", index)
        if close < 0:
            raise ConfigurationError(f"{source}, line {line}: unterminated quote")
        return text[index:close], close + 1
    parts: list[str] = []
    while index < len(text):
        char = text[index]
        if char == '"':
            return "".join(parts), index + 1
        if char == "\\" and index + 1 < len(text):
            following = text[index + 1]
            parts.append(_ESCAPES.get(following, "\\" + following))
            index += 2
            continue
        parts.append(char)
        index += 1
    raise ConfigurationError(f"{source}, line {line}: unterminated quote")
