"""The secrets of an app: a chain of providers, remote answers kept for a TTL, every value
read registered with the redactor."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from faaskit.errors import ConfigurationError
from faaskit.secrets.errors import SecretFormatError, SecretNotFoundError, SecretProviderError
from faaskit.secrets.providers import (
    DirectoryProvider,
    EnvironmentProvider,
    SecretProvider,
    describe,
    env_name,
)
from faaskit.secrets.redaction import redactor

if TYPE_CHECKING:
    from faaskit.config import Settings

__all__ = ["DEFAULT_TTL", "Secrets"]

logger = logging.getLogger("faaskit.secrets")

DEFAULT_TTL = 300.0
STALE_RETRY = 30.0
"""After a failed re-read, how soon (at most) to try again while serving the old value."""


class _Cached:
    """A provider's answers (values and absences) kept ``ttl`` seconds. When a re-read
    fails, the value read before is served a while longer (a Secrets Manager hiccup must
    not fail every request); a first read that fails raises."""

    def __init__(self, provider: SecretProvider, ttl: float, clock: Callable[[], float]):
        self.provider = provider
        self.ttl = ttl
        self.clock = clock
        self.entries: dict[str, tuple[str | None, float]] = {}

    def get(self, name: str) -> str | None:
        now = self.clock()
        entry = self.entries.get(name)
        if entry is not None and now < entry[1]:
            return entry[0]
        try:
            value = _ask(self.provider, name)
        except SecretProviderError as error:
            if entry is None or entry[0] is None:
                raise
            logger.warning("%s; the value read before is kept for now", error.detail)
            self.entries[name] = (entry[0], now + min(self.ttl, STALE_RETRY))
            return entry[0]
        self.entries[name] = (value, now + self.ttl)
        return value


def _ask(provider: SecretProvider, name: str) -> str | None:
    try:
        return provider.get(name)
    except SecretProviderError:
        raise
    except Exception as error:  # a custom provider's own error: named, never its text
        raise SecretProviderError(name, describe(provider, name), type(error).__name__) from error


class Secrets:
    """Secrets by name, from a chain of providers: the first that has the name wins.

    ``Secrets(directory)`` is the default chain, the environment (``FAASKIT_SECRET_<NAME>``)
    then a file per secret under ``directory``; ``Secrets.from_settings`` builds the chain
    ``FAASKIT_SECRETS`` names (:mod:`faaskit.secrets.configuration`). Answers of remote
    providers (AWS, custom ones) are kept ``ttl`` seconds and read again after it, so a
    rotated secret is seen within ``ttl`` (0: read on every lookup); local ones (the
    environment, files) are read on every lookup. ``clock`` (monotonic seconds) is for
    tests::

        key = ctx.secrets["stripe"]                  # SecretNotFoundError (a KeyError)
        url = ctx.secrets.get("webhook-url", None)   # or the default
        db = ctx.secrets.json("shop/db")             # a JSON object as a dict

    Values are always text: ``json(name)`` parses one when the caller wants a dict, so a
    value that happens to look like JSON is never a surprise. Every value read is hidden
    from faaskit's logs and stored errors (:mod:`faaskit.secrets.redaction`).
    """

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        providers: Sequence[SecretProvider] | None = None,
        ttl: float = DEFAULT_TTL,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if ttl < 0:
            raise ConfigurationError(f"secrets TTL {ttl!r}: use 0 or more seconds")
        if providers is None:
            if directory is None:
                raise ConfigurationError("Secrets needs a directory or providers")
            providers = [EnvironmentProvider(), DirectoryProvider(directory)]
        self.directory = None if directory is None else Path(directory)
        """Where :meth:`create` writes (None: it cannot)."""
        self.providers: tuple[SecretProvider, ...] = tuple(providers)
        self.ttl = ttl
        self._clock = clock or time.monotonic
        self._chain = tuple(self._wrap(provider) for provider in self.providers)
        self._created: dict[str, str] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Callable[[], float] | None = None
    ) -> Secrets:
        """The chain ``settings.secrets`` names, writing new secrets to ``secrets_dir``."""
        from faaskit.secrets.configuration import build_chain

        providers = build_chain(settings.secrets, settings.secrets_dir)
        return cls(settings.secrets_dir, providers=providers, ttl=settings.secrets_ttl, clock=clock)

    def _wrap(self, provider: SecretProvider) -> SecretProvider:
        if self.ttl == 0 or getattr(provider, "local", False):
            return provider
        return _Cached(provider, self.ttl, self._clock)

    env_name = staticmethod(env_name)
    """``jwt-signing-key`` → ``FAASKIT_SECRET_JWT_SIGNING_KEY``."""

    def _lookup(self, name: str) -> tuple[str | None, SecretProvider | None]:
        if not isinstance(name, str) or not name:
            raise ConfigurationError(f"a secret name must be a non-empty string, not {name!r}")
        for link, provider in zip(self._chain, self.providers, strict=True):
            value = _ask(link, name) if link is provider else link.get(name)
            if value is not None:
                _remember(value)
                return value, provider
        return self._created.get(name), None

    def get(self, name: str, default: str | None = None) -> str | None:
        """The secret's value, or ``default`` when no provider has it."""
        value = self._lookup(name)[0]
        return default if value is None else value

    def __getitem__(self, name: str) -> str:
        """The secret's value; SecretNotFoundError (a KeyError and a ConfigurationError)
        naming it and where each provider looked when none has it."""
        value = self._lookup(name)[0]
        if value is None:
            raise SecretNotFoundError(name, self.looked_in(name))
        return value

    def require(self, name: str) -> str:
        """``secrets[name]``."""
        return self[name]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._lookup(name)[0] is not None

    def looked_in(self, name: str) -> list[str]:
        """Where the chain looks for ``name``, in order (for messages)."""
        return [describe(provider, name) for provider in self.providers]

    def json(self, name: str) -> dict[str, Any]:
        """The secret, a JSON object, as a dict (an AWS Secrets Manager key/value secret);
        SecretFormatError when it is not one (its text never quoted)."""
        value, provider = self._lookup(name)
        if value is None:
            raise SecretNotFoundError(name, self.looked_in(name))
        where = f"secret {name!r}" + ("" if provider is None else f" ({describe(provider, name)})")
        import json

        try:
            parsed = json.loads(value)
        except ValueError:
            # a JSONDecodeError quotes the text: never let it reach a message
            raise SecretFormatError(f"{where} is not JSON: store a JSON object") from None
        if not isinstance(parsed, dict):
            raise SecretFormatError(f"{where} is not a JSON object")
        return parsed

    def create(self, name: str, value: str) -> str:
        """Store a new secret file (owner-only) under ``directory``; if another process
        won the race, use theirs. For development defaults (the JWT key, a webhook key).

        The value is written to a private file first and then linked into place, so no
        process ever reads the name while it is still empty."""
        if self.directory is None:
            raise ConfigurationError(f"cannot create secret {name!r}: no secrets directory")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / name
        draft = self.directory / f".{name}.{os.getpid()}.{os.urandom(8).hex()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as file:
                file.write(value + "\n")
            os.link(draft, path)
        except FileExistsError:
            value = path.read_text().strip()
        finally:
            draft.unlink(missing_ok=True)
        _remember(value)
        if not self._reads(self.directory):
            self._created[name] = value  # a chain without this directory still finds it
        return value

    def _reads(self, directory: Path) -> bool:
        return any(
            isinstance(provider, DirectoryProvider) and provider.directory == directory
            for provider in self.providers
        )

    def refresh(self, name: str | None = None) -> None:
        """Forget what was kept (of ``name``, or of every secret): the next lookup reads
        the providers again."""
        for link in self._chain:
            if isinstance(link, _Cached):
                if name is None:
                    link.entries.clear()
                else:
                    link.entries.pop(name, None)

    def __repr__(self) -> str:  # never a value
        kinds = ", ".join(type(provider).__name__ for provider in self.providers)
        return f"Secrets([{kinds}], ttl={self.ttl:g})"


def _remember(value: str) -> None:
    """Register ``value`` with the redactor, and each text inside it when it is a JSON
    object (a password inside a Secrets Manager secret must be hidden on its own)."""
    if value in redactor._known:
        return
    redactor.add(value)
    if value.lstrip().startswith("{"):
        import json

        try:
            parsed = json.loads(value)
        except ValueError:
            return
        for text in _texts(parsed):
            redactor.add(text)


def _texts(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
