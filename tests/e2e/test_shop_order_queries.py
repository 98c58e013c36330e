"""The orders read model on both backends: the projection, who sees what, search (text,
filters, ranges, paging, sort, highlights), hostile queries, analytics, and the ``order.*``
integration events."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

from faaskit.testing import AppHarness
from shop import app
from tests.e2e.order_support import (
    admin,
    customer,
    line,
    order_body,
    place,
    register,
    sagas_held,
)
from tests.e2e.shop_support import assert_problem, error_fields


@pytest.fixture
async def harness(backend_url: str) -> AsyncIterator[AppHarness]:
    with sagas_held(app):  # the read model alone: each order stays as its commands left it
        async with AppHarness(app, database_url=backend_url) as h:
            yield h


async def get_orders(h: AppHarness, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await h.http.get("/orders", params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ids(page: dict[str, Any]) -> list[str]:
    return [item["order_id"] for item in page["items"]]


async def cancel(h: AppHarness, order_id: str, headers: dict[str, str]) -> None:
    response = await h.http.post(
        f"/orders/{order_id}/cancel", json={"reason": "changed my mind"}, headers=headers
    )
    assert response.status_code == 200, response.text


class Catalogue:
    """Three customers' orders on three days (2030-01-01, -02, -03, 09:00 UTC)."""

    def __init__(self, ann: str, bob: str, lamp: str, chair: str, shade: str) -> None:
        self.ann, self.bob = ann, bob
        self.lamp, self.chair, self.shade = lamp, chair, shade


@pytest.fixture
async def catalogue(harness: AppHarness) -> Catalogue:
    ann = await register(harness, "Ann Lee", "ann@example.com")
    bob = await register(harness, "Bob Marsh", "bob@example.com")
    lamp = await place(harness, ann, order_body(line("Desk Lamp", 2, 19.99), city="Berlin"))
    harness.clock.advance(timedelta(days=1))
    chair = await place(
        harness, bob, order_body(line("Office Chair", 1, 120.0), city="Paris", priority="high")
    )
    harness.clock.advance(timedelta(days=1))
    shade = await place(harness, ann, order_body(line("Lamp Shade", 1, 5.5), city="Paris"))
    await cancel(harness, shade, customer(harness, ann))
    await harness.drain()
    return Catalogue(ann, bob, lamp, chair, shade)


# -- the projection ---------------------------------------------------------------------


async def test_the_read_model_follows_the_commands_once_the_projection_ran(
    harness: AppHarness,
) -> None:
    ann = await register(harness, "Ann Lee", "ann@example.com")
    headers = customer(harness, ann)
    order_id = await place(harness, ann)
    path = f"/orders/{order_id}"

    assert_problem(await harness.http.get(path, headers=headers), 404)  # not projected yet
    await harness.drain()
    view = (await harness.http.get(path, headers=headers)).json()
    assert view["customer_name"] == "Ann Lee"
    assert view["product_names"] == ["Desk Lamp", "Bulb"]
    assert (view["status"], view["total"], view["shipping_city"]) == ("pending", 40.28, "Berlin")
    assert view["created_at"] == harness.now().isoformat()

    changes = {
        "priority": "urgent",
        "shipping_address": order_body(city="Oslo")["shipping_address"],
    }
    assert (await harness.http.patch(path, json=changes, headers=headers)).status_code == 200
    await cancel(harness, order_id, headers)
    assert (await harness.http.get(path, headers=headers)).json()["status"] == "pending"
    await harness.drain()
    view = (await harness.http.get(path, headers=headers)).json()
    assert (view["status"], view["priority"], view["shipping_city"]) == (
        "cancelled",
        "urgent",
        "Oslo",
    )
    assert (view["cancel_reason"], view["version"]) == ("changed my mind", 3)
    found = await get_orders(harness, headers, q="oslo")
    assert ids(found) == [order_id]  # the index follows the document
    assert (await get_orders(harness, headers, q="berlin"))["total"] == 0


