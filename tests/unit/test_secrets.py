"""faaskit.secrets: the provider chain, its configuration, the TTL cache (rotation), JSON
secrets and the missing-secret error — which names the secret and where it was looked
for, never a value."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

import pytest

from faaskit.config import Settings
from faaskit.errors import ConfigurationError
from faaskit.secrets import (
    DirectoryProvider,
    DotenvProvider,
    EnvironmentProvider,
    SecretFormatError,
    SecretNotFoundError,
    SecretProviderError,
    Secrets,
    register_provider,
)
from faaskit.secrets.configuration import build_chain, parse_chain
from faaskit.secrets.dotenv import parse_dotenv

VALUE = "sk_live_" + "7" * 24


class FakeClock:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


class Vault:
    """A remote provider of one's own: counts its reads; ``values`` may change (rotate)."""

    def __init__(self, **values: str) -> None:
        self.values = dict(values)
        self.reads = 0
        self.broken = False

    def get(self, name: str) -> str | None:
        self.reads += 1
        if self.broken:
            raise OSError("vault unreachable")
        return self.values.get(name)

    def describe(self, name: str) -> str:
        return f"the vault path kv/{name}"


# --- backward compatibility: Secrets(directory) --------------------------------------


def test_the_default_chain_is_the_environment_then_a_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = Secrets(tmp_path)
    (tmp_path / "jwt-signing-key").write_text("from-the-file-value\n")
    monkeypatch.delenv("FAASKIT_SECRET_JWT_SIGNING_KEY", raising=False)

    assert secrets.get("jwt-signing-key") == "from-the-file-value"
    monkeypatch.setenv("FAASKIT_SECRET_JWT_SIGNING_KEY", "from-the-environment")
    assert secrets.get("jwt-signing-key") == "from-the-environment"  # local: read at once
    assert secrets.require("jwt-signing-key") == "from-the-environment"
    assert Secrets.env_name("a.b-c") == "FAASKIT_SECRET_A_B_C"


def test_create_writes_an_owner_only_file_and_keeps_the_first(tmp_path: Path) -> None:
    secrets = Secrets(tmp_path / "secrets")

    first = secrets.create("webhook", "first-value-0123")
    second = secrets.create("webhook", "second-value-0123")

    assert first == second == "first-value-0123" == secrets.get("webhook")
    mode = stat.S_IMODE(os.stat(tmp_path / "secrets" / "webhook").st_mode)
    assert mode == 0o600


def test_a_created_secret_is_found_by_a_chain_without_files(tmp_path: Path) -> None:
    secrets = Secrets(tmp_path, providers=[EnvironmentProvider(environ={})])

    secrets.create("webhook", "dev-default-0123")

    assert secrets["webhook"] == "dev-default-0123"


# --- the missing secret ----------------------------------------------------------------


def test_a_missing_secret_names_itself_and_every_place_looked(tmp_path: Path) -> None:
    secrets = Secrets(
        tmp_path,
        providers=[
            EnvironmentProvider(environ={"FAASKIT_SECRET_OTHER": VALUE}),
            DirectoryProvider(tmp_path),
            Vault(other=VALUE),
        ],
    )

    with pytest.raises(SecretNotFoundError) as raised:
        secrets["stripe"]

    message = str(raised.value)
    assert "'stripe'" in message
    assert "FAASKIT_SECRET_STRIPE" in message
    assert str(tmp_path / "stripe") in message
    assert "kv/stripe" in message
    assert VALUE not in message and VALUE not in repr(raised.value)
    # a KeyError for mapping-style code, a ConfigurationError for faaskit's
    assert isinstance(raised.value, KeyError) and isinstance(raised.value, ConfigurationError)
    with pytest.raises(SecretNotFoundError):
        secrets.require("stripe")
    assert secrets.get("stripe") is None
    assert secrets.get("stripe", "fallback") == "fallback"
    assert "stripe" not in secrets and "other" in secrets


def test_a_failing_provider_is_named_and_stops_the_chain(tmp_path: Path) -> None:
    vault = Vault()
    vault.broken = True
    later = Vault(stripe="a-weaker-source-value")
    secrets = Secrets(tmp_path, providers=[vault, later])

    with pytest.raises(SecretProviderError) as raised:
        secrets.get("stripe")

    assert "'stripe'" in raised.value.detail and "kv/stripe" in raised.value.detail
    assert "OSError" in raised.value.detail
    assert later.reads == 0  # never fall through to another source on an error


def test_an_empty_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="non-empty"):
        Secrets(tmp_path).get("")


def test_a_name_cannot_leave_the_secrets_directory(tmp_path: Path) -> None:
    (tmp_path / "outside").write_text(VALUE)
    secrets = Secrets(tmp_path / "secrets", providers=[DirectoryProvider(tmp_path / "secrets")])

    assert secrets.get("../outside") is None
    assert secrets.get(str(tmp_path / "outside")) is None


# --- the chain -------------------------------------------------------------------------


