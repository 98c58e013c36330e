"""Offline power tuning: a function's duration and price per invocation at each Lambda
memory size, scaled from its records (taken at 1,769 MB = one vCPU), and the size Power
Tuning's strategies pick (lambda/analyzer.js: cost, speed, balanced, and its tie rules);
then ``faaskit cost tune`` over a real SQLite store."""

from __future__ import annotations

import json
import time
from decimal import Decimal
from pathlib import Path

import pytest

from faaskit.cost.catalog import load_catalog
from faaskit.cost.measured import MeasuredFunction, measure
from faaskit.cost.scaling import DurationBounds
from faaskit.cost.tuning import (
    DEFAULT_SIZES,
    MEASURED_AT_MB,
    Tuning,
    TuningPoint,
    lambda_point,
    tune,
)
from faaskit.errors import ValidationError
from faaskit.store.protocol import InvocationRecord
from tests.unit.cli_run import faaskit as run
from tests.unit.cli_run import store_with_records

ARM = Decimal("0.0000133334")  # prices.toml: Lambda Arm duration, first tier, a GB-s
X86 = Decimal("0.0000166667")  # prices.toml: Lambda x86 duration, first tier, a GB-s
REQUEST = Decimal("0.0000002")  # $0.20 per million requests
US = Decimal("0.000001")
APP = "tests.unit.cli_app:app"


def measured(
    ms: float = 100.0, cpu_ms: float = 50.0, *, count: int = 10, cold: int = 0, init_ms: int = 0
) -> MeasuredFunction:
    """A function whose every invocation took ``ms`` with ``cpu_ms`` on CPU."""
    rows = [
        InvocationRecord(
            "orders",
            "http",
            100.0 + i,
            ms / 1000,
            cpu_ms / 1000,
            None,
            i < cold,
            init_ms / 1000 if i < cold else None,
            "success",
        )
        for i in range(count)
    ]
    (found,) = measure(rows)
    return found


@pytest.fixture(scope="module")
def catalog():  # type: ignore[no-untyped-def]
    return load_catalog()


def test_a_half_cpu_function_at_128_1769_and_3008_mb(catalog) -> None:  # type: ignore[no-untyped-def]
    tuning = tune(measured(), catalog, sizes=(3008, 128, 1769))
    assert [p.memory_mb for p in tuning.points] == [128, 1769, 3008]  # ascending
    small, one_vcpu, large = tuning.points

    # 128 MB has 128/1769 vCPU: the 50 ms on CPU take 50 x 1769/128 = 691.015625 ms, the
    # 50 ms of I/O stay: 741.015625 ms; all-CPU bound 100 x 1769/128 = 1382.03125 ms.
    d = small.duration
    assert (d.estimate.quantize(US), d.low, d.high.quantize(US)) == (
        Decimal("741.015625"),
        Decimal(100),
        Decimal("1382.03125"),
    )
    # billed 742 ms x 0.125 GB x $0.0000133334 = $0.000001236672850
    assert small.compute == Decimal("0.000001236672850")
    # bounds: 100 ms x 0.125 GB x ARM; 1383 ms x 0.125 GB x ARM
    assert small.compute_low == Decimal("0.00000016666750")
    assert small.compute_high == Decimal("0.0000023050115250")
    assert small.cost_low == small.compute_low + REQUEST
    assert small.cost_high == small.compute_high + REQUEST

    # at 1,769 MB (where it was measured) nothing moves: 100 ms x 1.7275390625 GB x ARM
    assert one_vcpu.duration == DurationBounds(Decimal(100), Decimal(100), Decimal(100))
    assert one_vcpu.compute == Decimal("0.000002303396933593750")
    # a single-threaded handler gains nothing from 3,008 MB: 100 ms x 2.9375 GB x ARM
    assert large.duration.estimate == Decimal(100)
    assert large.compute == Decimal("0.000003916686250")

    # the request fee is the same at every size, shown apart; no cold starts, no INIT
    assert {p.request for p in tuning.points} == {REQUEST}
    assert {p.init for p in tuning.points} == {Decimal(0)}
    assert small.cost == Decimal("0.000001236672850") + REQUEST


