"""Each billing rule by hand: Lambda's 1 ms rounding, tiers and free tier, INIT billing and
provisioned concurrency; API Gateway tiers; Azure's 100 ms / 128 MB minimums and 128 MB
steps; Flex's shared instance time and always ready baseline; Cloud Run's 100 ms rounding
and concurrency; the VM fleet and break-even; rounding to the cent only at the end."""

from __future__ import annotations

from decimal import Decimal

import pytest

from faaskit.cost import Workload, estimate, load_catalog, size_fleet, threshold_rps
from faaskit.cost.money import cents
from faaskit.cost.tiers import tiered_charge
from faaskit.errors import ValidationError

D = Decimal
CATALOG = load_catalog()


def bill(platform: str, free_tier: bool = False, **fields: object):
    return estimate(Workload.build(**fields), platform, CATALOG, free_tier=free_tier)


def test_each_charge_rounds_half_up_once_and_the_total_sums_the_charges() -> None:
    assert cents(D("18.335")) == D("18.34")
    assert cents(D("0.004999")) == D("0.00")
    # 1,670,000 x 1 ms x 128 MB = 208.75 GB-s ($0.00348) and $0.334 of requests
    lines = bill("aws-lambda", requests=1_670_000, duration_ms=1, memory_mb=128, arch="x86")
    assert lines.item("compute").amount == D("208.75") * D("0.0000166667")
    assert [line.cents for line in lines.items] == [D("0.00"), D("0.33")]
    assert lines.total == D("0.33") and lines.exact > D("0.3374")


def test_lambda_bills_each_invocation_to_the_next_millisecond() -> None:
    # 27.4 ms is billed as 28 ms: 1,000,000 x 0.028 s x 1 GB = 28,000 GB-s
    got = bill("aws-lambda", requests=1_000_000, duration_ms=D("27.4"), memory_mb=1024, arch="x86")

    assert got.item("compute").quantity == D(28_000)
    assert got.item("compute").amount == D(28_000) * D("0.0000166667")


def test_lambda_free_tier_boundary() -> None:
    # 800,000 x 1 s x 512 MB = 400,000 GB-s: all free; one more request is 0.5 GB-s billed
    at = bill("aws-lambda", True, requests=800_000, duration_ms=1000, memory_mb=512, arch="x86")
    over = bill("aws-lambda", True, requests=800_001, duration_ms=1000, memory_mb=512, arch="x86")

    assert at.item("compute").amount == 0 and at.item("compute").free == D(400_000)
    assert over.item("compute").amount == D("0.5") * D("0.0000166667")
    assert at.item("requests").amount == 0  # under 1M free requests


def test_lambda_tiers_apply_to_the_month_aggregate() -> None:
    # 7 billion GB-s on x86: 6 billion at the first rate, 1 billion at the second
    got = bill("aws-lambda", requests=7_000_000_000, duration_ms=1000, memory_mb=1024, arch="x86")

    expected = D(6_000_000_000) * D("0.0000166667") + D(1_000_000_000) * D("0.0000150000")
    assert got.item("compute").amount == expected
    assert got.item("compute").cents == D("115000.20")


def test_tiered_charge_counts_a_slice_after_earlier_usage_and_the_free_allowance() -> None:
    tiers = CATALOG.tiers("aws.lambda.duration", "arm64")
    amount, free = tiered_charge(tiers, D(10), start=D(7_499_999_995), free=D(0))
    assert amount == 5 * D("0.0000133334") + 5 * D("0.0000120001") and free == 0
    amount, free = tiered_charge(tiers, D(100), start=D(350), free=D(400))
    assert free == 50 and amount == 50 * D("0.0000133334")


def test_init_of_cold_starts_is_billed_as_duration_after_the_invoke_time() -> None:
    # 1% of 1M invocations start cold with 800 ms INIT at 1024 MB: 8,000 GB-s
    got = bill(
        "aws-lambda",
        requests=1_000_000,
        duration_ms=100,
        memory_mb=1024,
        arch="arm64",
        cold_share=D("0.01"),
        init_ms=800,
    )

    assert got.item("INIT").quantity == D(8_000)
    assert got.item("INIT").amount == D(8_000) * D("0.0000133334")
    # with the free tier, INIT uses what the invocations left of it
    free = bill(
        "aws-lambda",
        True,
        requests=3_960_000,
        duration_ms=100,
        memory_mb=1024,
        cold_share=D("0.01"),
        init_ms=800,
    )
    assert free.item("compute").quantity == D(396_000)
    assert free.item("INIT").free == D(4_000)
    assert free.item("INIT").amount == (D("31680") - 4_000) * D("0.0000133334")


def test_provisioned_concurrency_pays_all_month_and_gets_no_free_tier() -> None:
    got = bill(
        "aws-lambda",
        True,
        requests=1_000_000,
        duration_ms=100,
        memory_mb=1024,
        arch="x86",
        provisioned=2,
    )

    assert got.item("provisioned concurrency").amount == 2 * D(2_628_000) * D("0.0000041667")
    assert got.item("compute").amount == D(100_000) * D("0.0000097222")
    assert got.item("requests").amount == D("0.20")  # no free million


