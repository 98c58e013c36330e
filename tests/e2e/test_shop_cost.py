"""The cost report on the shop's own records, on both backends: sign-ups (and the emails
they set off), reads and orders go through the real runtime, their invocation records are
read back from the store and priced at the demo's profile on every platform."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from faaskit.cost.catalog import load_catalog
from faaskit.cost.measured import measure
from faaskit.cost.profile import DEMO_PROFILE
from faaskit.cost.report import build_report, verdict_lines
from faaskit.testing import AppHarness
from shop import app
from tests.e2e.order_support import order_body, place, register


async def test_the_shops_records_priced_at_the_demo_profile(backend_url: str) -> None:
    async with AppHarness(app, database_url=backend_url) as h:
        for n in range(4):
            body = {"email": f"user{n}@example.com", "name": f"User {n}"}
            assert (await h.http.post("/register", json=body)).status_code == 201
        await h.advance(timedelta(days=4))  # the welcome and onboarding emails go out
        ann = await register(h, "Ann Lee", "ann@example.com")
        for _ in range(2):
            await place(h, ann, order_body())
            got = await h.http.get(f"/users/{ann}", headers=h.auth(ann, "users:read"))
            assert got.status_code == 200
        assert h.runtime.recorder is not None
        await h.runtime.recorder.flush()
        records = await h.runtime.store.invocations()

    functions = measure(records)
    by_name = {f.function: f for f in functions}
    http_calls = sum(f.count for f in functions if f.trigger == "http")
    assert by_name["register"].count == 4 and by_name["register"].trigger == "http"
    assert http_calls >= 4 + 1 + 2 + 2
    assert any(f.trigger in ("message", "task") for f in functions)  # the emails

    report = build_report(functions, load_catalog(), DEMO_PROFILE, app="shop")
    priced = {f.measured.function: f for f in report.functions}
    # Each function runs as often beside the front door as it did here: 4 sign-ups out of
    # the HTTP calls, at 5,256,000 front-door requests a month.
    assert priced["register"].requests == int(Decimal(5_256_000) * 4 / http_calls)
    assert sum(f.requests for f in report.functions if f.measured.trigger == "http") in range(
        5_256_000 - len(functions), 5_256_001
    )
    for name, bill in report.totals.items():
        assert bill.total > 0
        assert bill.exact == sum(f.bills[name].exact for f in report.functions)
    assert report.totals["aws-lambda"].item("gateway").quantity > 0  # the HTTP API
    assert report.totals["aws-lambda"].item("queue").quantity > 0  # the emails' messages
    assert report.fleet.count >= 1 and report.vm.total > 0
    lines = verdict_lines(report)
    assert [line.split(":")[0] for line in lines] == list(report.totals)
    assert all("at the profile" in line and "at 100x" in line for line in lines)
