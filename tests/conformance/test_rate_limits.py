"""Durable token buckets (``Store.take_tokens``, ``faaskit.ratelimit``), on every backend.

Times are explicit epoch seconds (``now``) or a virtual clock: no test sleeps.
A ``cost`` above the bucket's capacity could never pass: the store answers ``math.inf``
and takes nothing; ``RateLimiter.take`` raises ValueError (a caller's bug, not a 429).
"""

from __future__ import annotations

import asyncio
import math
import sqlite3
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from faaskit import RateLimit, TooManyRequestsError
from faaskit.errors import ConfigurationError, ConflictError
from faaskit.http.problems import problem
from faaskit.ratelimit import RateLimiter
from faaskit.store import Store, create_store
from faaskit.store.protocol import InsertDocument, WriteSet, bucket_key
from faaskit.store.sqlite_limits import IDLE_GRACE, PURGE_LIMIT
from faaskit.testing import VirtualClock

T0 = 1_000_000.0


async def takes(store: Store, bucket: str, count: int, **bucket_args: float) -> list[float]:
    """The answers to ``count`` takes of one token each, in order."""
    args = {"capacity": 3.0, "refill_per_second": 0.5, "cost": 1.0, "now": T0, **bucket_args}
    return [await store.take_tokens(bucket, **args) for _ in range(count)]


