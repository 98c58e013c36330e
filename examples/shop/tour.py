"""The shop's guided tour: a scripted walk over real HTTP, one table row per step.

``faaskit demo`` serves the shop on a scratch SQLite store and runs :func:`run_tour`.
Every step states the status it expects, so the tour doubles as a smoke test.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class Step:
    title: str
    method: str
    path: str
    expected: int
    shown: str = ""
    status: int = 0
    note: str = ""

    @property
    def ok(self) -> bool:
        return self.status == self.expected


Report = Callable[[Step], None]


class Tour:
    def __init__(self, client: httpx.Client, admin_token: str, report: Report) -> None:
        self.client = client
        self.admin = {"authorization": f"Bearer {admin_token}"}
        self.report = report
        self.steps: list[Step] = []
        self.names: dict[str, str] = {}
        """Ids shown by name in the table: {"bob": "3f2c…"}."""

    def step(
        self,
        title: str,
        method: str,
        path: str,
        expected: int,
        note: Callable[[httpx.Response], str] | None = None,
        **request: Any,
    ) -> httpx.Response:
        response = self.client.request(method, path, **request)
        shown = path
        for name, id in self.names.items():
            shown = shown.replace(id, "{" + name + "}")
        step = Step(title, method, path, expected, shown, response.status_code)
        step.note = note(response) if note else _default_note(response)
        self.steps.append(step)
        self.report(step)
        return response

    def wait_for_mail(self, title: str, to: str, template: str, within: float = 20.0) -> None:
        """Poll the mailbox until ``template`` reached ``to`` (tasks run in the background)."""
        deadline = time.monotonic() + within
        while True:
            response = self.client.get("/mailbox", params={"to": to}, headers=self.admin)
            letters = [m for m in response.json() if m["template"] == template]
            if letters or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        step = Step(title, "GET", f"/mailbox?to={to}", 200, f"/mailbox ({template})")
        step.status = response.status_code if letters else 404
        step.note = (
            f"“{letters[0]['subject']}” at {letters[0]['sent_at'][11:19]}" if letters else ""
        )
        self.steps.append(step)
        self.report(step)

    def wait_for_orders(
        self, title: str, headers: dict[str, str], q: str, total: int = 1, within: float = 20.0
    ) -> None:
        """Search until the read model lists ``total`` orders for ``q`` (the projection runs
        in the background, so an order placed a moment ago shows up shortly after)."""
        deadline = time.monotonic() + within
        while True:
            response = self.client.get("/orders", params={"q": q}, headers=headers)
            found = response.status_code == 200 and response.json()["total"] == total
            if found or response.status_code != 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        step = Step(title, "GET", f"/orders?q={q}", 200, f"/orders?q={q}")
        step.status = response.status_code if found or response.status_code != 200 else 404
        if found:
            page = response.json()
            marks = page["items"][0]["highlights"]
            step.note = f"total {page['total']}: " + ", ".join(marks.values())
        self.steps.append(step)
        self.report(step)


def _default_note(response: httpx.Response) -> str:
    if response.status_code == 204 or not response.content:
        return ""
    body = response.json()
    if "detail" in body:
        fields = [".".join(map(str, e["loc"][1:])) for e in body.get("errors", [])]
        return body["detail"] + (f" ({', '.join(fields)})" if fields else "")
    return str(body.get("message") or body.get("status") or "")


def run_tour(
    base_url: str,
    admin_token: str,
    report: Report,
    retry: Callable[[str], int] | None = None,
    sagas: dict[str, str] | None = None,
) -> list[Step]:
    """Walk the user services, then the order saga; ``report`` is called after each step.
    ``retry(saga_id)`` runs ``faaskit sagas retry`` (its exit code); ``sagas`` collects the
    saga id of each order the tour placed, by name, for the timelines."""
    with httpx.Client(base_url=base_url, timeout=30) as client:
        tour = Tour(client, admin_token, report)
        ann = tour.step(
            "Register Ann",
            "POST",
            "/register",
            201,
            json={"email": "ann@example.com", "name": "Ann Lee", "company": "Acme"},
            note=lambda r: f"user_id {r.json()['user_id'][:8]}…",
        )
        ann_id = tour.names["ann"] = ann.json()["user_id"]
        tour.step(
            "Register Ann again, other case",
            "POST",
            "/register",
            409,
            json={"email": "ANN@example.com", "name": "Ann"},
        )
        tour.step(
            "Register without a name", "POST", "/register", 400, json={"email": "ann@example.com"}
        )
        tour.step(
            "Register with broken JSON",
            "POST",
            "/register",
            400,
            content=b'{"email": ',
            headers={"content-type": "application/json"},
        )
        tour.step(
            "Create a user without a token",
            "POST",
            "/users",
            401,
            json={"email": "bob@example.com", "name": "Bob", "password": "s3cret-pass"},
        )
        tour.step(
            "Create a user with bad fields",
            "POST",
            "/users",
            400,
            headers=tour.admin,
            json={"email": "not-an-email", "name": "B", "password": "short"},
        )
        bob = tour.step(
            "Create Bob (admin token)",
            "POST",
            "/users",
            201,
            headers=tour.admin,
            json={
                "email": "bob@example.com",
                "name": "Bob Marsh",
                "password": "s3cret-pass",
                "company": "Globex",
            },
            note=lambda r: f"status {r.json()['status']}",
        )
        bob_id = tour.names["bob"] = bob.json()["id"]
        tour.step(
            "Create Bob again via /register",
            "POST",
            "/register",
            409,
            json={"email": "Bob@Example.com", "name": "Bob"},
        )
        tour.step(
            "Bob logs in before activating",
            "POST",
            "/auth/token",
            401,
            json={"email": "bob@example.com", "password": "s3cret-pass"},
            note=lambda r: r.json()["detail"],
        )
        tour.step(
            "Admin activates Bob", "POST", f"/users/{bob_id}/activate", 200, headers=tour.admin
        )
        tour.step(
            "Bob logs in, wrong password",
            "POST",
            "/auth/token",
            401,
            json={"email": "bob@example.com", "password": "guess-again"},
        )
        login = tour.step(
            "Bob logs in",
            "POST",
            "/auth/token",
            200,
            json={"email": "bob@example.com", "password": "s3cret-pass"},
            note=lambda r: f"bearer token, expires in {r.json()['expires_in']} s",
        )
        bob_auth = {"authorization": f"Bearer {login.json()['access_token']}"}
        tour.step(
            "Bob reads his profile",
            "GET",
            f"/users/{bob_id}",
            200,
            headers=bob_auth,
            note=lambda r: f"{r.json()['name']}, {r.json()['status']}, no password hash",
        )
        tour.step(
            "Bob reads Ann's profile",
            "GET",
            f"/users/{ann_id}",
            403,
            headers=bob_auth,
            note=lambda r: r.json()["detail"],
        )
        tour.step(
            "Bob edits his profile (read-only token)",
            "PUT",
            f"/users/{bob_id}",
            403,
            headers=bob_auth,
            json={"name": "Robert"},
        )
        tour.step(
            "Bob makes himself admin",
            "PUT",
            f"/users/{bob_id}/access",
            403,
            headers=bob_auth,
            json={"access": "admin"},
        )
        tour.step(
            "Admin updates Bob's preferences",
            "PUT",
            f"/users/{bob_id}",
            200,
            headers=tour.admin,
            json={"preferences": {"newsletter": True}},
            note=lambda r: f"newsletter={r.json()['preferences']['newsletter']}",
        )
        tour.wait_for_mail("Bob gets the activation email", "bob@example.com", "activated")
        tour.wait_for_mail("Bob's welcome email, from a task", "bob@example.com", "welcome")
        tour.step(
            "Bob is active",
            "GET",
            f"/users/{bob_id}",
            200,
            headers=bob_auth,
            note=lambda r: f"status {r.json()['status']} since {r.json()['activated_at'][11:19]}",
        )
        tour.step("Admin deletes Ann", "DELETE", f"/users/{ann_id}", 204, headers=tour.admin)
        tour.step("Ann is gone", "GET", f"/users/{ann_id}", 404, headers=tour.admin)
        tour.wait_for_mail(
            "Bob's onboarding follow-up, days later in production",
            "bob@example.com",
            "onboarding-tips",
        )
        order_steps(tour, bob_auth)
        from shop.saga_tour import saga_steps

        saga_steps(tour, bob_auth, retry, sagas if sagas is not None else {})
        guesses(tour)
        return tour.steps


def guesses(tour: Tour) -> None:
    """Someone guesses Bob's password: the account's login bucket runs dry (the limit is
    kept in the store, so every server process shares it)."""
    wrong = {"email": "bob@example.com", "password": "guess-again"}
    for _ in range(4):  # whatever is left of the account's five a minute
        tour.client.post("/auth/token", json=wrong)
    tour.step(
        "Someone keeps guessing Bob's password",
        "POST",
        "/auth/token",
        429,
        json=wrong,
        note=lambda r: f"try again in {r.headers.get('retry-after')} s",
    )


LAMP_ORDER = {
    "items": [
        {"product_id": "lamp-1", "product_name": "Desk Lamp", "quantity": 2, "unit_price": 19.99}
    ],
    "total": 39.98,
    "shipping_address": {
        "street": "1 Main St",
        "city": "Berlin",
        "postal_code": "10115",
        "country": "DE",
    },
    "payment_method": "card",
}


def order_steps(tour: Tour, bob_auth: dict[str, str]) -> None:
    """Orders: the command answers 202 at once; the searchable read model follows."""
    tour.step(
        "Bob orders with a wrong total",
        "POST",
        "/orders",
        400,
        headers=bob_auth,
        json={**LAMP_ORDER, "total": 9.99},
    )
    placed = tour.step(
        "Bob places an order",
        "POST",
        "/orders",
        202,
        headers=bob_auth,
        json=LAMP_ORDER,
        note=lambda r: f"{r.json()['message']}, {r.json()['estimated_processing_time']}",
    )
    if placed.status_code != 202:
        return
    order_id = tour.names["order"] = placed.json()["order_id"]
    tour.wait_for_orders("Bob searches his orders", bob_auth, "lamp")
    from shop.saga_tour import wait_for_order

    wait_for_order(tour, "The saga reserves, charges, ships, confirms", order_id, "confirmed")
    tour.wait_for_mail("Bob's order confirmation", "bob@example.com", "order-confirmed")
    tour.step(
        "Bob cancels it: refund, stock back",
        "POST",
        f"/orders/{order_id}/cancel",
        200,
        headers=bob_auth,
        json={"reason": "ordered twice"},
    )
    tour.step(
        "Bob cancels it again",
        "POST",
        f"/orders/{order_id}/cancel",
        409,
        headers=bob_auth,
        json={"reason": "ordered twice"},
    )
