"""The AWS secret providers against moto in server mode (the session's server, started by
the tests: no cloud is reachable): Secrets Manager and SSM Parameter Store read through
``FAASKIT_SECRETS``, rotated at the source and seen again after the TTL."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from faaskit import App, Context
from faaskit.config import Settings
from faaskit.secrets import SecretNotFoundError, SecretProviderError, Secrets, redact
from faaskit.testing import AppHarness


class FakeClock:
    def __init__(self) -> None:
        self.seconds = 0.0

    def __call__(self) -> float:
        return self.seconds


@pytest.fixture
def aws(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Any, Any, str]:
    """Secrets Manager and SSM clients on moto, and a fresh name prefix for the test."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", aws_env)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SSM", aws_env)
    session = boto3.session.Session()
    return session.client("secretsmanager"), session.client("ssm"), uuid.uuid4().hex[:10]


def chain(prefix: str, tmp_path: Path, clock: FakeClock, ttl: float = 60) -> Secrets:
    settings = Settings.load(
        data_dir=tmp_path,
        secrets=f"env,aws-secretsmanager:shop/{prefix}/,aws-ssm:/shop/{prefix}",
        secrets_ttl=ttl,
    )
    return Secrets.from_settings(settings, clock=clock)


def test_secrets_manager_and_ssm_values_rotate_after_the_ttl(
    aws: tuple[Any, Any, str], tmp_path: Path
) -> None:
    manager, ssm, prefix = aws
    manager.create_secret(Name=f"shop/{prefix}/stripe", SecretString="sk_stripe_version_1")
    ssm.put_parameter(
        Name=f"/shop/{prefix}/mail-key", Value="mail_key_version_1", Type="SecureString"
    )
    clock = FakeClock()
    secrets = chain(prefix, tmp_path, clock)

    assert secrets["stripe"] == "sk_stripe_version_1"
    assert secrets["mail-key"] == "mail_key_version_1"  # decrypted

    manager.put_secret_value(SecretId=f"shop/{prefix}/stripe", SecretString="sk_stripe_version_2")
    ssm.put_parameter(
        Name=f"/shop/{prefix}/mail-key",
        Value="mail_key_version_2",
        Type="SecureString",
        Overwrite=True,
    )
    clock.seconds = 59
    assert (secrets["stripe"], secrets["mail-key"]) == ("sk_stripe_version_1", "mail_key_version_1")
    clock.seconds = 61
    assert (secrets["stripe"], secrets["mail-key"]) == ("sk_stripe_version_2", "mail_key_version_2")
    # both versions stay hidden: a rotated-out key is still a key
    assert redact("sk_stripe_version_1 mail_key_version_2") == "*** ***"


def test_a_json_secret_and_a_binary_one(aws: tuple[Any, Any, str], tmp_path: Path) -> None:
    manager, _, prefix = aws
    password = f"pw-{uuid.uuid4().hex}"
    manager.create_secret(
        Name=f"shop/{prefix}/db", SecretString=json.dumps({"user": "shop", "password": password})
    )
    manager.create_secret(Name=f"shop/{prefix}/cert", SecretBinary=b"binary-secret-text")
    secrets = chain(prefix, tmp_path, FakeClock())

    assert secrets.json("db") == {"user": "shop", "password": password}
    assert secrets["cert"] == "binary-secret-text"
    assert redact(f"password {password}") == "password ***"


def test_a_missing_secret_names_each_aws_place(aws: tuple[Any, Any, str], tmp_path: Path) -> None:
    _, _, prefix = aws
    secrets = chain(prefix, tmp_path, FakeClock())

    with pytest.raises(SecretNotFoundError) as raised:
        secrets["stripe"]

    message = str(raised.value)
    assert "FAASKIT_SECRET_STRIPE" in message
    assert f"AWS Secrets Manager secret 'shop/{prefix}/stripe'" in message
    assert f"SSM parameter '/shop/{prefix}/stripe'" in message


def test_a_secret_aws_refuses_to_read_is_an_error_naming_it(
    aws: tuple[Any, Any, str], tmp_path: Path
) -> None:
    manager, _, prefix = aws
    name = f"shop/{prefix}/stripe"
    manager.create_secret(Name=name, SecretString="sk_being_deleted_0123")
    manager.delete_secret(SecretId=name, RecoveryWindowInDays=7)
    secrets = chain(prefix, tmp_path, FakeClock())

    with pytest.raises(SecretProviderError) as raised:
        secrets.get("stripe")

    assert name in raised.value.detail and "InvalidRequestException" in raised.value.detail
    assert "sk_being_deleted" not in raised.value.detail


async def test_a_handler_reads_the_rotated_secret_after_the_ttl(
    aws: tuple[Any, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    manager, _, prefix = aws
    manager.create_secret(Name=f"shop/{prefix}/stripe", SecretString="sk_handler_version_1")
    monkeypatch.setenv("FAASKIT_SECRETS", f"env,aws-secretsmanager:shop/{prefix}/")
    monkeypatch.setenv("FAASKIT_SECRETS_TTL", "300")
    monkeypatch.delenv("FAASKIT_SECRET_STRIPE", raising=False)
    app = App("rotating")

    @app.get("/key")
    async def key(ctx: Context) -> dict[str, str]:
        value = ctx.secrets["stripe"]
        return {"suffix": value[-9:]}

    async with AppHarness(app) as h:  # the runtime's virtual clock times the TTL
        first = (await h.http.get("/key")).json()
        manager.put_secret_value(
            SecretId=f"shop/{prefix}/stripe", SecretString="sk_handler_version_2"
        )
        await h.advance(timedelta(seconds=299))
        before_ttl = (await h.http.get("/key")).json()
        await h.advance(timedelta(seconds=2))
        after_ttl = (await h.http.get("/key")).json()

    assert first == before_ttl == {"suffix": "version_1"}
    assert after_ttl == {"suffix": "version_2"}