async def test_integration_events_are_published_once_each(harness: AppHarness) -> None:
    ann = await register(harness, "Ann Lee", "ann@example.com")
    order_id = await place(harness, ann)
    await harness.drain()
    await cancel(harness, order_id, customer(harness, ann))
    await harness.drain()
    await harness.drain()

    [created] = await harness.published("order.created")
    [cancelled] = await harness.published("order.cancelled")
    assert created.key == cancelled.key == order_id
    assert created.data["customer_id"] == ann
    assert created.data["total"] == 40.28
    assert created.data["items"][0]["product_name"] == "Desk Lamp"
    assert cancelled.data == {
        "order_id": order_id,
        "customer_id": ann,
        "reason": "changed my mind",
        "cancelled_at": harness.now().isoformat(),
    }

    # Replaying the projection from the start rebuilds the same read model, and its
    # publications are recognised by message id: still one of each.
    before = (await harness.http.get(f"/orders/{order_id}", headers=admin(harness))).json()
    await harness.runtime.store.reset_projection("orders_view", ("orders_view",))
    await harness.drain()
    after = (await harness.http.get(f"/orders/{order_id}", headers=admin(harness))).json()
    assert after == before
    assert len(await harness.published("order.created")) == 1
    assert len(await harness.published("order.cancelled")) == 1


async def test_nothing_is_published_before_the_projection_runs(harness: AppHarness) -> None:
    await place(harness, "c")
    assert await harness.published("order.created") == []


# -- who sees what ----------------------------------------------------------------------


async def test_a_customer_lists_only_their_own_orders(
    harness: AppHarness, catalogue: Catalogue
) -> None:
    c = catalogue
    mine = await get_orders(harness, customer(harness, c.ann))
    assert set(ids(mine)) == {c.lamp, c.shade}
    assert ids(await get_orders(harness, customer(harness, c.bob))) == [c.chair]
    assert ids(await get_orders(harness, customer(harness, "nobody"))) == []

    theirs = await harness.http.get(
        "/orders", params={"customer_id": c.bob}, headers=customer(harness, c.ann)
    )
    assert_problem(theirs, 403)
    other = await harness.http.get(f"/customers/{c.bob}/orders", headers=customer(harness, c.ann))
    assert_problem(other, 403)
    own = await harness.http.get(f"/customers/{c.ann}/orders", headers=customer(harness, c.ann))
    assert ids(own.json()) == [c.shade, c.lamp]  # newest first


async def test_an_orders_admin_sees_everyones_orders(
    harness: AppHarness, catalogue: Catalogue
) -> None:
    c = catalogue
    everyone = await get_orders(harness, admin(harness))
    assert ids(everyone) == [c.shade, c.chair, c.lamp]
    assert ids(await get_orders(harness, admin(harness), customer_id=c.bob)) == [c.chair]
    bobs = await harness.http.get(f"/customers/{c.bob}/orders", headers=admin(harness))
    assert ids(bobs.json()) == [c.chair]
    one = await harness.http.get(f"/orders/{c.chair}", headers=admin(harness))
    assert one.json()["customer_name"] == "Bob Marsh"


async def test_queries_need_orders_read(harness: AppHarness, catalogue: Catalogue) -> None:
    assert_problem(await harness.http.get("/orders"), 401)
    users_only = harness.auth(catalogue.ann, "users:read")
    assert_problem(await harness.http.get("/orders", headers=users_only), 403)
    assert_problem(await harness.http.get(f"/orders/{catalogue.lamp}", headers=users_only), 403)


# -- search -----------------------------------------------------------------------------