def test_two_threads_use_the_second_vcpu(catalog) -> None:  # type: ignore[no-untyped-def]
    # 3,008 MB = 1.7004 vCPU: the 50 ms on CPU take 50 / (3008/1769) = 29.4049 ms
    point = lambda_point(
        Decimal(100), Decimal("0.5"), Decimal(0), Decimal(0), 3008, catalog, threads=2
    )
    assert point.duration.estimate.quantize(Decimal("0.0001")) == Decimal("79.4049")
    assert point.compute == 80 * Decimal("0.001") * Decimal("2.9375") * ARM  # billed 80 ms


def test_init_is_the_cold_share_of_a_cold_start(catalog) -> None:  # type: ignore[no-untyped-def]
    # 1 of 10 invocations cold, INIT 250 ms: 0.1 x 0.25 s x 1.7275390625 GB x ARM
    point = tune(measured(cold=1, init_ms=250), catalog, sizes=(1769,)).points[0]
    assert point.init == Decimal("5.7584923339843750E-7")
    assert point.cost == point.compute + REQUEST + point.init
    per_million = point.to_dict()["per_million"]
    assert per_million["init"] == pytest.approx(0.57584923339843750)
    assert per_million["request"] == pytest.approx(0.2)


def test_the_architecture_sets_the_price(catalog) -> None:  # type: ignore[no-untyped-def]
    arm = tune(measured(), catalog, sizes=(1769,)).points[0]
    x86 = tune(measured(), catalog, sizes=(1769,), arch="x86").points[0]
    # 100 ms x 1.7275390625 GB x $0.0000166667 (x86) against x $0.0000133334 (Arm)
    assert x86.compute == Decimal("0.000002879237529296875")
    assert arm.compute == Decimal("0.000002303396933593750")
    with pytest.raises(ValidationError, match="arm64 or x86"):
        tune(measured(), catalog, arch="riscv")


def test_each_strategy_picks_as_power_tuning_does(catalog) -> None:  # type: ignore[no-untyped-def]
    tuning = tune(measured(), catalog)
    assert [p.memory_mb for p in tuning.points] == list(DEFAULT_SIZES)
    # Billed GB-ms per invocation (ceil(ms) x GB): 128: 742 x 0.125 = 92.75; 256: 396 x
    # 0.25 = 99; 512: 223 x 0.5 = 111.5; 1024: 137; 1536: 108 x 1.5 = 162; 1769: 172.75…;
    # then 100 ms at ever more GB. Cheapest: 128 MB.
    assert tuning.best("cost").memory_mb == 128
    # From 1,769 MB up it takes 100 ms at every size; the tie goes to the cheaper: 1,769.
    assert tuning.best("speed").memory_mb == 1769
    # balanced(0.5) = 0.5 x GB-ms / 1000 (10,240 MB's) + 0.5 x ms / 741.015625 (128 MB's):
    # 1024: 0.0685 + 0.0920 = 0.1605; 1536: 0.081 + 0.0726 = 0.1536;
    # 1769: 0.0864 + 0.0675 = 0.1539 -> 1,536 MB
    assert tuning.best("balanced").memory_mb == 1536
    assert tuning.best("balanced", Decimal(1)).memory_mb == tuning.best("cost").memory_mb
    assert tuning.best("balanced", Decimal(0)).memory_mb == tuning.best("speed").memory_mb


def point(memory_mb: int, ms: int, compute: str) -> TuningPoint:
    bounds = DurationBounds(Decimal(ms), Decimal(ms), Decimal(ms))
    price = Decimal(compute)
    return TuningPoint(memory_mb, bounds, price, REQUEST, Decimal(0), price, price)


def test_ties_are_broken_as_power_tuning_breaks_them() -> None:
    # same cost: the faster wins; same speed: the cheaper; all equal: the smaller size
    same_cost = Tuning("f", "arm64", 1769, (point(128, 90, "1"), point(256, 80, "1")))
    assert same_cost.best("cost").memory_mb == 256
    same_speed = Tuning("f", "arm64", 1769, (point(128, 80, "2"), point(256, 80, "1")))
    assert same_speed.best("speed").memory_mb == 256
    equal = Tuning("f", "arm64", 1769, (point(128, 80, "1"), point(256, 80, "1")))
    assert {equal.best(s).memory_mb for s in ("cost", "speed", "balanced")} == {128}


