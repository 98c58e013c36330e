"""The price catalog: the shipped file is valid, dated and sourced; a malformed or undated
row is a PriceCatalogError naming the file, the row and the field; a user's file overlays."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path

import pytest

from faaskit.cost.catalog import SHIPPED, PriceCatalogError, load_catalog, read_rows
from faaskit.errors import ConfigurationError

ROW = """
[[price]]
key = "aws.lambda.requests"
service = "AWS Lambda"
item = "Requests"
price = "0.25"
unit = "1M requests"
region = "us-east-1"
arch = "any"
source = "https://example.com/my-negotiated-rates"
read_on = 2026-11-30
confirmed = true
"""


def write(tmp_path: Path, text: str, name: str = "prices.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_catalog_rows_are_dated_sourced_and_explained() -> None:
    catalog = load_catalog()

    assert len(catalog) >= 50
    for row in catalog:
        assert row.source.startswith("https://")
        assert row.read_on.year >= 2025
        if not row.confirmed:
            assert row.note.strip(), row.key
    assert catalog.files == (SHIPPED,)


def test_shipped_catalog_has_what_the_issue_lists() -> None:
    catalog = load_catalog()
    keys = {row.key for row in catalog}

    assert {"aws.lambda.provisioned.standby", "aws.lambda.init", "aws.lambda.url"} <= keys
    assert {"aws.apigateway.http", "aws.apigateway.rest", "aws.sqs.standard"} <= keys
    assert {"aws.sns.publish", "aws.eventbridge.custom", "aws.secretsmanager.calls"} <= keys
    assert {"aws.ssm.calls", "azure.consumption.duration", "azure.flex.ondemand.duration"} <= keys
    assert {"gcp.run.request.cpu", "aws.ec2.m7g.large", "aws.ec2.t4g.micro"} <= keys
    assert {"aws.ec2.t3.micro", "aws.ec2.public_ipv4"} <= keys
    x86 = catalog.tiers("aws.lambda.duration", "x86")
    arm = catalog.tiers("aws.lambda.duration", "arm64")
    assert [row.tier_from for row in x86] == [0, 6_000_000_000, 15_000_000_000]
    assert [row.tier_from for row in arm] == [0, 7_500_000_000, 18_750_000_000]
    assert catalog.price("aws.lambda.provisioned.standby", "x86").price == Decimal("0.0000041667")
    assert catalog.price("aws.lambda.provisioned.duration", "x86").price == Decimal("0.0000097222")


@pytest.mark.parametrize(
    ("old", "new", "field", "words"),
    [
        ("read_on = 2026-11-30\n", "", "read_on", "missing (every price says the day"),
        ('price = "0.25"', "price = 0.25", "price", "exact decimal"),
        ('arch = "any"', 'arch = "risc-v"', "arch", "'x86', 'arm64' or 'any'"),
        ("read_on = 2026-11-30", "read_on = 2026-11-30T10:00:00", "read_on", "not a time"),
        ("https://example.com/my-negotiated-rates", "the internet", "source", "pattern"),
        ('unit = "1M requests"', "", "unit", "missing"),
        ('item = "Requests"', 'item = "Requests"\ncurrency = "EUR"', "currency", "not permitted"),
    ],
    ids=["undated", "float-price", "bad-arch", "datetime", "bad-source", "no-unit", "extra"],
)
def test_a_malformed_row_names_file_row_and_field(
    tmp_path: Path, old: str, new: str, field: str, words: str
) -> None:
    path = write(tmp_path, ROW + ROW.replace(old, new))

    with pytest.raises(PriceCatalogError) as caught:
        read_rows(path)

    error = caught.value
    assert isinstance(error, ConfigurationError)
    assert (error.path, error.row, error.field) == (path, 2, field)
    assert error.detail.startswith(f"{path}: row 2 (aws.lambda.requests): {field}: ")
    assert words in error.detail


def test_an_unconfirmed_row_without_a_note_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, ROW.replace("confirmed = true", "confirmed = false"))

    with pytest.raises(PriceCatalogError, match=r"row 1 .*needs a note"):
        read_rows(path)


def test_a_tier_that_ends_before_it_starts_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, ROW + 'tier_from = "10"\ntier_to = "5"\n')

    with pytest.raises(PriceCatalogError, match="tier_to must be above tier_from"):
        read_rows(path)


@pytest.mark.parametrize(
    ("text", "words"),
    [("[[price]\nkey = 1", "not valid TOML"), ('title = "no rows"', "no [[price]] rows")],
    ids=["syntax", "empty"],
)
def test_an_unreadable_file_is_one_clear_error(tmp_path: Path, text: str, words: str) -> None:
    path = write(tmp_path, text)

    with pytest.raises(PriceCatalogError, match=re.escape(words)):
        read_rows(path)
    with pytest.raises(PriceCatalogError, match="cannot read"):
        read_rows(tmp_path / "missing.toml")


def test_a_users_file_overlays_the_shipped_rows(tmp_path: Path) -> None:
    path = write(tmp_path, ROW)

    catalog = load_catalog(path)

    assert catalog.price("aws.lambda.requests").price == Decimal("0.25")
    assert catalog.price("aws.lambda.requests").source.endswith("my-negotiated-rates")
    assert len(catalog) == len(load_catalog())  # replaced, not added
    assert catalog.files == (SHIPPED, path)


def test_faaskit_prices_names_the_overlay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    json_rows = (
        '{"price": [{"key": "aws.ec2.m7g.large", "service": "EC2", "item": "m7g.large", '
        '"price": "0.0700", "unit": "instance-hour", "region": "us-east-1", "arch": "arm64", '
        '"vcpus": 2, "source": "https://example.com/rates", "read_on": "2026-11-30", '
        '"confirmed": false, "note": "our reserved rate"}]}'
    )
    monkeypatch.setenv("FAASKIT_PRICES", str(write(tmp_path, json_rows, "prices.json")))

    assert load_catalog().price("aws.ec2.m7g.large").price == Decimal("0.0700")


def test_import_faaskit_does_not_import_the_cost_model(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = "import faaskit, sys\nprint(any(m.startswith('faaskit.cost') for m in sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"