async def test_text_search_ranks_and_highlights_matches(
    harness: AppHarness, catalogue: Catalogue
) -> None:
    c = catalogue
    lamps = await get_orders(harness, admin(harness), q="lamp")
    assert set(ids(lamps)) == {c.lamp, c.shade}
    for item in lamps["items"]:
        assert item["score"] is not None and item["score"] > 0
        assert "<mark>" in item["highlights"]["product_names"].lower()

    paris = await get_orders(harness, admin(harness), q="Paris")
    assert set(ids(paris)) == {c.chair, c.shade}
    assert all("<mark>Paris</mark>" in i["highlights"]["shipping_city"] for i in paris["items"])

    by_name = await get_orders(harness, admin(harness), q="marsh")
    assert ids(by_name) == [c.chair]
    assert "<mark>Marsh</mark>" in by_name["items"][0]["highlights"]["customer_name"]

    both = await get_orders(harness, admin(harness), q="ann paris")  # every word must match
    assert ids(both) == [c.shade]
    prefix = await get_orders(harness, admin(harness), q="off")  # a prefix of "Office"
    assert ids(prefix) == [c.chair]


async def test_a_customers_text_search_stays_within_their_orders(
    harness: AppHarness, catalogue: Catalogue
) -> None:
    found = await get_orders(harness, customer(harness, catalogue.bob), q="lamp")
    assert found["total"] == 0
    paris = await get_orders(harness, customer(harness, catalogue.bob), q="paris")
    assert ids(paris) == [catalogue.chair]


async def test_filters_and_date_ranges(harness: AppHarness, catalogue: Catalogue) -> None:
    c, headers = catalogue, admin(harness)
    assert ids(await get_orders(harness, headers, status="cancelled")) == [c.shade]
    assert set(ids(await get_orders(harness, headers, status="pending"))) == {c.lamp, c.chair}
    assert ids(await get_orders(harness, headers, priority="high")) == [c.chair]
    assert ids(await get_orders(harness, headers, q="lamp", status="pending")) == [c.lamp]

    # ``to`` takes in the whole day; ``from`` starts at its midnight.
    assert ids(
        await get_orders(harness, headers, **{"from": "2030-01-02", "to": "2030-01-02"})
    ) == [c.chair]
    assert ids(await get_orders(harness, headers, to="2030-01-01")) == [c.lamp]
    assert ids(await get_orders(harness, headers, **{"from": "2030-01-02"})) == [c.shade, c.chair]
    assert (await get_orders(harness, headers, **{"from": "2030-01-04"}))["total"] == 0


async def test_paging_counts_the_whole_result(harness: AppHarness) -> None:
    for n in range(5):
        await place(harness, "c", order_body(line("Desk Lamp", n + 1, 10.0)))
        harness.clock.advance(timedelta(minutes=1))
    await harness.drain()
    headers = customer(harness, "c")

    pages = [await get_orders(harness, headers, page=n, page_size=2) for n in (1, 2, 3, 4)]

    assert [(p["total"], p["total_pages"], p["page"]) for p in pages] == [
        (5, 3, 1),
        (5, 3, 2),
        (5, 3, 3),
        (5, 3, 4),
    ]
    assert [len(p["items"]) for p in pages] == [2, 2, 1, 0]
    seen = [order_id for page in pages for order_id in ids(page)]
    assert len(set(seen)) == 5
    totals = [item["total"] for page in pages for item in page["items"]]
    assert totals == [50.0, 40.0, 30.0, 20.0, 10.0]  # newest first by default
    text_pages = [await get_orders(harness, headers, q="lamp", page=n, page_size=3) for n in (1, 2)]
    assert [(p["total"], p["total_pages"], len(p["items"])) for p in text_pages] == [
        (5, 2, 3),
        (5, 2, 2),
    ]


async def test_sort_by_allowed_fields(harness: AppHarness, catalogue: Catalogue) -> None:
    c, headers = catalogue, admin(harness)
    assert ids(await get_orders(harness, headers, sort="total:asc")) == [c.shade, c.lamp, c.chair]
    assert ids(await get_orders(harness, headers, sort="total:desc")) == [c.chair, c.lamp, c.shade]
    assert ids(await get_orders(harness, headers, sort="created_at:asc")) == [
        c.lamp,
        c.chair,
        c.shade,
    ]
    assert ids(await get_orders(harness, headers, sort="status:asc"))[0] == c.shade  # cancelled
    by_total = await get_orders(harness, headers, q="paris", sort="total:desc")
    assert ids(by_total) == [c.chair, c.shade]