def test_the_first_provider_with_the_name_wins(tmp_path: Path) -> None:
    first, second = Vault(a="first-value-a"), Vault(a="second-value-a", b="second-value-b")
    secrets = Secrets(tmp_path, providers=[first, second], ttl=0)

    assert secrets["a"] == "first-value-a"
    assert secrets["b"] == "second-value-b"


# --- TTL and rotation ----------------------------------------------------------------------


def test_a_remote_secret_is_kept_for_the_ttl_then_read_again(tmp_path: Path) -> None:
    clock = FakeClock()
    vault = Vault(stripe="stripe-key-version-1")
    secrets = Secrets(tmp_path, providers=[vault], ttl=60, clock=clock)

    assert secrets["stripe"] == "stripe-key-version-1"
    vault.values["stripe"] = "stripe-key-version-2"  # rotated at the source
    clock.seconds += 59.9
    assert secrets["stripe"] == "stripe-key-version-1"
    assert vault.reads == 1
    clock.seconds += 0.2
    assert secrets["stripe"] == "stripe-key-version-2"
    assert vault.reads == 2


def test_an_absence_is_kept_for_the_ttl_too(tmp_path: Path) -> None:
    clock = FakeClock()
    vault = Vault()
    secrets = Secrets(tmp_path, providers=[vault], ttl=60, clock=clock)

    assert secrets.get("stripe") is None and secrets.get("stripe") is None
    assert vault.reads == 1  # not a network call per lookup
    vault.values["stripe"] = "stripe-key-added-later"
    clock.seconds += 61
    assert secrets.get("stripe") == "stripe-key-added-later"


def test_ttl_zero_reads_every_time_and_refresh_forgets(tmp_path: Path) -> None:
    vault = Vault(stripe="stripe-key-version-1")
    uncached = Secrets(tmp_path, providers=[vault], ttl=0)
    uncached.get("stripe")
    uncached.get("stripe")
    assert vault.reads == 2

    cached = Secrets(tmp_path, providers=[vault], ttl=300, clock=FakeClock())
    cached.get("stripe")
    vault.values["stripe"] = "stripe-key-version-2"
    cached.refresh("stripe")
    assert cached.get("stripe") == "stripe-key-version-2"


def test_a_failed_re_read_keeps_the_value_read_before(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FakeClock()
    vault = Vault(stripe="stripe-key-version-1")
    secrets = Secrets(tmp_path, providers=[vault], ttl=60, clock=clock)
    secrets.get("stripe")

    vault.broken = True
    clock.seconds += 61
    with caplog.at_level("WARNING", logger="faaskit.secrets"):
        assert secrets["stripe"] == "stripe-key-version-1"

    assert "stripe" in caplog.text and "kept" in caplog.text
    vault.broken = False
    vault.values["stripe"] = "stripe-key-version-2"
    clock.seconds += 31  # tried again soon, not a whole TTL later
    assert secrets["stripe"] == "stripe-key-version-2"


def test_a_negative_ttl_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError):
        Secrets(tmp_path, ttl=-1)


# --- JSON secrets ------------------------------------------------------------------------


def test_a_json_secret_reads_as_a_dict_and_stays_text_otherwise(tmp_path: Path) -> None:
    vault = Vault(db='{"username": "shop", "password": "pw-0123456789"}', plain=VALUE)
    secrets = Secrets(tmp_path, providers=[vault])

    assert secrets.json("db") == {"username": "shop", "password": "pw-0123456789"}
    assert secrets["db"].startswith("{")  # [] and get() always give the text
    assert secrets["plain"] == VALUE


@pytest.mark.parametrize(
    ("value", "complaint"),
    [("not-json-" + "9" * 12, "is not JSON"), ('["list-0123456789"]', "not a JSON object")],
)
def test_json_of_a_value_that_is_no_json_object_does_not_quote_it(
    tmp_path: Path, value: str, complaint: str
) -> None:
    secrets = Secrets(tmp_path, providers=[Vault(db=value)])

    with pytest.raises(SecretFormatError) as raised:
        secrets.json("db")

    assert complaint in raised.value.detail and "'db'" in raised.value.detail
    assert "kv/db" in raised.value.detail
    assert value not in raised.value.detail and "0123456789" not in str(raised.value)


# --- dotenv ------------------------------------------------------------------------------


def test_dotenv_parses_quotes_comments_and_exports() -> None:
    text = (
        "# a comment\n"
        "\n"
        "PLAIN=value # trailing comment\n"
        "export EXPORTED=yes\n"
        "HASH=a#b\n"
        "SINGLE='it is $literal \\n'\n"
        'DOUBLE="line one\\nline \\"two\\""\n'
        'PEM="-----BEGIN KEY-----\n'
        "abc\n"
        '-----END KEY-----"\n'
        "EMPTY=\n"
        "SPACED =  padded  \n"
        "AFTER=the-end\n"
    )

    assert parse_dotenv(text) == {
        "PLAIN": "value",
        "EXPORTED": "yes",
        "HASH": "a#b",
        "SINGLE": "it is $literal \\n",
        "DOUBLE": 'line one\nline "two"',
        "PEM": "-----BEGIN KEY-----\nabc\n-----END KEY-----",
        "EMPTY": "",
        "SPACED": "padded",
        "AFTER": "the-end",
    }


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("OK=1\nno equals sign here-secret\n", 2),
        ('OK=1\nOPEN="never closed-secret\n', 2),
        ("OK=1\n\n1BAD=secret-text\n", 3),
        ('A="x" trailing-secret\n', 1),
    ],
)
def test_dotenv_errors_give_the_line_never_its_text(text: str, line: int) -> None:
    with pytest.raises(ConfigurationError) as raised:
        parse_dotenv(text, ".env")

    assert f".env, line {line}" in raised.value.detail
    assert "secret" not in raised.value.detail


