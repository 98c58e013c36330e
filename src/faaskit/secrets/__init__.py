"""Secrets of an app, looked up by name through a chain of providers.

By default the environment first, then a file under the data dir:
``FAASKIT_SECRET_JWT_SIGNING_KEY`` or ``.faaskit/secrets/jwt-signing-key`` both answer
``secrets.get("jwt-signing-key")``. ``FAASKIT_SECRETS`` chooses another chain (a ``.env``
file, AWS Secrets Manager, SSM Parameter Store, a provider of your own; see
:mod:`faaskit.secrets.configuration`) and ``FAASKIT_SECRETS_TTL`` how long remote values
are kept (300 s). Files are created owner-only (0600).

Every value read is registered with :mod:`faaskit.secrets.redaction`, which hides it
from faaskit's logs, problem responses and stored errors.
"""

from faaskit.secrets.configuration import register_provider
from faaskit.secrets.errors import SecretFormatError, SecretNotFoundError, SecretProviderError
from faaskit.secrets.lookup import DEFAULT_TTL, Secrets
from faaskit.secrets.providers import (
    DirectoryProvider,
    DotenvProvider,
    EnvironmentProvider,
    SecretProvider,
)
from faaskit.secrets.redaction import redact

__all__ = [
    "DEFAULT_TTL",
    "DirectoryProvider",
    "DotenvProvider",
    "EnvironmentProvider",
    "SecretFormatError",
    "SecretNotFoundError",
    "SecretProvider",
    "SecretProviderError",
    "Secrets",
    "redact",
    "register_provider",
]
