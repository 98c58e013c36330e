"""``faaskit cost estimate``: the table of line items with and without the free tier, its
``--json``, and one clear line for a mistake."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from faaskit.cli import main
from faaskit.cli.cost import parse_count
from faaskit.errors import ValidationError


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exited:
        main(["cost", "estimate", *args])
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


ARTICLE = ("--platform", "aws-lambda", "--memory", "512", "--duration", "50", "--gateway", "http")


def test_the_table_lists_line_items_with_and_without_the_free_tier(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, *ARTICLE, "--requests", "10M")

    assert code == 0
    assert "aws-lambda: 10,000,000 requests a month, 512 MB x 50 ms, arm64, HTTP API" in out
    for item in ("compute", "requests", "gateway", "total"):
        assert item in out
    assert "$15.33" in out  # without free tier: 10 x $1.5333
    assert "$10.80" in out  # with: 250,000 GB-s free, 9M requests x ($0.20 + $1.00) per M
    assert "730-hour month" in out and "not confirmed on the provider's page" in out


def test_json_gives_both_bills_and_the_prices_behind_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(
        capsys, *ARTICLE, "--rate", "1", "--cold-share", "0.01", "--init-ms", "300", "--json"
    )

    document = json.loads(out)
    assert code == 0
    assert document["workload"]["requests"] == 2_628_000
    without = document["without_free_tier"]
    assert [item["item"] for item in without["items"]] == ["compute", "INIT", "requests", "gateway"]
    # each line is rounded to the cent once computed, and the total is their sum
    assert without["total"] == round(sum(item["amount"] for item in without["items"]), 2)
    assert Decimal(without["exact"]) == sum(Decimal(item["exact"]) for item in without["items"])
    assert document["with_free_tier"]["total"] < without["total"]
    assert "aws.apigateway.http" in document["unconfirmed_prices"]
    assert document["hours_per_month"] == 730


@pytest.mark.parametrize("platform", ["azure-consumption", "azure-flex", "cloud-run", "vm"])
def test_every_platform_prices_the_same_numbers(
    capsys: pytest.CaptureFixture[str], platform: str
) -> None:
    code, out, _ = run(
        capsys,
        "--platform",
        platform,
        "--memory",
        "512",
        "--duration",
        "50",
        "--requests",
        "3M",
        "--json",
    )

    document = json.loads(out)
    assert code == 0 and document["platform"] == platform
    assert document["without_free_tier"]["total"] > 0


def test_a_users_price_file_changes_the_bill(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prices = tmp_path / "mine.toml"
    prices.write_text(
        '[[price]]\nkey = "aws.ec2.m7g.large"\nservice = "EC2"\nitem = "reserved"\n'
        'price = "0.05"\nunit = "instance-hour"\nvcpus = 2\nregion = "us-east-1"\n'
        'arch = "arm64"\nsource = "https://example.com/ri"\nread_on = 2026-12-01\n'
        'confirmed = false\nnote = "our 1-year reservation"\n',
        encoding="utf-8",
    )
    code, out, _ = run(
        capsys,
        "--platform",
        "vm",
        "--memory",
        "512",
        "--duration",
        "50",
        "--requests",
        "1M",
        "--prices",
        str(prices),
        "--json",
    )

    document = json.loads(out)
    instances = document["without_free_tier"]["items"][0]
    assert code == 0 and instances["amount"] == 36.5  # 730 h x $0.05
    assert document["price_files"][-1] == str(prices)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--platform", "heroku", "--requests", "1M"), "choose one of aws-lambda"),
        (("--platform", "aws-lambda"), "--requests N (a month) or --rate R"),
        (("--platform", "aws-lambda", "--requests", "lots"), "give a count like"),
        (("--platform", "aws-lambda", "--requests", "1M", "--arch", "sparc"), "arch"),
    ],
    ids=["platform", "no-traffic", "bad-count", "bad-arch"],
)
def test_a_mistake_is_one_line_and_a_non_zero_exit(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], words: str
) -> None:
    code, out, err = run(capsys, "--memory", "512", "--duration", "50", *args)

    assert code != 0 and out == ""
    assert err.startswith("faaskit: error: ") and words in err
    assert len(err.strip().splitlines()) == 1


def test_a_broken_price_file_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    prices = tmp_path / "bad.toml"
    prices.write_text('[[price]]\nkey = "aws.lambda.requests"\n', encoding="utf-8")

    code, _, err = run(capsys, *ARTICLE, "--requests", "1M", "--prices", str(prices))

    assert code == 1 and f"{prices}: row 1 (aws.lambda.requests): " in err


def test_counts_take_suffixes() -> None:
    assert parse_count("3M", "--requests") == 3_000_000
    assert parse_count("1.5b", "--requests") == 1_500_000_000
    assert parse_count("250_000", "--requests") == 250_000
    with pytest.raises(ValidationError):
        parse_count("1.5", "--requests")
