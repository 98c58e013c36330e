"""Secrets from AWS: Secrets Manager and SSM Parameter Store (boto3, imported on the
first lookup, never with ``import faaskit``; install ``faaskit[aws]``).

A name maps to an AWS id through a prefix: with ``aws-secretsmanager:shop/prod/``,
``secrets["stripe"]`` reads the secret ``shop/prod/stripe`` (its current version); with
``aws-ssm:/shop/prod``, the parameter ``/shop/prod/stripe``, decrypted (a SecureString).
boto3 finds credentials, region and endpoint the usual way (``AWS_REGION``,
``AWS_ENDPOINT_URL_SECRETS_MANAGER`` / ``AWS_ENDPOINT_URL_SSM``). The role needs
``secretsmanager:GetSecretValue`` or ``ssm:GetParameter`` (and ``kms:Decrypt``).
"""

from __future__ import annotations

import threading
from typing import Any

from faaskit.secrets.errors import SecretProviderError

__all__ = ["ParameterStoreProvider", "SecretsManagerProvider"]


class _Client:
    """A boto3 client made once, on first use (clients are thread-safe; making one is not)."""

    def __init__(self, service: str, client: Any) -> None:
        self.service = service
        self._client = client
        self._lock = threading.Lock()

    def get(self) -> Any:
        if self._client is None:
            with self._lock:
                if self._client is None:
                    import boto3

                    self._client = boto3.session.Session().client(self.service)
        return self._client


def _code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", "error"))
    return type(error).__name__


class SecretsManagerProvider:
    """``prefix + name`` in Secrets Manager: its SecretString (a SecretBinary as UTF-8)."""

    def __init__(self, prefix: str = "", *, client: Any = None) -> None:
        self.prefix = prefix
        self._client = _Client("secretsmanager", client)

    def secret_id(self, name: str) -> str:
        return self.prefix + name

    def get(self, name: str) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        secret_id = self.secret_id(name)
        try:
            answer = self._client.get().get_secret_value(SecretId=secret_id)
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return None
            raise SecretProviderError(name, self.describe(name), _code(error)) from error
        except BotoCoreError as error:
            raise SecretProviderError(name, self.describe(name), type(error).__name__) from error
        text = answer.get("SecretString")
        if text is None and answer.get("SecretBinary") is not None:
            try:
                text = bytes(answer["SecretBinary"]).decode()
            except UnicodeDecodeError:
                raise SecretProviderError(
                    name, self.describe(name), "its binary value is not UTF-8 text"
                ) from None
        return text if isinstance(text, str) else None

    def describe(self, name: str) -> str:
        return f"the AWS Secrets Manager secret {self.secret_id(name)!r}"


class ParameterStoreProvider:
    """``path/name`` in SSM Parameter Store, decrypted (String and SecureString alike)."""

    def __init__(self, path: str = "", *, client: Any = None) -> None:
        self.path = path if not path or path.endswith("/") else path + "/"
        self._client = _Client("ssm", client)

    def parameter(self, name: str) -> str:
        return self.path + name

    def get(self, name: str) -> str | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._client.get().get_parameter(
                Name=self.parameter(name), WithDecryption=True
            )
        except ClientError as error:
            if _code(error) == "ParameterNotFound":
                return None
            raise SecretProviderError(name, self.describe(name), _code(error)) from error
        except BotoCoreError as error:
            raise SecretProviderError(name, self.describe(name), type(error).__name__) from error
        value = answer.get("Parameter", {}).get("Value")
        return value if isinstance(value, str) else None

    def describe(self, name: str) -> str:
        return f"the SSM parameter {self.parameter(name)!r}"
