"""Database URLs as they may be shown: in errors, logs and banners, never the password.

A URL's password is the one secret it carries (``postgresql://shop:S3cret@db/shop``); an
error saying which database could not be reached goes to CloudWatch, to a Lambda's init
error, or to a terminal, so it names the database with the password masked.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

__all__ = ["redacted"]

_MASK = "***"
_QUERY_PASSWORD = re.compile(r"(?i)((?:^|[?&;\s])password=)[^&;\s]*")


def redacted(url: str) -> str:
    """``url`` with any password replaced by ``***`` (in the user part, a ``password=``
    query parameter, or a key=value connection string)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = None
    if parts is not None and parts.scheme and "@" in parts.netloc:
        userinfo, _, host = parts.netloc.rpartition("@")
        if ":" in userinfo:
            user = userinfo.split(":", 1)[0]
            parts = parts._replace(netloc=f"{user}:{_MASK}@{host}")
        url = urlunsplit(parts)
    return _QUERY_PASSWORD.sub(lambda match: match.group(1) + _MASK, url)
