"""What happens after sign-up and activation, driven by events and durable tasks.

``user.registered`` → a welcome email 5 minutes later and an onboarding follow-up 3 days
later; ``user.activated`` → the post-activation email now. The delays come from
``SHOP_WELCOME_DELAY`` and ``SHOP_ONBOARDING_DELAY`` (seconds) so the demo can shorten them.
"""

from __future__ import annotations

import os
from datetime import timedelta

from pydantic import BaseModel

from faaskit import Context, Event
from shop.app import app, users
from shop.mail import provider


def _delay(variable: str, default: timedelta) -> timedelta:
    value = os.environ.get(variable)
    return timedelta(seconds=float(value)) if value else default


WELCOME_DELAY = _delay("SHOP_WELCOME_DELAY", timedelta(minutes=5))
ONBOARDING_DELAY = _delay("SHOP_ONBOARDING_DELAY", timedelta(days=3))


class UserRegistered(BaseModel):
    user_id: str
    email: str
    name: str
    source: str


class UserActivated(BaseModel):
    user_id: str
    email: str
    name: str


class UserTask(BaseModel):
    user_id: str


@app.subscribe("user.registered")
async def schedule_user_onboarding(event: Event[UserRegistered], ctx: Context) -> None:
    """Plan the welcome email and the onboarding follow-up (once per user)."""
    user_id = event.data.user_id
    payload = UserTask(user_id=user_id)
    ctx.schedule(send_welcome_email, payload, delay=WELCOME_DELAY, task_id=f"welcome-{user_id}")
    ctx.schedule(
        send_onboarding_followup, payload, delay=ONBOARDING_DELAY, task_id=f"onboarding-{user_id}"
    )


@app.task(max_attempts=5)
async def send_welcome_email(task: UserTask, ctx: Context) -> None:
    user = await ctx.documents(users).get(task.user_id)
    if user is None:  # deleted before the email was due
        return
    await provider.send(
        ctx,
        to=user.data["email"],
        subject=f"Welcome to the shop, {user.data['name']}!",
        template="welcome",
        data={"name": user.data["name"]},
    )


@app.task(max_attempts=5)
async def send_onboarding_followup(task: UserTask, ctx: Context) -> None:
    user = await ctx.documents(users).get(task.user_id)
    if user is None:
        return
    active = user.data["status"] == "active"
    await provider.send(
        ctx,
        to=user.data["email"],
        subject="Three tips for your first order" if active else "Finish setting up your account",
        template="onboarding-tips" if active else "onboarding-reminder",
        data={"name": user.data["name"]},
    )


@app.subscribe("user.activated")
async def after_activation(event: Event[UserActivated], ctx: Context) -> None:
    """Post-activation: confirm by email and record when onboarding completed."""
    await provider.send(
        ctx,
        to=event.data.email,
        subject="Your account is active",
        template="activated",
        data={"name": event.data.name},
    )
    user = await ctx.documents(users).get(event.data.user_id)
    if user is not None and "onboarded_at" not in user.data:
        data = {**user.data, "onboarded_at": ctx.now().isoformat()}
        ctx.documents(users).update(user.id, data, expected_version=user.version)
