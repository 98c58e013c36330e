"""What the shop's end-to-end tests share: a client on the live server and assertions."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import httpx

READ, WRITE = "users:read", "users:write"
STAFF, ADMIN = "users:staff", "users:admin"
PROBLEM_JSON = "application/problem+json"
PASSWORD = "correct horse battery"


class ShopClient:
    def __init__(self, server: Any) -> None:
        self.server = server
        self.url: str = server.url
        self.http = httpx.Client(base_url=server.url, timeout=30)

    def close(self) -> None:
        self.http.close()

    # -- tokens -------------------------------------------------------------------------

    def bearer(self, *scopes: str, subject: str = "tester", **kwargs: Any) -> dict[str, str]:
        """Headers with a token signed by the app's key carrying ``scopes``."""
        return {"Authorization": f"Bearer {self.server.token(subject, scopes, **kwargs)}"}

    @property
    def reader(self) -> dict[str, str]:
        """Staff that may read any account."""
        return self.bearer(READ, STAFF)

    @property
    def writer(self) -> dict[str, str]:
        """Staff that may read and change any account."""
        return self.bearer(READ, WRITE, STAFF)

    def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        return self.http.post("/auth/token", json={"email": email, "password": password})

    # -- users --------------------------------------------------------------------------

    def register(self, email: str, name: str = "Ann Lee", **extra: Any) -> httpx.Response:
        return self.http.post("/register", json={"email": email, "name": name, **extra})

    def create(self, email: str, name: str = "Ann Lee", **extra: Any) -> httpx.Response:
        body = {"email": email, "name": name, "password": PASSWORD, **extra}
        return self.http.post("/users", json=body, headers=self.writer)

    def created(self, email: str, name: str = "Ann Lee", **extra: Any) -> str:
        """The id of a user created through ``POST /users`` (asserts the 201)."""
        response = self.create(email, name, **extra)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    def activate(self, user_id: str) -> None:
        response = self.http.post(f"/users/{user_id}/activate", headers=self.writer)
        assert response.status_code == 200, response.text

    def active(self, email: str, name: str = "Ann Lee", **extra: Any) -> str:
        """The id of an active user (created and activated), who may log in."""
        user_id = self.created(email, name, **extra)
        self.activate(user_id)
        return user_id

    def grant(self, user_id: str, access: str) -> None:
        """Give the user an access level (with an admin's token)."""
        from shop.access import SCOPES_BY_ACCESS

        admin = self.bearer(*SCOPES_BY_ACCESS["admin"], subject="the-admin")
        response = self.http.put(f"/users/{user_id}/access", json={"access": access}, headers=admin)
        assert response.status_code == 200, response.text

    def get(self, user_id: str) -> httpx.Response:
        return self.http.get(f"/users/{user_id}", headers=self.reader)

    def stored(self, user_id: str) -> Any:
        """The user's document as the store holds it (read on the server's event loop)."""
        runtime = self.server.runtime
        future = asyncio.run_coroutine_threadsafe(runtime.store.get("users", user_id), runtime.loop)
        return future.result(timeout=10)

    # -- concurrency --------------------------------------------------------------------

    def at_once(self, requests: list[Callable[[httpx.Client], httpx.Response]]) -> list[int]:
        """Run each request on its own thread and connection, released together by a
        barrier once every connection is open; the status codes, in order."""
        barrier = threading.Barrier(len(requests))
        statuses: list[int] = [0] * len(requests)
        errors: list[BaseException] = []

        def run(index: int, request: Callable[[httpx.Client], httpx.Response]) -> None:
            try:
                with httpx.Client(base_url=self.url, timeout=60) as client:
                    assert client.get("/healthz").status_code == 200  # connection is open
                    barrier.wait(timeout=30)
                    statuses[index] = request(client).status_code
            except BaseException as error:  # reported below, not lost in the thread
                errors.append(error)
                barrier.abort()

        threads = [threading.Thread(target=run, args=item) for item in enumerate(requests)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        assert not errors, errors
        return statuses


def assert_problem(
    response: httpx.Response, status: int, detail: str | None = None, *, case: Any = None
) -> dict:
    """The problem+json body of an error answer with ``status`` (and ``detail``);
    ``case`` names what was sent, for the failure message."""
    where = (
        f"{response.request.method} {response.request.url.path} {case if case is not None else ''}"
    )
    assert response.status_code == status, f"{where}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM_JSON), where
    body: dict = response.json()
    assert body["status"] == status, where
    if detail is not None:
        assert body["detail"] == detail, where
    return body


def error_fields(body: dict) -> set[str]:
    """The fields named by a validation problem's ``errors`` (``body.email`` → ``email``)."""
    return {".".join(str(part) for part in error["loc"][1:]) for error in body["errors"]}


@contextmanager
def past_the_precheck(parties: int) -> Iterator[None]:
    """Hold every handler right after its ``find_one`` duplicate check until ``parties``
    of them have passed it: they all see the email free, so only the store can refuse."""
    from faaskit.documents import Collection

    original = Collection.find_one
    barrier = asyncio.Barrier(parties)  # the handlers share the server's event loop

    async def find_one(self: Collection, *args: Any, **kwargs: Any) -> Any:
        found = await original(self, *args, **kwargs)
        await asyncio.wait_for(barrier.wait(), timeout=20)
        return found

    Collection.find_one = find_one  # type: ignore[method-assign]
    try:
        yield
    finally:
        Collection.find_one = original  # type: ignore[method-assign]
