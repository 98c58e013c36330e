"""The providers' own worked examples, reproduced to the cent, and the article's claims
recomputed from the catalog.

Google's Cloud Run pricing page (https://cloud.google.com/run/pricing, read 2026-12-02)
gives rates and free tiers but no worked bill: its rules are checked by hand in
test_cost_rules.py instead."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from faaskit.cost import Workload, break_even_rps, estimate, load_catalog, threshold_rps
from faaskit.cost.platforms.vm import vm_fleet_bill

D = Decimal

PAGE_RATE = """
[[price]]
key = "aws.lambda.duration"
service = "AWS Lambda"
item = "Duration as the pricing page's Example 1 states it"
price = "0.00001667"
unit = "GB-second"
region = "us-east-1"
arch = "x86"
tier_from = "0"
tier_to = "6000000000"
source = "https://aws.amazon.com/lambda/pricing/"
read_on = 2026-12-02
confirmed = true
"""


def test_aws_lambda_pricing_page_example_1(tmp_path: Path) -> None:
    """https://aws.amazon.com/lambda/pricing/ (US East, N. Virginia), Example 1:

    "If you allocated 512MB of memory to your function, executed it 3 million times in one
    month, and it ran for 1 second each time ... The monthly compute price is $0.00001667
    per GB-s and the free tier provides 400,000 GB-s. ... 1,500,000 GB-s - 400,000 free tier
    GB-s = 1,100,000 GB-s. Monthly compute charges = 1,100,000 * $0.00001667 = $18.34 ...
    Monthly request charges = 2M * $0.2/M = $0.40 ... Total charges = $18.34 + $0.40 =
    $18.74 per month". The example rounds the rate to $0.00001667: an overlay says so."""
    overlay = tmp_path / "page.toml"
    overlay.write_text(PAGE_RATE, encoding="utf-8")
    work = Workload.build(requests=3_000_000, duration_ms=1000, memory_mb=512, arch="x86")

    got = estimate(work, "aws-lambda", load_catalog(overlay))

    assert got.item("compute").quantity == D(1_500_000)
    assert got.item("compute").free == D(400_000)
    assert got.item("compute").cents == D("18.34")
    assert got.item("requests").cents == D("0.40")
    assert got.total == D("18.74")
    # at the unrounded catalog rate the same month is a cent less
    assert estimate(work, "aws-lambda", load_catalog()).total == D("18.73")


def test_aws_one_millisecond_billing_example() -> None:
    """https://aws.amazon.com/blogs/aws/new-for-aws-lambda-1ms-billing-granularity-adds-cost-savings/
    (Danilo Poccia, 2020-12-01): "100,000 users * 20 invocations * 30 days = 60 million
    invocations ... For simplicity, I am not considering the Lambda free tier. ... 60
    million invocations * $0.20 per 1M requests = $12 ... with the old 100ms rounded up
    pricing would have been: 60 million invocations * 100ms * 1G memory * $0.0000166667 for
    every GB-second = $100. With the new 1ms billing granularity, the duration costs are: 60
    million invocations * 28ms * 1G memory * $0.0000166667 for every GB-second = $28 ...
    overall costs including request and compute charges are much cheaper ($40) than before
    ($112)." (The log line behind it: "Duration: 27.55 ms Billed Duration: 28 ms".)"""
    catalog = load_catalog()
    now = Workload.build(requests=60_000_000, duration_ms=D("27.55"), memory_mb=1024, arch="x86")
    before = now.model_copy(update={"duration_ms": D(100)})

    got = estimate(now, "aws-lambda", catalog, free_tier=False)
    old = estimate(before, "aws-lambda", catalog, free_tier=False)

    assert got.item("requests").cents == D("12.00")
    assert got.item("compute").cents == D("28.00")
    assert got.total == D("40.00")
    assert old.item("compute").cents == D("100.00")
    assert old.total == D("112.00")


def test_azure_functions_execution_units_example() -> None:
    """https://learn.microsoft.com/azure/azure-functions/functions-consumption-costs:
    "This chart shows a total of 1.11 billion Function Execution Units consumed in a
    two-hour period, measured in MB-milliseconds. To convert to GB-seconds, divide by
    1024000. In this example, the function app consumed 1110000000 / 1024000 = 1083.98
    GB-seconds." The model's GB-s for the same MB-ms (a 128 MB execution of 8,671,875 ms,
    i.e. 1.11 billion MB-ms) come to the same figure."""
    from faaskit.cost.platforms.azure import consumption_gb_seconds

    gbs = consumption_gb_seconds(load_catalog(), 128, D(8_671_875))

    assert D(128) * D(8_671_875) == D(1_110_000_000)
    assert gbs.quantize(D("0.01")) == D("1083.98")


ARTICLE = Workload.build(
    requests=1_000_000, duration_ms=50, memory_mb=512, arch="arm64", gateway="http"
)


def m7g_large_month() -> Decimal:
    return vm_fleet_bill(None, load_catalog(), instance="m7g.large", public_ipv4=0).exact


def test_article_claim_153_dollars_per_million_requests() -> None:
    """Issue 12: "for a 512 MB x 50 ms handler behind an HTTP API, Lambda on arm64 costs
    about $1.53 per million requests (the gateway's $1.00 is most of it)"."""
    got = estimate(ARTICLE, "aws-lambda", load_catalog(), free_tier=False)

    assert got.total == D("1.53")
    assert got.item("gateway").cents == D("1.00")
    assert got.item("compute").cents == D("0.33") and got.item("requests").cents == D("0.20")


def test_article_claim_break_even_with_an_m7g_large_near_15_rps() -> None:
    """Issue 12: it "breaks even with an always-on m7g.large at about 15 requests/s on
    average" (730 h x $0.0816, no public IPv4, no free tier)."""
    catalog = load_catalog()
    rate = break_even_rps(ARTICLE, "aws-lambda", catalog, m7g_large_month())

    assert m7g_large_month() == D("59.568")
    assert D("14.7") < rate < D("14.9")  # $59.568 / $1.5333 per million / 2.628M s
    # with the instance's public IPv4 address ($3.65 a month) the VM costs more: ~15.7
    with_ip = vm_fleet_bill(None, catalog, instance="m7g.large").exact
    assert D("15.6") < break_even_rps(ARTICLE, "aws-lambda", catalog, with_ip) < D("15.8")


def test_article_claim_70_percent_cheaper_only_below_4_4_rps() -> None:
    """Issue 12: ""70% cheaper" holds only below about 4.4 requests/s"."""
    rate = threshold_rps(ARTICLE, "aws-lambda", load_catalog(), m7g_large_month() * D("0.3"))

    assert D("4.4") < rate < D("4.5")