def test_a_zero_duration_function_is_not_a_division_by_zero(catalog) -> None:  # type: ignore[no-untyped-def]
    tuning = tune(measured(0.0, 0.0), catalog, sizes=(128, 256))
    assert tuning.best("balanced").memory_mb == 128  # both 0: the smaller


def test_bad_sizes_strategies_and_weights(catalog) -> None:  # type: ignore[no-untyped-def]
    function = measured()
    for sizes, message in [
        ((), "at least one"),
        ((64, 512), "64 MB: Lambda takes 128 to 10240"),
        ((512, 20000), "20000 MB"),
        ((256, 512, 256), "256 MB given twice"),
    ]:
        with pytest.raises(ValidationError, match=message):
            tune(function, catalog, sizes=sizes)
    tuning = tune(function, catalog, sizes=(128, 256))
    with pytest.raises(ValidationError, match="cost, speed, balanced"):
        tuning.best("cheapest")
    for weight in (Decimal("-0.1"), Decimal("1.5")):
        with pytest.raises(ValidationError, match=r"\[0, 1\]"):
            tuning.best("balanced", weight)


def test_to_dict_is_json_with_the_picks(catalog) -> None:  # type: ignore[no-untyped-def]
    document = tune(measured(), catalog).to_dict("balanced", Decimal("0.5"))
    assert json.loads(json.dumps(document)) == document
    assert document["best_mb"] == 1536
    assert document["picks"] == {"cost": 128, "speed": 1769, "balanced": 1536}
    assert document["measured_at_mb"] == MEASURED_AT_MB
    first = document["points"][0]
    assert first["per_invocation"]["compute"] == "0.00000123667285"
    assert first["per_million"]["compute"] == pytest.approx(1.23667285)


# ---------------------------------------------------------------- faaskit cost tune


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A SQLite store with ten ``add_note`` invocations of 100 ms, 50 ms on CPU."""
    url = f"sqlite:///{tmp_path / 'app.db'}"
    now = time.time()
    rows = [
        InvocationRecord("add_note", "http", now - 60 + i, 0.1, 0.05, None, False, None, "success")
        for i in range(10)
    ]

    return store_with_records(url, rows)


def test_cost_tune_json(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        capsys,
        "cost", "tune", APP, "add_note", "--database-url", store_url,
        "--sizes", "1769,128,3008", "--strategy", "speed", "--json",
    )  # fmt: skip
    assert (code, err) == (0, "")
    document = json.loads(out)
    assert [p["memory_mb"] for p in document["points"]] == [128, 1769, 3008]
    assert document["strategy"] == "speed" and document["best_mb"] == 1769
    # as the first test: 742 ms x 0.125 GB x ARM at 128 MB
    assert document["points"][0]["per_invocation"]["compute"] == "0.00000123667285"
    assert document["picks"]["cost"] == 128


def test_cost_tune_table(store_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "cost", "tune", APP, "add_note", "--database-url", store_url, "--arch", "x86"
    )
    assert code == 0
    assert "best by cost: 128 MB" in out
    assert "Total" in out and "INIT" in out and "$/1M" in out and "10,240" in out
    # 128 MB's row: 741 ms, 100-1,382 ms; x86 compute 0.09275 GB-s x X86 = $1.55/1M
    row = next(line for line in out.splitlines() if line.strip().startswith("128 "))
    assert row.split()[:5] == ["128", "741", "100-1,382", "1.55", "0.20"]
    # the picks line: cost 128 MB at (0.09275 GB-s x X86 + $0.0000002) x 1M = $1.75/1M
    assert "cost: 128 MB ($1.75/1M)" in out
    assert "speed: 1,769 MB" in out and "balanced(0.5): 1,536 MB" in out
    assert "1,769 MB" in out and "laptop core" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["add_not"], "did you mean add_note"),
        (["zzz"], "its functions: "),
        (["get_note"], "no invocation records of 'get_note'"),
        (["add_note", "--strategy", "fast"], "--strategy 'fast'"),
        (["add_note", "--weight", "2"], "--weight '2'"),
        (["add_note", "--sizes", "128,abc"], "--sizes '128,abc'"),
        (["add_note", "--sizes", "128,128"], "128 MB given twice"),
    ],
)
def test_cost_tune_mistakes_are_one_line(
    store_url: str, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out, err = run(capsys, "cost", "tune", APP, *args, "--database-url", store_url)
    assert code != 0 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err