def stored_buckets(url: str) -> set[str]:
    """The bucket keys a backend holds, read behind the store's back."""
    if url.startswith("sqlite:"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            rows = conn.execute("SELECT bucket FROM faaskit_rate_limits").fetchall()
    else:
        import psycopg

        with psycopg.connect(url) as conn:
            rows = conn.execute("SELECT bucket FROM faaskit_rate_limits").fetchall()
    return {row[0] for row in rows}


# --- taking and refilling ----------------------------------------------------------------


async def test_full_bucket_gives_capacity_takes_then_refuses_with_the_wait(store: Store) -> None:
    answers = await takes(store, "login:ann", 4)

    assert answers[:3] == [0.0, 0.0, 0.0]
    assert answers[3] == pytest.approx(2.0)  # one token at 0.5 a second


async def test_refusal_takes_nothing(store: Store) -> None:
    await takes(store, "b", 3)

    refusals = await takes(store, "b", 5, now=T0 + 1)  # half a token there, five times refused

    assert refusals == [pytest.approx(1.0)] * 5
    assert await takes(store, "b", 1, now=T0 + 2) == [0.0]


async def test_bucket_refills_partially_over_time(store: Store) -> None:
    await takes(store, "b", 3)

    assert await takes(store, "b", 1, now=T0 + 1.5) == [pytest.approx(0.5)]  # 0.75 there
    assert await takes(store, "b", 3, now=T0 + 4) == [0.0, 0.0, pytest.approx(2.0)]  # 2 came


async def test_refill_stops_at_capacity(store: Store) -> None:
    await takes(store, "b", 3)

    answers = await takes(store, "b", 4, now=T0 + 86_400)

    assert answers[:3] == [0.0, 0.0, 0.0]
    assert answers[3] == pytest.approx(2.0)


async def test_waiting_the_answered_seconds_is_enough(store: Store) -> None:
    rate = 3 / 7  # seconds that are no exact binary fraction
    now = T0
    for _ in range(10):
        answers = await takes(store, "b", 4, refill_per_second=rate, now=now)
        wait = next(answer for answer in answers if answer > 0)
        now += wait

        assert await takes(store, "b", 1, refill_per_second=rate, now=now) == [0.0]


async def test_cost_of_several_tokens_waits_for_all_of_them(store: Store) -> None:
    assert await takes(store, "b", 1, cost=2) == [0.0]

    assert await takes(store, "b", 1, cost=2) == [pytest.approx(2.0)]  # 1 there, 1 missing
    assert await takes(store, "b", 1, cost=1) == [0.0]  # the refusal took nothing


async def test_cost_above_capacity_is_never_there_and_takes_nothing(store: Store) -> None:
    assert await takes(store, "b", 1, cost=4) == [math.inf]

    assert await takes(store, "b", 4) == [0.0, 0.0, 0.0, pytest.approx(2.0)]


async def test_nonsense_bucket_arguments_raise_value_error(store: Store) -> None:
    for args in ({"cost": 0.0}, {"capacity": 0.0}, {"refill_per_second": -1.0}):
        with pytest.raises(ValueError, match="above 0"):
            await takes(store, "b", 1, **args)


async def test_buckets_are_independent(store: Store) -> None:
    await takes(store, "login:ann", 3)

    assert await takes(store, "login:bob", 3) == [0.0, 0.0, 0.0]
    assert (await takes(store, "login:ann", 1))[0] > 0


async def test_a_clock_behind_the_bucket_refills_nothing(store: Store) -> None:
    await takes(store, "b", 3)

    # Another process's clock, ten seconds behind: no refill, no negative refill either.
    assert await takes(store, "b", 1, now=T0 - 10) == [pytest.approx(2.0)]
    assert await takes(store, "b", 1, now=T0 + 2) == [0.0]


async def test_buckets_persist_across_reopening_the_store(backend_url: str) -> None:
    for expected in ([0.0, 0.0, 0.0], [pytest.approx(2.0)]):
        store = create_store(backend_url)
        await store.open()
        try:
            assert await takes(store, "b", len(expected)) == expected
        finally:
            await store.close()


# --- keys from client input --------------------------------------------------------------

ODD_KEYS = {
    "nul": "login:ann\x00@example.com",
    "huge": "login:" + "a" * 1_000_000,
    "unicode": "login:Ünïcødé ✉ 🙂 用户@例子.广告",
    "lone-surrogate": "login:\udcff",
    "digest-lookalike": "sha256:" + "0" * 64,
    "empty": "",
}


@pytest.mark.parametrize("key", ODD_KEYS.values(), ids=ODD_KEYS.keys())
async def test_any_text_is_a_bucket_key(store: Store, key: str) -> None:
    assert await takes(store, key, 4) == [0.0, 0.0, 0.0, pytest.approx(2.0)]


async def test_hashed_keys_stay_independent(store: Store) -> None:
    near = ["a\x00b", "a\x00c", "x" * 10_000 + "1", "x" * 10_000 + "2"]

    for key in near:
        assert await takes(store, key, 3) == [0.0, 0.0, 0.0]


def test_a_key_cannot_pick_another_keys_digest() -> None:
    hashed = bucket_key("a\x00b")

    assert hashed.startswith("sha256:")
    assert bucket_key(hashed) != hashed
    assert bucket_key("login:ann@example.com") == "login:ann@example.com"


# --- concurrency -------------------------------------------------------------------------


async def test_two_connections_hammering_one_bucket_take_exactly_capacity(
    backend_url: str,
) -> None:
    stores = [create_store(backend_url) for _ in range(2)]
    for store in stores:
        await store.open()
    try:
        answers = await asyncio.gather(
            *(store.take_tokens("hot", 50.0, 0.001, 1.0, T0) for _ in range(60) for store in stores)
        )
    finally:
        for store in stores:
            await store.close()

    assert answers.count(0.0) == 50
    assert all(answer > 0 for answer in answers if answer != 0.0)


_TAKER = textwrap.dedent(
    """
    import asyncio, sys, time
    from faaskit.store import create_store

    async def main(url: str, start: float, count: int) -> None:
        store = create_store(url)
        await store.open()
        try:
            await asyncio.sleep(max(start - time.time(), 0))  # both processes start together
            taken = 0
            for _ in range(count):
                if await store.take_tokens("hot", 100.0, 0.001, 1.0, 1_000_000.0) == 0.0:
                    taken += 1
            print(taken)
        finally:
            await store.close()

    asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3])))
    """
)


def test_two_processes_hammering_one_bucket_take_exactly_capacity(
    backend_url: str, tmp_path: Path
) -> None:
    script = tmp_path / "taker.py"
    script.write_text(_TAKER)
    start = time.time() + 2  # after both have imported and opened the store

    processes = [
        subprocess.Popen(
            [sys.executable, str(script), backend_url, str(start), "150"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [process.communicate(timeout=60) for process in processes]

    assert [process.returncode for process in processes] == [0, 0], results
    taken = [int(out.strip()) for out, _ in results]
    assert sum(taken) == 100, taken


async def test_a_failing_unit_of_work_keeps_the_token_spent(store: Store) -> None:
    doc = InsertDocument("users", "u1", {"email": "ann@example.com"}, [], "t")
    await store.commit(WriteSet([doc]))

    # Committed together (SQLite batches them in one transaction): the unit fails, the
    # take stays.
    results = await asyncio.gather(
        store.commit(WriteSet([doc])),
        store.take_tokens("login:ann", 1.0, 0.001, 1.0, T0),
        return_exceptions=True,
    )

    assert isinstance(results[0], ConflictError)
    assert results[1] == 0.0
    assert (await takes(store, "login:ann", 1, capacity=1.0))[0] > 0


# --- old buckets -------------------------------------------------------------------------


async def test_old_full_buckets_are_deleted_and_live_ones_kept(backend_url: str) -> None:
    now = T0 + 10 * IDLE_GRACE
    first = create_store(backend_url)
    await first.open()
    try:
        await takes(first, "old-1", 2)  # full again 6 s later, long ago
        await takes(first, "old-2", 3)
        await takes(first, "live", 3, refill_per_second=0.0001, now=now - 60)  # not full
        await takes(first, "recent", 1, now=now - 60)  # full, but only for a minute
    finally:
        await first.close()
    assert stored_buckets(backend_url) == {"old-1", "old-2", "live", "recent"}

    second = create_store(backend_url)  # a new process: its first take purges
    await second.open()
    try:
        await takes(second, "other", 1, now=now)

        assert stored_buckets(backend_url) == {"live", "recent", "other"}
        assert (await takes(second, "live", 1, refill_per_second=0.0001, now=now))[0] > 0
        assert await takes(second, "old-1", 3, now=now) == [0.0, 0.0, 0.0]  # read as full
    finally:
        await second.close()


async def test_one_purge_deletes_a_bounded_number_of_buckets(backend_url: str) -> None:
    first = create_store(backend_url)
    await first.open()
    try:
        for i in range(PURGE_LIMIT + 20):
            await first.take_tokens(f"old-{i}", 1.0, 1.0, 1.0, T0)
    finally:
        await first.close()

    second = create_store(backend_url)
    await second.open()
    try:
        await second.take_tokens("other", 1.0, 1.0, 1.0, T0 + 10 * IDLE_GRACE)
    finally:
        await second.close()

    assert len(stored_buckets(backend_url)) == 20 + 1


# --- RateLimiter ---------------------------------------------------------------------------


async def test_rate_limiter_raises_too_many_requests_with_retry_after(store: Store) -> None:
    clock = VirtualClock(datetime(2026, 1, 1, tzinfo=UTC))
    limiter = RateLimiter(store, clock)
    rule = RateLimit(5, per=timedelta(minutes=1), burst=2)

    await limiter.take("login:ann", rule)
    await limiter.take("login:ann", rule)
    with pytest.raises(TooManyRequestsError) as refused:
        await limiter.take("login:ann", rule)

    assert refused.value.status == 429
    assert refused.value.retry_after == pytest.approx(12.0)  # one token every 12 s
    clock.advance(timedelta(seconds=12))
    await limiter.take("login:ann", rule)


async def test_rate_limiter_refuses_a_cost_above_capacity(store: Store) -> None:
    limiter = RateLimiter(store, VirtualClock())

    with pytest.raises(ValueError, match="could never pass"):
        await limiter.take("b", RateLimit(3, per=1), cost=4)
    with pytest.raises(ValueError, match="1 or more"):
        await limiter.take("b", RateLimit(3, per=1), cost=0)


# --- the rule and the HTTP answer (no backend) --------------------------------------------


def test_rate_limit_takes_seconds_or_a_timedelta() -> None:
    rule = RateLimit(5, per=timedelta(minutes=1))

    assert rule == RateLimit(5, per=60)
    assert rule.per == 60.0
    assert rule.capacity == 5
    assert rule.refill_per_second == pytest.approx(5 / 60)
    assert RateLimit(10, per=1, burst=20).capacity == 20


@pytest.mark.parametrize(
    "args",
    [(0, 1.0), (1, 0.0), (1, -1.0), (1, math.inf), (1, "60"), (1.5, 1.0), (1, 1.0, 0)],
    ids=["no-limit", "no-time", "negative-time", "endless", "text", "fraction", "no-burst"],
)
def test_rate_limit_refuses_nonsense_with_configuration_error(args: tuple[object, ...]) -> None:
    with pytest.raises(ConfigurationError, match="RateLimit"):
        RateLimit(*args)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("retry_after", "header"), [(12.0, b"12"), (1.2, b"2"), (0.001, b"1"), (0.0, b"1")]
)
def test_429_problem_says_retry_after_in_whole_seconds_rounded_up(
    retry_after: float, header: bytes
) -> None:
    error = TooManyRequestsError(retry_after=retry_after)

    status, headers, body = problem(error, instance="/login", request_id="r1", realm="app")

    assert status == 429
    assert dict(headers)[b"retry-after"] == header
    assert orjson.loads(body)["title"] == "Too Many Requests"
