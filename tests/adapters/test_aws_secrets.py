"""faaskit.adapters.aws_secrets against Secrets Manager on moto (server mode): one JSON
secret becomes the database URL and the app's secrets, read when the handler starts."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from faaskit.adapters.aws import lambda_handler
from faaskit.adapters.aws_secrets import load_environment_secrets, read_secret
from faaskit.app import App
from faaskit.errors import ConfigurationError

KEY = "q" * 40


@pytest.fixture
def secrets_client(aws_env: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", aws_env)
    return boto3.session.Session().client("secretsmanager")


def new_secret(client: Any, value: str) -> str:
    arn: str = client.create_secret(Name=f"faaskit-{uuid.uuid4().hex[:8]}", SecretString=value)[
        "ARN"
    ]
    return arn


def test_entries_become_the_database_url_and_app_secrets(secrets_client: Any) -> None:
    arn = new_secret(
        secrets_client,
        json.dumps({"database-url": "postgresql://db/shop", "jwt-signing-key": KEY, "x.y": "z"}),
    )
    environ = {"FAASKIT_SECRETS_ARN": arn}

    written = load_environment_secrets(environ)

    assert environ["FAASKIT_DATABASE_URL"] == "postgresql://db/shop"
    assert environ["FAASKIT_SECRET_JWT_SIGNING_KEY"] == KEY
    assert environ["FAASKIT_SECRET_X_Y"] == "z"
    assert sorted(written) == [
        "FAASKIT_DATABASE_URL",
        "FAASKIT_SECRET_JWT_SIGNING_KEY",
        "FAASKIT_SECRET_X_Y",
    ]


def test_a_variable_already_set_is_kept(secrets_client: Any) -> None:
    arn = new_secret(secrets_client, json.dumps({"database-url": "postgresql://db/shop"}))
    environ = {"FAASKIT_SECRETS_ARN": arn, "FAASKIT_DATABASE_URL": "sqlite:///local.db"}

    written = load_environment_secrets(environ)

    assert written == [] and environ["FAASKIT_DATABASE_URL"] == "sqlite:///local.db"


def test_without_the_variable_nothing_is_read() -> None:
    class Refusing:
        def get_secret_value(self, **_: Any) -> Any:
            raise AssertionError("no secret should be read")

    assert load_environment_secrets({}, client=Refusing()) == []


def test_a_missing_secret_names_itself_and_the_error(secrets_client: Any) -> None:
    with pytest.raises(ConfigurationError) as raised:
        read_secret("arn:aws:secretsmanager:us-east-1:123456789012:secret:gone-AbCdEf")

    assert "gone-AbCdEf" in raised.value.detail
    assert "ResourceNotFoundException" in raised.value.detail


@pytest.mark.parametrize(
    ("value", "complaint"),
    [
        ("password=hunter2-not-json", "is not JSON"),
        (json.dumps(["hunter2"]), "is not a JSON object"),
        (json.dumps({"database-url": 42, "jwt-signing-key": KEY}), "database-url is not a string"),
    ],
)
def test_a_malformed_secret_is_refused_without_showing_it(
    secrets_client: Any, value: str, complaint: str
) -> None:
    arn = new_secret(secrets_client, value)

    with pytest.raises(ConfigurationError) as raised:
        read_secret(arn)

    assert complaint in raised.value.detail
    assert "hunter2" not in raised.value.detail and KEY not in raised.value.detail


def test_the_handler_starts_with_the_secrets_database_and_key(
    secrets_client: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    database = tmp_path / "from-secret.db"
    arn = new_secret(
        secrets_client,
        json.dumps({"database-url": f"sqlite:///{database}", "jwt-signing-key": KEY}),
    )
    monkeypatch.setenv("FAASKIT_SECRETS_ARN", arn)
    monkeypatch.setenv("FAASKIT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FAASKIT_ENV", "production")  # no key generated in its place
    for name in ("FAASKIT_DATABASE_URL", "FAASKIT_SECRET_JWT_SIGNING_KEY"):
        # empty counts as unset; setenv (unlike delenv of an absent name) restores it after
        monkeypatch.setenv(name, "")
    handler = lambda_handler(App("secretive"))

    try:
        handler.start()
        url = handler.runtime.settings.database_url
        key = handler.runtime.tokens.key
    finally:
        handler.close()

    assert url == f"sqlite:///{database}" and database.is_file()
    assert key == KEY.encode()


def test_importing_the_adapter_does_not_load_boto3(tmp_path: Path) -> None:
    from tests.unit.test_import_hygiene import loaded_after

    modules = loaded_after("import faaskit.adapters.aws", tmp_path)

    assert "faaskit.adapters.aws_secrets" in modules
    assert not {"boto3", "botocore"} & modules
