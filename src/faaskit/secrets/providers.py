"""Where secrets come from. A provider is any object with ``get(name) -> str | None``
(None: it does not have that name); it may also say where it looks (``describe(name)``,
used in the message of a missing secret) and whether reading it is cheap (``local =
True``: read on every lookup, never cached). The built-in local ones are here; AWS's
are in :mod:`faaskit.secrets.aws`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from faaskit.secrets.dotenv import parse_dotenv

__all__ = [
    "ENV_PREFIX",
    "DirectoryProvider",
    "DotenvProvider",
    "EnvironmentProvider",
    "SecretProvider",
    "describe",
    "env_name",
]

ENV_PREFIX = "FAASKIT_SECRET_"


class SecretProvider(Protocol):
    """Answers a secret's value by name, or None when it has no such secret. Raise
    :class:`faaskit.secrets.SecretProviderError` when it cannot tell (denied,
    unreachable), so that the chain does not fall through to a weaker source."""

    def get(self, name: str) -> str | None: ...


def describe(provider: object, name: str) -> str:
    """Where ``provider`` looked for ``name`` (its class name if it does not say)."""
    describer = getattr(provider, "describe", None)
    return describer(name) if callable(describer) else f"{type(provider).__name__}"


def env_name(name: str, prefix: str = ENV_PREFIX) -> str:
    """``jwt-signing-key`` → ``FAASKIT_SECRET_JWT_SIGNING_KEY`` (``-``, ``.``, ``/`` → ``_``)."""
    return prefix + name.upper().replace("-", "_").replace(".", "_").replace("/", "_")


class EnvironmentProvider:
    """``FAASKIT_SECRET_<NAME>`` (another ``prefix`` if given); an empty value is unset."""

    local = True

    def __init__(self, prefix: str = ENV_PREFIX, environ: Mapping[str, str] | None = None):
        self.prefix = prefix
        self.environ = os.environ if environ is None else environ

    def get(self, name: str) -> str | None:
        return self.environ.get(env_name(name, self.prefix)) or None

    def describe(self, name: str) -> str:
        return f"the environment variable {env_name(name, self.prefix)}"


class DirectoryProvider:
    """One file per secret, ``<directory>/<name>``, its text stripped (``.faaskit/secrets``
    by default). A name that would leave the directory (absolute, ``..``) is not there."""

    local = True

    def __init__(self, directory: Path | str) -> None:
        self.directory = Path(directory)

    def path(self, name: str) -> Path | None:
        relative = Path(name)
        if relative.is_absolute() or ".." in relative.parts or "\0" in name:
            return None
        return self.directory / relative

    def get(self, name: str) -> str | None:
        path = self.path(name)
        if path is None:
            return None
        try:
            return path.read_text().strip() or None
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def describe(self, name: str) -> str:
        return f"the file {self.path(name) or self.directory / '<invalid name>'}"


class DotenvProvider:
    """A ``.env`` file holding the same variables as the environment would
    (``FAASKIT_SECRET_STRIPE=sk_...``), so moving a secret between the two changes
    nothing else. Re-read when the file changes; a missing file has no secrets."""

    local = True

    def __init__(self, path: Path | str = ".env", prefix: str = ENV_PREFIX) -> None:
        self.path = Path(path)
        self.prefix = prefix
        self._seen: tuple[int, int] | None = None
        self._values: dict[str, str] = {}

    def _load(self) -> dict[str, str]:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self._seen, self._values = None, {}
            return self._values
        seen = (stat.st_mtime_ns, stat.st_size)
        if seen != self._seen:
            self._values = parse_dotenv(self.path.read_text(), self.path)
            self._seen = seen
        return self._values

    def get(self, name: str) -> str | None:
        return self._load().get(env_name(name, self.prefix)) or None

    def describe(self, name: str) -> str:
        return f"{env_name(name, self.prefix)} in {self.path}"