BAD_QUERIES = [
    ({"sort": "customer_id"}, "sort"),
    ({"sort": "customer_name:desc"}, "sort"),
    ({"sort": "total; DROP TABLE faaskit_documents"}, "sort"),
    ({"sort": "(SELECT 1):asc"}, "sort"),
    ({"sort": "created_at:sideways"}, "sort"),
    ({"page": "0"}, "page"),
    ({"page": "many"}, "page"),
    ({"page_size": "1000"}, "page_size"),
    ({"from": "yesterday"}, "from"),
    ({"to": "2030-02-30"}, "to"),
    ({"from": "2030-01-03", "to": "2030-01-01"}, "from"),
    ({"status": "' OR 1=1 --"}, "status"),
    ({"priority": "high' OR '1'='1"}, "priority"),
]


@pytest.mark.parametrize(("params", "field"), BAD_QUERIES, ids=[str(p) for p, _ in BAD_QUERIES])
async def test_a_query_outside_the_allow_lists_is_a_400(
    harness: AppHarness, catalogue: Catalogue, params: dict[str, str], field: str
) -> None:
    response = await harness.http.get("/orders", params=params, headers=admin(harness))
    assert field in error_fields(assert_problem(response, 400, case=params))


HOSTILE_TEXT = [
    '"; DROP TABLE faaskit_documents; --',
    "'; DELETE FROM faaskit_search; --",
    "*",
    "lamp*",
    "OR",
    "lamp OR paris",
    "NEAR(lamp paris)",
    "lamp NOT chair",
    "lamp AND",
    "customer_name:ann",
    "^lamp",
    '"lamp',
    "lamp & !chair | paris",
    "lamp:* | chair",
    "%' OR '1'='1",
    "\\",
    "()",
    "x" * 200,
    "l\u00e4mp \u202e \u200b",
]


@pytest.mark.parametrize("q", HOSTILE_TEXT)
async def test_hostile_text_is_only_ever_words(
    harness: AppHarness, catalogue: Catalogue, q: str
) -> None:
    headers = admin(harness)

    response = await harness.http.get("/orders", params={"q": q}, headers=headers)

    assert response.status_code == 200, response.text
    page = response.json()
    assert page["total"] == len(page["items"]) <= 3
    assert (await get_orders(harness, headers))["total"] == 3  # nothing dropped or changed
    lamps = await get_orders(harness, headers, q="lamp")
    assert lamps["total"] == 2  # the index too


@pytest.mark.parametrize("q", ["x" * 201, "l\u00e4mp \u0000"])
async def test_text_over_200_characters_or_with_nul_is_a_400(
    harness: AppHarness, catalogue: Catalogue, q: str
) -> None:
    response = await harness.http.get("/orders", params={"q": q}, headers=admin(harness))

    assert response.status_code == 400, response.text
    assert [error["loc"] for error in response.json()["errors"]] == [["query", "q"]]


async def test_operators_in_text_are_words_not_syntax(
    harness: AppHarness, catalogue: Catalogue
) -> None:
    headers = admin(harness)
    # "OR" would widen the match if it were syntax; as a word that no order holds, it narrows.
    assert (await get_orders(harness, headers, q="lamp OR paris"))["total"] == 0
    assert ids(await get_orders(harness, headers, q="lamp* paris")) == [catalogue.shade]
    assert ids(await get_orders(harness, headers, q='"desk lamp"')) == [catalogue.lamp]
    assert (await get_orders(harness, headers, q="*"))["total"] == 3  # no words: no text filter


