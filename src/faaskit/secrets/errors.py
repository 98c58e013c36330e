"""What can go wrong reading a secret. No message ever carries a secret's value.

ConfigurationError
├── SecretNotFoundError   (also a KeyError: ``ctx.secrets["stripe"]``)
├── SecretProviderError   (a provider could not answer: denied, unreachable)
└── SecretFormatError     (``secrets.json(name)`` on a value that is not a JSON object)
"""

from __future__ import annotations

from faaskit.errors import ConfigurationError

__all__ = ["SecretFormatError", "SecretNotFoundError", "SecretProviderError"]


class SecretNotFoundError(KeyError, ConfigurationError):
    """No provider of the chain has the secret; ``looked_in`` says where each looked."""

    def __init__(self, name: str, looked_in: list[str]) -> None:
        ConfigurationError.__init__(
            self, f"secret {name!r} is not set; looked in: {'; '.join(looked_in) or 'nothing'}"
        )
        self.name = name
        self.looked_in = looked_in

    def __str__(self) -> str:  # KeyError's would quote the whole sentence
        return self.detail


class SecretProviderError(ConfigurationError):
    """A provider failed to answer for ``name`` (not a plain "absent")."""

    def __init__(self, name: str, provider: str, reason: str) -> None:
        super().__init__(f"cannot read secret {name!r} from {provider}: {reason}")
        self.name = name
        self.provider = provider


class SecretFormatError(ConfigurationError):
    """The secret's value is not what the caller asked for (a JSON object)."""