def test_the_dotenv_provider_is_reread_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / ".env"
    provider = DotenvProvider(path)
    assert provider.get("stripe") is None  # no file: no secrets

    path.write_text("FAASKIT_SECRET_STRIPE=stripe-from-dotenv-1\n")
    assert provider.get("stripe") == "stripe-from-dotenv-1"
    path.write_text("FAASKIT_SECRET_STRIPE=stripe-from-dotenv-two\n")  # another size
    assert provider.get("stripe") == "stripe-from-dotenv-two"
    assert "FAASKIT_SECRET_STRIPE" in provider.describe("stripe")


# --- configuration ---------------------------------------------------------------------------


def test_the_chain_is_configured_by_faaskit_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("FAASKIT_SECRET_STRIPE=stripe-from-dotenv-1\n")
    monkeypatch.setenv("FAASKIT_SECRETS", "env:SHOP_, dotenv, file:other")
    monkeypatch.setenv("FAASKIT_SECRETS_TTL", "12.5")
    monkeypatch.setenv("SHOP_WEBHOOK", "webhook-from-env-1")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "db").write_text("db-from-file-0123")

    settings = Settings.load(data_dir=tmp_path / "home")
    secrets = Secrets.from_settings(settings)

    assert settings.secrets == "env:SHOP_, dotenv, file:other" and settings.secrets_ttl == 12.5
    assert [type(p).__name__ for p in secrets.providers] == [
        "EnvironmentProvider",
        "DotenvProvider",
        "DirectoryProvider",
    ]
    assert secrets["webhook"] == "webhook-from-env-1"
    assert secrets["stripe"] == "stripe-from-dotenv-1"
    assert secrets["db"] == "db-from-file-0123"
    assert secrets.ttl == 12.5


def test_the_default_configuration_is_env_then_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("FAASKIT_SECRETS", raising=False)
    monkeypatch.delenv("FAASKIT_SECRETS_TTL", raising=False)

    settings = Settings.load(data_dir=tmp_path)
    chain = build_chain(settings.secrets, settings.secrets_dir)

    assert (settings.secrets, settings.secrets_ttl) == ("env,file", 300.0)
    assert isinstance(chain[0], EnvironmentProvider)
    assert isinstance(chain[1], DirectoryProvider) and chain[1].directory == tmp_path / "secrets"


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("FAASKIT_SECRETS", "env,,file", "empty entry"),
        ("FAASKIT_SECRETS_TTL", "soon", "number of seconds"),
        ("FAASKIT_SECRETS_TTL", "-5", "0 or more"),
    ],
)
def test_bad_secrets_settings_fail_at_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, complaint: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ConfigurationError, match=complaint):
        Settings.load(data_dir=tmp_path)


def test_an_unknown_provider_kind_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as raised:
        build_chain("env,vaultt", tmp_path)

    assert "'vaultt'" in raised.value.detail and "aws-ssm" in raised.value.detail


def test_a_registered_provider_kind_is_configured_by_name(tmp_path: Path) -> None:
    made: list[Any] = []

    def factory(argument: str | None) -> Vault:
        vault = Vault(stripe=f"from-{argument}-0123")
        made.append(vault)
        return vault

    register_provider("test-vault", factory)

    chain = build_chain("env,test-vault:kv/shop", tmp_path)

    assert chain[1] is made[0] and chain[1].get("stripe") == "from-kv/shop-0123"
    assert parse_chain("aws-ssm:/a/b") == [("aws-ssm", "/a/b")]
    with pytest.raises(ConfigurationError):
        register_provider("env", factory)


def test_aws_providers_are_configured_with_their_prefix_without_importing_boto3(
    tmp_path: Path,
) -> None:
    from tests.unit.test_import_hygiene import loaded_after

    code = (
        "from pathlib import Path\n"
        "from faaskit.secrets.configuration import build_chain\n"
        "chain = build_chain('aws-secretsmanager:shop/prod/,aws-ssm:/shop/prod', Path('.'))\n"
        "assert chain[0].secret_id('stripe') == 'shop/prod/stripe'\n"
        "assert chain[1].parameter('stripe') == '/shop/prod/stripe'\n"
    )
    modules = loaded_after(code, tmp_path)

    assert not {"boto3", "botocore"} & modules  # imported on the first lookup only


def test_repr_shows_no_value(tmp_path: Path) -> None:
    secrets = Secrets(tmp_path, providers=[Vault(stripe=VALUE)])
    secrets.get("stripe")

    assert VALUE not in repr(secrets) and "Vault" in repr(secrets)
