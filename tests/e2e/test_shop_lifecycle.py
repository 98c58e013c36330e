"""The shop's event-driven part: sign-up and activation events, the welcome email at +5
minutes and the onboarding follow-up at +3 days, on a virtual clock, on both backends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from faaskit.testing import AppHarness
from shop import app
from shop.mail import provider

ADMIN = ("admin", "users:read", "users:write", "users:staff")
NEW_USER = {"email": "ann@example.com", "name": "Ann Lee", "password": "s3cret-pass"}


@pytest.fixture
async def shop(backend_url: str) -> AsyncIterator[AppHarness]:
    async with AppHarness(app, database_url=backend_url) as harness:
        yield harness
    provider.fail_next(0)


async def mailbox(shop: AppHarness) -> list[dict]:
    response = await shop.http.get("/mailbox", headers=shop.auth(*ADMIN))
    assert response.status_code == 200
    return response.json()


async def create_user(shop: AppHarness) -> str:
    response = await shop.http.post("/users", json=NEW_USER, headers=shop.auth(*ADMIN))
    assert response.status_code == 201
    return response.json()["id"]


async def test_sign_up_publishes_user_registered_with_the_user(shop: AppHarness) -> None:
    user_id = await create_user(shop)
    registered = await shop.published("user.registered")
    assert [m.data for m in registered] == [
        {"user_id": user_id, "email": "ann@example.com", "name": "Ann Lee", "source": "users"}
    ]
    assert registered[0].key == user_id


async def test_a_refused_sign_up_publishes_nothing(shop: AppHarness) -> None:
    await create_user(shop)
    duplicate = await shop.http.post("/register", json={"email": "ANN@example.com", "name": "A"})
    assert duplicate.status_code == 409
    assert len(await shop.published("user.registered")) == 1


async def test_welcome_email_goes_out_five_minutes_after_sign_up(shop: AppHarness) -> None:
    signed_up = shop.now()
    await create_user(shop)
    await shop.advance(timedelta(minutes=4, seconds=59))
    assert await mailbox(shop) == []
    await shop.advance(timedelta(seconds=1))
    [welcome] = await mailbox(shop)
    assert welcome["template"] == "welcome"
    assert welcome["to"] == "ann@example.com"
    assert welcome["sent_at"] == (signed_up + timedelta(minutes=5)).isoformat()


async def test_onboarding_follow_up_goes_out_three_days_after_sign_up(shop: AppHarness) -> None:
    signed_up = shop.now()
    response = await shop.http.post("/register", json={"email": "bo@example.com", "name": "Bo"})
    assert response.status_code == 201
    await shop.advance(timedelta(days=3) - timedelta(seconds=1))
    assert [m["template"] for m in await mailbox(shop)] == ["welcome"]
    await shop.advance(timedelta(seconds=1))
    follow_up = (await mailbox(shop))[-1]
    assert follow_up["template"] == "onboarding-reminder"
    assert follow_up["sent_at"] == (signed_up + timedelta(days=3)).isoformat()


async def test_activation_runs_the_post_activation_tasks(shop: AppHarness) -> None:
    user_id = await create_user(shop)
    activated = await shop.http.post(f"/users/{user_id}/activate", headers=shop.auth(*ADMIN))
    assert activated.status_code == 200
    await shop.drain()
    assert [m["template"] for m in await mailbox(shop)] == ["activated"]
    user = await shop.http.get(f"/users/{user_id}", headers=shop.auth(*ADMIN))
    assert user.json()["status"] == "active"
    # Activating again publishes nothing new: the event is once per user.
    await shop.http.post(f"/users/{user_id}/activate", headers=shop.auth(*ADMIN))
    await shop.drain()
    assert len(await shop.published("user.activated")) == 1
    await shop.advance(timedelta(days=3))
    assert [m["template"] for m in await mailbox(shop)] == [
        "activated",
        "welcome",
        "onboarding-tips",
    ]


async def test_a_mail_outage_is_retried_and_the_email_sent_once(shop: AppHarness) -> None:
    await create_user(shop)
    provider.fail_next(2)
    await shop.advance(timedelta(minutes=10))
    letters = await mailbox(shop)
    assert [m["template"] for m in letters] == ["welcome"]
    assert await shop.dead_letters() == []


async def test_a_user_deleted_before_the_welcome_gets_no_email(shop: AppHarness) -> None:
    user_id = await create_user(shop)
    deleted = await shop.http.delete(f"/users/{user_id}", headers=shop.auth(*ADMIN))
    assert deleted.status_code == 204
    await shop.advance(timedelta(days=4))
    assert await mailbox(shop) == []