def test_api_gateway_http_and_rest_tiers() -> None:
    http = bill("aws-lambda", requests=400_000_000, duration_ms=1, memory_mb=128, gateway="http")
    rest = bill("aws-lambda", requests=400_000_000, duration_ms=1, memory_mb=128, gateway="rest")
    url = bill("aws-lambda", requests=400_000_000, duration_ms=1, memory_mb=128, gateway="url")

    assert http.item("gateway").amount == 300 * D("1.00") + 100 * D("0.90")
    assert rest.item("gateway").amount == 333 * D("3.50") + 67 * D("2.80")
    assert url.item("gateway").amount == 0


def test_azure_consumption_rounds_memory_up_to_128_mb_and_time_to_100_ms() -> None:
    # 160 MB observed is billed as 256 MB; 50 ms as 100 ms: 0.25 GB x 0.1 s = 0.025 GB-s
    got = bill("azure-consumption", requests=1_000_000, duration_ms=50, memory_mb=160)
    assert got.item("compute").quantity == D(25_000)
    assert got.item("compute").amount == D(25_000) * D("0.000016")
    # a 40 MB function still pays 128 MB; 101.2 ms is 102 ms
    small = bill("azure-consumption", requests=1_000, duration_ms=D("101.2"), memory_mb=40)
    assert small.item("compute").quantity == D(1_000) * D("0.125") * D("0.102")
    with pytest.raises(ValidationError, match="at most 1536 MB"):
        bill("azure-consumption", requests=1, duration_ms=1, memory_mb=2048)


def test_azure_free_grant() -> None:
    # 800,000 x 1 s x 512 MB = 400,000 GB-s and 800,000 executions: all in the free grant
    free = bill("azure-consumption", True, requests=800_000, duration_ms=1000, memory_mb=512)
    assert free.total == 0
    # 1M: 100,000 GB-s over the grant at $0.000016; the executions are still free
    over = bill("azure-consumption", True, requests=1_000_000, duration_ms=1000, memory_mb=512)
    assert over.item("compute").free == D(400_000)
    assert over.total == D("1.60")


def test_flex_instances_share_their_time_and_always_ready_pays_a_baseline() -> None:
    # 1M x 100 ms on 2,048 MB instances, 4 at once: 1M x 0.1 x 2 / 4 = 50,000 GB-s
    got = bill("azure-flex", requests=1_000_000, duration_ms=100, memory_mb=1024, concurrency=4)
    assert got.item("compute").quantity == D(50_000)
    assert got.item("compute").amount == D(50_000) * D("0.000026")
    ready = bill(
        "azure-flex", True, requests=1_000_000, duration_ms=100, memory_mb=512, always_ready=1
    )
    assert ready.item("always ready baseline").quantity == D("0.5") * 2_628_000
    assert ready.item("requests").free == 0  # no free grant for always ready


def test_cloud_run_rounds_to_100_ms_and_divides_by_concurrency() -> None:
    # 120 ms is billed as 200 ms; 10 requests at once share an instance
    got = bill("cloud-run", requests=1_000_000, duration_ms=120, memory_mb=512, concurrency=10)

    assert got.item("compute (CPU)").quantity == D(20_000)  # 1M x 0.2 s / 10 x 1 vCPU
    assert got.item("compute (memory)").quantity == D(10_000)  # x 0.5 GiB
    assert got.item("compute (CPU)").amount == D(20_000) * D("0.000024")
    alone = bill("cloud-run", requests=1_000_000, duration_ms=100, memory_mb=512)
    assert alone.item("compute (CPU)").quantity == D(100_000)  # exactly 100 ms stays 100


def test_cloud_run_free_tier() -> None:
    got = bill("cloud-run", True, requests=2_000_000, duration_ms=90, memory_mb=1024)
    # 2M x 0.1 s = 200,000 vCPU-s: 180,000 free, 20,000 billed; 200,000 GiB-s all free
    assert got.item("compute (CPU)").amount == D(20_000) * D("0.000024")
    assert got.item("compute (memory)").amount == 0
    assert got.item("requests").amount == 0


def test_vm_fleet_serves_the_peak_at_the_utilisation() -> None:
    work = Workload.build(requests=0, duration_ms=50, memory_mb=512, cpu_share=D("0.8"))
    # 100 req/s x 0.05 s x 0.8 = 4 vCPU busy; m7g.large has 2; at 50% that is 4 instances
    fleet = size_fleet(work, CATALOG, D(100), utilisation=D("0.5"))
    assert fleet.count == 4
    vm = estimate(work, "vm", CATALOG, fleet=fleet)
    assert vm.item("instances").amount == 4 * 730 * D("0.0816")
    assert vm.item("public IPv4").amount == 4 * 730 * D("0.005")
    assert size_fleet(work, CATALOG, D(0)).count == 1


def test_threshold_is_found_by_bisection_on_a_growing_bill() -> None:
    work = Workload.build(requests=0, duration_ms=50, memory_mb=512, gateway="http")
    per_month_at_1rps = estimate(
        work.with_requests(2_628_000), "aws-lambda", CATALOG, free_tier=False
    ).exact
    rate = threshold_rps(work, "aws-lambda", CATALOG, 10 * per_month_at_1rps)
    assert abs(rate - 10) < D("0.01")
