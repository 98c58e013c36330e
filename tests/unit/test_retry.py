"""``faaskit.retry``: retries of outside calls within an invocation (src/faaskit/retries.py).

Waits are recorded by a fake ``sleep=`` (no test sleeps), except where a wait bounded by
the invocation is the point; there the waits asked for are a second and never taken.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import faaskit
from faaskit import App, ConfigurationError, Context, TooManyRequestsError
from faaskit.runtime.invocation import Invocation, current_invocation
from faaskit.testing import AppHarness

README = Path(__file__).resolve().parents[2] / "README.md"


class Blip(ConnectionError):
    """What an outside service's client raises for a reset connection."""


def flaky(failures: int, error: type[Exception] = Blip) -> tuple[list[BaseException], Any]:
    """A call that fails ``failures`` times, then answers "ok"; the errors it raised."""
    raised: list[BaseException] = []

    def call() -> str:
        if len(raised) < failures:
            raised.append(error(f"blip {len(raised) + 1}"))
            raise raised[-1]
        return "ok"

    return raised, call


@pytest.fixture
def ceilings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Full jitter draws uniform(0, ceiling); here every draw is the ceiling itself."""
    monkeypatch.setattr(random, "uniform", lambda low, high: high)


def test_a_sync_call_is_retried_until_it_succeeds() -> None:
    slept: list[float] = []
    raised, call = flaky(2)
    retried = faaskit.retry(attempts=3, sleep=slept.append)(call)

    assert retried() == "ok"
    assert len(raised) == 2 and len(slept) == 2


async def test_an_async_call_is_retried_until_it_succeeds() -> None:
    slept: list[float] = []
    raised, call = flaky(3)

    @faaskit.retry(attempts=4, on=Blip, sleep=slept.append)
    async def fetch() -> str:
        await asyncio.sleep(0)
        return call()

    assert await fetch() == "ok"
    assert len(raised) == 3 and len(slept) == 3
    assert fetch.__name__ == "fetch"  # functools.wraps: logs and tracebacks name it


def test_after_the_last_attempt_the_original_error_is_raised() -> None:
    slept: list[float] = []
    raised, call = flaky(10)
    retried = faaskit.retry(attempts=4, sleep=slept.append)(call)

    with pytest.raises(Blip) as caught:
        retried()

    assert caught.value is raised[-1]  # the last error itself, not a tenacity RetryError
    assert len(raised) == 4 and len(slept) == 3


def test_only_the_listed_exceptions_are_retried() -> None:
    slept: list[float] = []
    raised, call = flaky(1, error=KeyError)
    retried = faaskit.retry(attempts=5, on=(Blip, TimeoutError), sleep=slept.append)(call)

    with pytest.raises(KeyError):
        retried()

    assert len(raised) == 1 and slept == []


def test_a_predicate_chooses_which_errors_are_retried() -> None:
    class Answered(Exception):
        def __init__(self, status: int) -> None:
            super().__init__(f"HTTP {status}")
            self.status = status

    statuses = iter([503, 502, 404])

    def call() -> None:
        raise Answered(next(statuses))

    slept: list[float] = []
    retried = faaskit.retry(
        attempts=5, on=lambda error: getattr(error, "status", 0) >= 500, sleep=slept.append
    )(call)

    with pytest.raises(Answered) as caught:
        retried()

    assert caught.value.status == 404 and len(slept) == 2  # two 5xx retried, the 404 not


async def test_a_cancellation_is_never_retried_even_when_on_says_so() -> None:
    calls: list[int] = []

    @faaskit.retry(attempts=5, on=BaseException, sleep=lambda seconds: None)
    async def call() -> None:
        calls.append(1)
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await call()

    assert calls == [1]


def test_waits_grow_exponentially_up_to_max_wait(ceilings: None) -> None:
    slept: list[float] = []
    _, call = flaky(10)
    retried = faaskit.retry(attempts=7, backoff=0.1, max_wait=1.0, sleep=slept.append)(call)

    with pytest.raises(Blip):
        retried()

    assert slept == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])


def test_waits_are_jittered_below_their_ceiling() -> None:
    slept: list[float] = []
    _, call = flaky(1000)
    retried = faaskit.retry(attempts=41, backoff=1.0, max_wait=1.0, sleep=slept.append)(call)

    with pytest.raises(Blip):
        retried()

    assert len(slept) == 40 and all(0 <= wait <= 1.0 for wait in slept)
    assert len(set(slept)) > 30  # full jitter, not a fixed wait that synchronises callers


def test_a_retry_after_longer_than_the_backoff_is_waited_for() -> None:
    slept: list[float] = []
    errors = iter([TooManyRequestsError("slow down", retry_after=0.7)])

    def call() -> str:
        for error in errors:
            raise error
        return "ok"

    retried = faaskit.retry(attempts=3, backoff=0.01, max_wait=1.0, sleep=slept.append)(call)

    assert retried() == "ok"
    assert slept == [0.7]  # sooner, it would only be refused again


def test_a_retry_after_beyond_max_wait_gives_up_at_once() -> None:
    slept: list[float] = []
    refusal = TooManyRequestsError("slow down", retry_after=30)

    def call() -> None:
        raise refusal

    retried = faaskit.retry(attempts=5, max_wait=2.0, sleep=slept.append)(call)

    with pytest.raises(TooManyRequestsError) as caught:
        retried()

    assert caught.value is refusal and slept == []  # a message retry's job, not a sleep


def test_the_retry_s_own_deadline_stops_waits_that_would_cross_it(ceilings: None) -> None:
    slept: list[float] = []
    raised, call = flaky(10)
    retried = faaskit.retry(
        attempts=10, backoff=0.2, max_wait=1.0, deadline=0.5, sleep=slept.append
    )(call)

    with pytest.raises(Blip) as caught:
        retried()

    # the fake sleeps take no time: 0.2 and 0.4 fit, a wait of 0.8 would cross 0.5
    assert caught.value is raised[-1]
    assert slept == pytest.approx([0.2, 0.4]) and len(raised) == 3


def test_a_deadline_shorter_than_the_first_wait_means_one_attempt(ceilings: None) -> None:
    slept: list[float] = []
    raised, call = flaky(10)
    retried = faaskit.retry(
        attempts=5, backoff=1.0, max_wait=1.0, deadline=0.5, sleep=slept.append
    )(call)

    with pytest.raises(Blip):
        retried()

    assert len(raised) == 1 and slept == []


def test_iterating_retries_a_block() -> None:
    slept: list[float] = []
    raised, call = flaky(2)
    answers = []
    for attempt in faaskit.retry(attempts=3, sleep=slept.append):
        with attempt:
            answers.append(call())

    assert answers == ["ok"] and len(raised) == 2 and len(slept) == 2


async def test_async_iteration_retries_a_block_and_reraises_the_last_error() -> None:
    slept: list[float] = []
    raised, call = flaky(10)

    with pytest.raises(Blip) as caught:
        async for attempt in faaskit.retry(attempts=3, sleep=slept.append):
            with attempt:
                await asyncio.sleep(0)
                call()

    assert caught.value is raised[-1] and len(raised) == 3


async def test_one_policy_serves_concurrent_calls_apart() -> None:
    policy = faaskit.retry(attempts=3, sleep=asyncio.sleep)
    calls: dict[str, int] = {}

    async def call(key: str, failures: int) -> str:
        calls[key] = calls.get(key, 0) + 1
        await asyncio.sleep(0)
        if calls[key] <= failures:
            raise Blip(key)
        return key

    fetch = policy(call)
    answers = await asyncio.gather(fetch("a", 2), fetch("b", 0), fetch("c", 1))

    assert answers == ["a", "b", "c"] and calls == {"a": 3, "b": 1, "c": 2}


async def test_blocking_sleeps_on_the_event_loop_are_refused() -> None:
    _, call = flaky(1)
    retried = faaskit.retry(attempts=2)(call)

    with pytest.raises(RuntimeError, match="async def"):
        retried()


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({"attempts": 0}, "attempts="),
        ({"attempts": True}, "attempts="),
        ({"backoff": -1}, "backoff="),
        ({"max_wait": float("inf")}, "max_wait="),
        ({"deadline": 0}, "deadline="),
        ({"on": "ConnectionError"}, "on="),
        ({"on": (Blip, int)}, "on="),
        ({"on": ()}, "on="),
        ({"name": ""}, "name="),
    ],
)
def test_bad_options_are_configuration_errors(options: dict[str, Any], says: str) -> None:
    with pytest.raises(ConfigurationError, match=re.escape(says)):
        faaskit.retry(**options)


def test_without_tenacity_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tenacity", None)  # as if not installed

    with pytest.raises(ConfigurationError, match=re.escape("pip install 'faaskit[retry]'")):
        faaskit.retry(attempts=3)


def test_declaring_a_retry_does_not_import_tenacity(tmp_path: Path) -> None:
    script = (
        "import sys, faaskit\n"
        "@faaskit.retry(attempts=3, on=OSError)\n"
        "async def fetch(): ...\n"
        "print('tenacity' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"  # it loads on the first call (a cold start)


# Through the runtime: a real handler, its invocation's deadline, logs and /metrics.


def sample(scraped: str, name: str, **labels: str) -> float | None:
    """The value of the series ``name{labels}`` on a /metrics page (None: not there)."""
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(scraped):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None


def rates_app(failures: int, **policy: Any) -> tuple[App, list[BaseException], list[float]]:
    """``GET /rates`` calls an outside service (failing ``failures`` times) through a
    retried client function, and writes a document in the same invocation."""
    app = App("rates")
    raised, call = flaky(failures)
    slept: list[float] = []
    options = {"attempts": 3, "sleep": slept.append, **policy}

    @faaskit.retry(**options)
    async def fetch_rates() -> str:
        return call()

    @app.get("/rates")
    async def rates(ctx: Context) -> dict[str, str]:
        ctx.documents("lookups").insert(ctx.request_id, {"ok": True})
        return {"rates": await fetch_rates()}

    return app, raised, slept


async def test_a_handler_whose_call_fails_twice_then_succeeds_answers_and_commits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, raised, slept = rates_app(2)
    async with AppHarness(app) as h:
        with caplog.at_level(logging.INFO, logger="faaskit.retry"):
            answer = await h.http.get("/rates")
        scraped = (await h.http.get("/metrics")).text
        lookups = await h.runtime.store.find("lookups", {})

    assert answer.status_code == 200 and answer.json() == {"rates": "ok"}
    assert len(raised) == 2 and len(lookups) == 1
    call = "rates_app.<locals>.fetch_rates"
    series = {"function": "rates", "call": call}
    assert sample(scraped, "faaskit_outside_call_retries_total", **series) == 2
    waited = sample(scraped, "faaskit_outside_call_retry_wait_seconds_total", **series)
    assert waited == pytest.approx(sum(slept))
    lines = [r for r in caplog.records if r.name == "faaskit.retry"]
    assert [r.levelname for r in lines] == ["INFO", "INFO"]
    fields = [r.fields for r in lines]  # type: ignore[attr-defined]
    assert [f["attempt"] for f in fields] == [1, 2]
    assert all(f["function"] == "rates" and f["call"] == call for f in fields)
    assert all(f["error_type"] == "Blip" and f["request_id"] for f in fields)
    assert [f["wait"] for f in fields] == pytest.approx(slept, abs=1e-3)
    assert "blip 1" in lines[0].getMessage()


async def test_a_call_that_gives_up_fails_the_invocation_and_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app, raised, _ = rates_app(10)
    async with AppHarness(app) as h:
        with caplog.at_level(logging.INFO, logger="faaskit.retry"):
            answer = await h.http.get("/rates")
        scraped = (await h.http.get("/metrics")).text
        lookups = await h.runtime.store.find("lookups", {})

    assert answer.status_code == 500 and len(raised) == 3 and lookups == []
    series = {"function": "rates", "call": "rates_app.<locals>.fetch_rates"}
    exhausted = "faaskit_outside_call_retries_exhausted_total"
    assert sample(scraped, exhausted, **series, reason="attempts") == 1
    assert sample(scraped, "faaskit_outside_call_retries_total", **series) == 2
    warning = [r for r in caplog.records if r.name == "faaskit.retry" and r.levelname == "WARNING"]
    assert len(warning) == 1 and warning[0].fields["reason"] == "attempts"  # type: ignore[attr-defined]


async def test_a_platform_deadline_half_a_second_away_stops_waits_of_a_second(
    ceilings: None,
) -> None:
    app, raised, slept = rates_app(10, attempts=5, backoff=1.0, max_wait=1.0)
    async with AppHarness(app) as h:
        # what a cloud adapter says about the invocation under way (a Lambda's deadline)
        token = current_invocation.set(Invocation(False, None, deadline=time.time() + 0.5))
        try:
            answer = await h.http.get("/rates")
        finally:
            current_invocation.reset(token)
        scraped = (await h.http.get("/metrics")).text

    assert answer.status_code == 500
    assert len(raised) == 1 and slept == []  # the wait would outlive the invocation
    series = {"function": "rates", "call": "rates_app.<locals>.fetch_rates"}
    exhausted = "faaskit_outside_call_retries_exhausted_total"
    assert sample(scraped, exhausted, **series, reason="invocation") == 1


async def test_a_task_s_own_timeout_bounds_the_waits_and_the_message_retry_takes_over(
    ceilings: None,
) -> None:
    app = App("timeouts")
    raised, call = flaky(10)
    runs: list[float] = []

    @faaskit.retry(attempts=5, backoff=1.0, max_wait=1.0)  # real sleeps: none is taken
    async def notify() -> str:
        return call()

    @app.task(timeout=0.5, max_attempts=2)
    async def send(payload: dict[str, Any]) -> None:
        started = time.monotonic()
        try:
            await notify()
        finally:
            runs.append(time.monotonic() - started)

    @app.post("/send", status=202)
    async def ask(ctx: Context) -> None:
        ctx.schedule(send, {})

    async with AppHarness(app) as h:
        assert (await h.http.post("/send")).status_code == 202
        await h.advance(timedelta(hours=1))  # the first attempt, then the message's retry
        [dead] = await h.dead_letters()

    assert len(raised) == 2 and all(seconds < 0.5 for seconds in runs)  # no wait sat out
    # each attempt failed with the call's own error, not a TimeoutError of the worker's
    assert [e["error"] for e in dead.errors] == ["Blip: blip 1", "Blip: blip 2"]


async def test_a_sync_handler_retries_in_its_thread_with_real_short_sleeps() -> None:
    app = App("sync_rates")
    raised, call = flaky(2)

    @faaskit.retry(attempts=3, backoff=0.001, max_wait=0.002, name="rates-api")
    def fetch_rates() -> str:
        return call()

    @app.get("/rates")
    def rates() -> dict[str, str]:
        return {"rates": fetch_rates()}

    async with AppHarness(app) as h:
        answer = await h.http.get("/rates")
        scraped = (await h.http.get("/metrics")).text

    assert answer.json() == {"rates": "ok"} and len(raised) == 2
    # the thread saw its invocation: the retries are counted under the function's name
    series = {"function": "rates", "call": "rates-api"}  # its name=
    assert sample(scraped, "faaskit_outside_call_retries_total", **series) == 2


def readme_block() -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.DOTALL)
    return next(b for b in blocks if "faaskit.retry" in b)


async def test_the_readme_example_retries_a_blip(monkeypatch: pytest.MonkeyPatch) -> None:
    import httpx

    namespace: dict[str, Any] = {"__name__": "readme_retry"}
    exec(compile(readme_block(), "README.md retries", "exec"), namespace)
    app = namespace["app"]
    answers: list[Any] = [httpx.ConnectError("connection reset"), {"rate": 1.08}]
    original = httpx.AsyncClient.get

    async def get(self: httpx.AsyncClient, url: Any, **kwargs: Any) -> httpx.Response:
        if not str(url).startswith("https://"):  # the harness's own requests
            return await original(self, url, **kwargs)
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return httpx.Response(200, json=answer, request=httpx.Request("GET", url))

    monkeypatch.setattr(httpx.AsyncClient, "get", get)
    async with AppHarness(app) as h:
        answer = await h.http.get("/prices/EUR")

    assert answer.status_code == 200 and answer.json() == {"currency": "EUR", "rate": 1.08}
    assert answers == []  # the blip was retried within the request
