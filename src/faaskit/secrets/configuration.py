"""The provider chain from configuration: ``FAASKIT_SECRETS``, a comma-separated list of
``kind`` or ``kind:argument``, tried in order (the first that has a name wins)::

    FAASKIT_SECRETS=env,file,aws-secretsmanager:shop/prod/

============================  ==========================================================
``env[:PREFIX]``              ``FAASKIT_SECRET_<NAME>`` (or ``<PREFIX><NAME>``)
``file[:DIRECTORY]``          one file per secret (default ``.faaskit/secrets``)
``dotenv[:PATH]``             ``FAASKIT_SECRET_<NAME>=...`` lines in a file (``.env``)
``aws-secretsmanager[:PFX]``  the secret ``PFX<name>`` in AWS Secrets Manager
``aws-ssm[:PATH]``            the parameter ``PATH/<name>`` in SSM, decrypted
a registered kind             :func:`register_provider` ``("vault", factory)``
============================  ==========================================================

The default is ``env,file``: what faaskit always did.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from faaskit.errors import ConfigurationError
from faaskit.secrets.providers import (
    ENV_PREFIX,
    DirectoryProvider,
    DotenvProvider,
    EnvironmentProvider,
    SecretProvider,
)

__all__ = ["BUILT_IN", "DEFAULT_CHAIN", "build_chain", "parse_chain", "register_provider"]

DEFAULT_CHAIN = "env,file"
BUILT_IN = frozenset({"env", "file", "dotenv", "aws-secretsmanager", "aws-ssm"})

ProviderFactory = Callable[[str | None], SecretProvider]
_registered: dict[str, ProviderFactory] = {}


def register_provider(kind: str, factory: ProviderFactory) -> None:
    """Make ``kind`` usable in ``FAASKIT_SECRETS``: ``factory(argument)`` (the text after
    ``kind:``, or None) returns the provider. Register before the runtime starts::

        register_provider("vault", lambda path: VaultSecrets(path or "secret/app"))
    """
    if kind in BUILT_IN:
        raise ConfigurationError(f"secret provider kind {kind!r} is built in")
    if not kind or "," in kind or ":" in kind:
        raise ConfigurationError(f"secret provider kind {kind!r}: no commas or colons")
    _registered[kind] = factory


def parse_chain(spec: str) -> list[tuple[str, str | None]]:
    """``"env,aws-ssm:/shop"`` → ``[("env", None), ("aws-ssm", "/shop")]``; the syntax
    only (a kind registered later is still fine)."""
    chain: list[tuple[str, str | None]] = []
    for item in spec.split(","):
        kind, colon, argument = item.strip().partition(":")
        kind = kind.strip().lower()
        if not kind:
            raise ConfigurationError(
                f"FAASKIT_SECRETS={spec!r}: an empty entry; use e.g. env,file,aws-ssm:/app"
            )
        chain.append((kind, argument.strip() if colon else None))
    return chain


def build_chain(spec: str, secrets_dir: Path) -> list[SecretProvider]:
    """The providers ``spec`` names, in order; ConfigurationError for an unknown kind."""
    providers: list[SecretProvider] = []
    for kind, argument in parse_chain(spec):
        providers.append(_provider(kind, argument, secrets_dir))
    return providers


def _provider(kind: str, argument: str | None, secrets_dir: Path) -> SecretProvider:
    if kind == "env":
        return EnvironmentProvider(argument or ENV_PREFIX)
    if kind == "file":
        return DirectoryProvider(Path(argument).absolute() if argument else secrets_dir)
    if kind == "dotenv":
        return DotenvProvider(Path(argument or ".env").absolute())
    if kind == "aws-secretsmanager":
        from faaskit.secrets.aws import SecretsManagerProvider

        return SecretsManagerProvider(argument or "")
    if kind == "aws-ssm":
        from faaskit.secrets.aws import ParameterStoreProvider

        return ParameterStoreProvider(argument or "")
    factory = _registered.get(kind)
    if factory is None:
        known = sorted(BUILT_IN | set(_registered))
        raise ConfigurationError(
            f"FAASKIT_SECRETS: unknown provider {kind!r}; use {', '.join(known)} "
            "or register_provider() it"
        )
    return factory(argument)