async def test_a_filter_value_with_sql_matches_nothing(
    harness: AppHarness, catalogue: Catalogue
) -> None:
    for value in ("' OR '1'='1", f"{catalogue.ann}' --", '{"$ne": null}', "%"):
        page = await get_orders(harness, admin(harness), customer_id=value)
        assert page["total"] == 0, value
    assert (await get_orders(harness, admin(harness)))["total"] == 3


async def test_markup_in_indexed_text_comes_back_as_text(harness: AppHarness) -> None:
    """What a customer typed is returned as data; highlights wrap the match in <mark>."""
    name = 'Eve <img src=x onerror="alert(1)">'
    eve = await register(harness, name, "eve@example.com")
    await place(harness, eve, order_body(line("Desk Lamp", 1, 10.0)))
    await harness.drain()
    [hit] = (await get_orders(harness, admin(harness), q="eve"))["items"]
    assert hit["customer_name"] == name
    assert hit["highlights"]["customer_name"].startswith("<mark>Eve</mark>")


async def test_highlights_carry_no_markup_but_mark(harness: AppHarness) -> None:
    """Highlights are meant to be shown as HTML, so a customer's markup must not survive
    into them (else a name like this one runs script in an admin's browser)."""
    eve = await register(harness, 'Eve <img src=x onerror="alert(1)">', "eve@example.com")
    await place(harness, eve, order_body(line("Desk <b>Lamp</b>", 1, 10.0)))
    await harness.drain()
    [hit] = (await get_orders(harness, admin(harness), q="eve lamp"))["items"]
    for highlight in hit["highlights"].values():
        without_marks = highlight.replace("<mark>", "").replace("</mark>", "")
        assert "<" not in without_marks, highlight


# -- analytics --------------------------------------------------------------------------


async def test_analytics_needs_orders_admin(harness: AppHarness, catalogue: Catalogue) -> None:
    assert_problem(await harness.http.get("/orders/analytics"), 401)
    response = await harness.http.get("/orders/analytics", headers=customer(harness, catalogue.ann))
    assert_problem(response, 403)


async def test_analytics_sums_by_status_and_day(harness: AppHarness, catalogue: Catalogue) -> None:
    # A few cents that floating point would get wrong: 0.1 + 0.2 is 0.30000000000000004.
    await place(harness, "dee", order_body(line("Bulb", 1, 0.1)))
    await place(harness, "dee", order_body(line("Fuse", 1, 0.2)))
    await harness.drain()
    only_admin = harness.auth("analyst", "orders:admin")

    response = await harness.http.get("/orders/analytics", headers=only_admin)

    assert response.status_code == 200, response.text
    assert response.json() == {
        "from": None,
        "to": None,
        "orders": 5,
        "revenue": 160.28,  # 39.98 + 120.00 + 0.10 + 0.20; the cancelled 5.50 is not revenue
        "by_status": {
            "cancelled": {"orders": 1, "value": 5.5},
            "pending": {"orders": 4, "value": 160.28},
        },
        "by_day": [
            {"date": "2030-01-01", "orders": 1, "cancelled": 0, "revenue": 39.98},
            {"date": "2030-01-02", "orders": 1, "cancelled": 0, "revenue": 120.0},
            {"date": "2030-01-03", "orders": 3, "cancelled": 1, "revenue": 0.3},
        ],
    }

    window = await harness.http.get(
        "/orders/analytics", params={"from": "2030-01-02", "to": "2030-01-02"}, headers=only_admin
    )
    assert window.json()["orders"] == 1
    assert window.json()["revenue"] == 120.0
    assert window.json()["by_day"] == [
        {"date": "2030-01-02", "orders": 1, "cancelled": 0, "revenue": 120.0}
    ]
    backwards = await harness.http.get(
        "/orders/analytics", params={"from": "2030-01-03", "to": "2030-01-01"}, headers=only_admin
    )
    assert_problem(backwards, 400)
