"""An app's secrets from AWS Secrets Manager, read once when a Lambda environment starts.

``FAASKIT_SECRETS_ARN`` names one secret (its ARN or name) whose value is a JSON object::

    {"database-url": "postgresql://shop:...@db.example:5432/shop",
     "jwt-signing-key": "3f9a..."}

:func:`load_environment_secrets` reads it and puts each entry where faaskit looks for it:
``database-url`` becomes ``FAASKIT_DATABASE_URL`` (read by :meth:`Settings.load`), any
other name ``FAASKIT_SECRET_<NAME>`` (read by :class:`faaskit.secrets.Secrets`, so
``jwt-signing-key`` is the key every environment signs and verifies tokens with). A
variable already set in the environment is kept, so a local run can override one.

This is better than a CloudFormation dynamic reference (``{{resolve:secretsmanager:...}}``)
in the function's environment, which would write the value into the function's
configuration for anyone who may read that. boto3 is imported only when the variable is
set (install ``faaskit[aws]``); the Lambda role needs ``secretsmanager:GetSecretValue`` on
that one secret. Every value it reads is registered with the redactor (the database URL's
password on its own too), so none shows in a log line or a stored error.

For secrets read on demand and re-read after a rotation, name the provider instead:
``FAASKIT_SECRETS=env,aws-secretsmanager:shop/prod/`` (or ``aws-ssm:/shop/prod``), see
:mod:`faaskit.secrets.aws`. This bundle stays the way to pass the database URL, which is
needed before the secrets are.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, MutableMapping
from typing import Any

from faaskit.errors import ConfigurationError
from faaskit.secrets import Secrets

__all__ = ["DATABASE_URL_KEY", "SECRETS_ARN_VARIABLE", "load_environment_secrets", "read_secret"]

logger = logging.getLogger("faaskit.adapters.aws")

SECRETS_ARN_VARIABLE = "FAASKIT_SECRETS_ARN"
DATABASE_URL_KEY = "database-url"


def load_environment_secrets(
    environ: MutableMapping[str, str] | None = None, *, client: Any = None
) -> list[str]:
    """Read the secret ``FAASKIT_SECRETS_ARN`` names into ``environ`` (``os.environ``);
    the variables it set (none when the variable is unset). Raises ConfigurationError,
    naming the secret but never a value, when it cannot be read or is not a JSON object
    of strings."""
    environ = os.environ if environ is None else environ
    secret_id = environ.get(SECRETS_ARN_VARIABLE, "").strip()
    if not secret_id:
        return []
    values = read_secret(secret_id, client=client)
    _hide(values)
    written = []
    for name, value in values.items():
        variable = "FAASKIT_DATABASE_URL" if name == DATABASE_URL_KEY else Secrets.env_name(name)
        if environ.get(variable):
            continue  # set explicitly: that one wins
        environ[variable] = value
        written.append(variable)
    logger.info("read %d secrets from %s", len(values), secret_id)
    return written


def _hide(values: Mapping[str, str]) -> None:
    from urllib.parse import urlsplit

    from faaskit.secrets.redaction import register

    for name, value in values.items():
        register(value)
        if name == DATABASE_URL_KEY:
            try:
                password = urlsplit(value).password
            except ValueError:  # not a URL: Settings will say so
                password = None
            if password:
                register(password)


def read_secret(secret_id: str, *, client: Any = None) -> dict[str, str]:
    """The JSON object stored in the secret ``secret_id`` (an ARN or a name)."""
    if client is None:
        import boto3

        client = boto3.session.Session().client("secretsmanager")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        answer = client.get_secret_value(SecretId=secret_id)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "error")
        raise ConfigurationError(
            f"cannot read secret {secret_id} ({SECRETS_ARN_VARIABLE}): {code}"
        ) from error
    except BotoCoreError as error:
        raise ConfigurationError(
            f"cannot read secret {secret_id} ({SECRETS_ARN_VARIABLE}): {error}"
        ) from error
    return _entries(secret_id, answer.get("SecretString"))


def _entries(secret_id: str, text: Any) -> dict[str, str]:
    where = f"secret {secret_id} ({SECRETS_ARN_VARIABLE})"
    if not isinstance(text, str):
        raise ConfigurationError(f"{where} has no text value: store a JSON object")
    try:
        values = json.loads(text)
    except ValueError:
        # the message of a JSON error quotes the text: it must not reach a log
        raise ConfigurationError(f"{where} is not JSON: store a JSON object") from None
    if not isinstance(values, Mapping):
        raise ConfigurationError(f"{where} is not a JSON object of names and values")
    wrong = sorted(str(name) for name, value in values.items() if not isinstance(value, str))
    if wrong:
        raise ConfigurationError(f"{where}: the value of {', '.join(wrong)} is not a string")
    return dict(values)
