"""The Google Cloud Functions HTTP adapter: in-process with Flask's own request objects,
and end to end through the real functions-framework server (gunicorn) over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import flask
import httpx
import pytest

from faaskit.adapters.gcp import HttpFunction, http_function
from faaskit.config import Settings
from faaskit.runtime.runtime import Runtime
from tests.adapters.cloud_http_support import ORIGIN, PNG, echo_app, shop_acceptance
from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def settings(backend_url: str, tmp_path: Path) -> Settings:
    return Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")


@pytest.fixture
def function(settings: Settings) -> Iterator[HttpFunction]:
    handler = http_function(echo_app("gcp-echo"), settings=settings)
    yield handler
    handler.close()


def call(
    handler: HttpFunction,
    method: str,
    target: str,
    *,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    data: bytes | None = None,
    content_type: str | None = None,
    environ: dict[str, Any] | None = None,
) -> flask.Response:
    """``handler`` called as functions-framework calls it: with the current flask.Request."""
    flask_app = flask.Flask("functions-framework-like")
    with flask_app.test_request_context(
        target,
        method=method,
        headers=headers,
        data=data,
        content_type=content_type,
        environ_base={"REMOTE_ADDR": "10.1.2.3", **(environ or {})},
    ):
        return handler(flask.request)


def body(response: flask.Response) -> Any:
    return json.loads(response.get_data())


def test_method_path_and_repeated_query(function: HttpFunction) -> None:
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        response = call(function, method, "/things/lamp?tag=a&tag=b%20c&q=x%26y")

        assert response.status_code == 200, response.get_data()
        assert body(response)["name"] == "lamp"
        assert body(response)["tag"] == ["a", "b c"]
        assert body(response)["q"] == "x&y"


def test_encoded_slash_stays_inside_one_path_parameter(function: HttpFunction) -> None:
    response = call(function, "GET", "/users/u%2F1/files/a%2Fb%20c.txt")

    assert response.status_code == 200, response.get_data()
    assert (body(response)["user_id"], body(response)["name"]) == ("u/1", "a/b c.txt")


def test_an_encoded_slash_does_not_make_two_segments(function: HttpFunction) -> None:
    response = call(function, "GET", "/things/a%2Fb")
    two_segments = call(function, "GET", "/things/a/b")

    assert response.status_code == 200 and body(response)["name"] == "a/b"
    assert two_segments.status_code == 404
    assert two_segments.headers["Content-Type"] == "application/problem+json"


def test_without_a_raw_request_target_the_decoded_path_is_routed(
    function: HttpFunction,
) -> None:
    # a WSGI server that keeps no raw target: PATH_INFO is all there is
    response = call(
        function, "GET", "/things/lamp%20one", environ={"RAW_URI": "", "REQUEST_URI": ""}
    )

    assert response.status_code == 200 and body(response)["name"] == "lamp one"


def test_root_path_is_served(function: HttpFunction) -> None:
    response = call(function, "GET", "/")

    assert response.status_code == 200 and body(response)["root"] is True


def test_headers_and_cookies_reach_the_handler(function: HttpFunction) -> None:
    response = call(
        function,
        "GET",
        "/things/lamp",
        headers=[("X-Custom", "one"), ("Cookie", "a=1; b=2")],
    )

    seen = body(response)["headers"]
    assert seen["x-custom"] == "one"
    assert seen["cookie"] == "a=1; b=2"


def test_json_body_reaches_the_handler(function: HttpFunction) -> None:
    payload = {"colour": "brass", "sizes": [1, 2]}

    response = call(
        function,
        "POST",
        "/things/lamp",
        data=json.dumps(payload).encode(),
        content_type="application/json",
    )

    assert response.status_code == 200, response.get_data()
    assert body(response)["body"] == payload


def test_binary_answer_comes_back_byte_for_byte(function: HttpFunction) -> None:
    response = call(function, "GET", "/logo.png")

    assert response.status_code == 200
    assert response.get_data() == PNG
    assert response.headers["Content-Type"] == "image/png"


def test_binary_request_body_reaches_the_gateway_whole(function: HttpFunction) -> None:
    response = call(
        function, "POST", "/count", data=b"\xff\xfe\x00{", content_type="application/json"
    )

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "not valid JSON" in body(response)["detail"]


def test_validation_is_a_400_problem_naming_the_field(function: HttpFunction) -> None:
    response = call(
        function, "POST", "/count", data=b'{"count": "many"}', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.headers["Content-Type"] == "application/problem+json"
    assert any("count" in error["loc"] for error in body(response)["errors"])


def test_missing_token_is_a_401_with_a_challenge(function: HttpFunction) -> None:
    response = call(function, "GET", "/private")

    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert body(response)["status"] == 401


def test_a_valid_token_is_accepted(function: HttpFunction) -> None:
    token = function.runtime.tokens.mint("someone", ["things:read"])

    response = call(function, "GET", "/private", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200 and body(response) == {"subject": "someone"}


def test_every_answer_has_the_security_headers(function: HttpFunction) -> None:
    for target in ("/things/lamp", "/private", "/nowhere", "/logo.png"):
        response = call(function, "GET", target)

        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["X-Request-ID"]


def test_several_set_cookie_headers_stay_apart(function: HttpFunction) -> None:
    response = call(function, "GET", "/cookies")

    assert response.headers.getlist("Set-Cookie") == ["a=1; HttpOnly; Secure", "b=2; Path=/"]


def test_cors_preflight_is_the_gateways(function: HttpFunction) -> None:
    response = call(
        function,
        "OPTIONS",
        "/things/lamp",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET"},
    )

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Content-Type" not in response.headers  # not Flask's text/html default


def test_openapi_document_is_served(function: HttpFunction) -> None:
    response = call(function, "GET", "/openapi.json")

    assert response.status_code == 200
    assert "/things/{name}" in body(response)["paths"]


def test_execution_id_becomes_the_request_id(function: HttpFunction) -> None:
    response = call(function, "GET", "/things/lamp", headers={"Function-Execution-Id": "abc123xyz"})
    chosen = call(
        function,
        "GET",
        "/things/lamp",
        headers={"Function-Execution-Id": "abc123xyz", "X-Request-ID": "mine-1"},
    )

    assert body(response)["request_id"] == "abc123xyz"
    assert response.headers["X-Request-ID"] == "abc123xyz"
    assert body(chosen)["request_id"] == "mine-1"


def test_start_up_happens_once_and_only_the_first_request_is_cold(
    function: HttpFunction,
) -> None:
    first = body(call(function, "GET", "/things/a"))
    runtime = function.runtime
    second = body(call(function, "GET", "/things/b"))

    assert (first["cold_start"], second["cold_start"]) == (True, False)
    # every invocation knows how long its process took to start (Lambda's rule too)
    assert first["startup_seconds"] > 0 and second["startup_seconds"] == first["startup_seconds"]
    assert function.runtime is runtime and runtime.started


def test_concurrent_requests_from_many_threads_share_one_loop(function: HttpFunction) -> None:
    # gunicorn's threaded worker calls the function from several threads at once
    def one(index: int) -> tuple[int, str]:
        response = call(function, "GET", f"/things/t{index}")
        return response.status_code, body(response)["name"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(40)))

    assert results == [(200, f"t{index}") for index in range(40)]


def test_client_address_is_the_last_forwarded_for_entry() -> None:
    from faaskit.adapters.gcp import gateway_request

    flask_app = flask.Flask("scope")
    with flask_app.test_request_context(
        "/x",
        headers={"X-Forwarded-For": "1.1.1.1, 203.0.113.9"},
        environ_base={"REMOTE_ADDR": "10.1.2.3", "REMOTE_PORT": "5555"},
    ):
        trusted = gateway_request(flask.request)
        untrusted = gateway_request(flask.request, trust_forwarded_for=False)

    assert trusted.client == ("203.0.113.9", 0)
    assert untrusted.client == ("10.1.2.3", 5555)


# -- the shop -----------------------------------------------------------------------------


class ShopInProcess:
    def __init__(self, handler: HttpFunction) -> None:
        self.handler = handler

    def request(
        self, method: str, path: str, *, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        data = None if body is None else json.dumps(body).encode()
        response = call(
            self.handler,
            method,
            path,
            headers=headers,
            data=data,
            content_type="application/json" if data is not None else None,
        )
        text = response.get_data()
        return response.status_code, json.loads(text) if text else None

    def token(self, subject: str, scopes: tuple[str, ...]) -> str:
        return self.handler.runtime.tokens.mint(subject, scopes)


def test_the_shop_in_process(settings: Settings) -> None:
    from shop import app

    handler = http_function(app, settings=settings)
    try:
        shop_acceptance(ShopInProcess(handler))
    finally:
        handler.close()


# -- end to end through the functions-framework server ---------------------------------------

MAIN_PY = """
import functions_framework

from faaskit.adapters.gcp import http_function
from shop import app

handler = functions_framework.http(http_function(app))
"""


class ShopOverHttp:
    def __init__(self, url: str, runtime: Runtime) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)
        self.runtime = runtime

    def request(
        self, method: str, path: str, *, body: Any = None, token: str | None = None
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = self.client.request(method, path, json=body, headers=headers)
        return response.status_code, response.json() if response.content else None

    def token(self, subject: str, scopes: tuple[str, ...]) -> str:
        return self.runtime.tokens.mint(subject, scopes)


@pytest.fixture
def served_shop(settings: Settings, tmp_path: Path) -> Iterator[str]:
    """The shop's ``main.py`` served by ``functions-framework`` (gunicorn) on a free port."""
    source = tmp_path / "fn" / "main.py"
    source.parent.mkdir()
    source.write_text(textwrap.dedent(MAIN_PY))
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO / "examples"), str(REPO / "src")]),
        "FAASKIT_DATABASE_URL": settings.database_url,
        "FAASKIT_HOME": str(settings.data_dir),
        "THREADS": "4",
    }
    command = [
        str(Path(sys.executable).parent / "functions-framework"),
        "--target=handler",
        f"--source={source}",
        "--host=127.0.0.1",
        f"--port={port}",
    ]
    log = (tmp_path / "functions-framework.log").open("wb")
    process = subprocess.Popen(
        command,
        cwd=source.parent,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_serving(url, process, tmp_path / "functions-framework.log")
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
        log.close()


def _wait_until_serving(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"functions-framework exited:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/openapi.json", timeout=5).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"functions-framework did not serve in time:\n{log.read_text()}")


def test_the_shop_through_the_functions_framework_server(
    served_shop: str, settings: Settings
) -> None:
    from shop import app

    # the same key file as the server's (the .faaskit directory), so tokens verify there
    runtime = Runtime(app, settings)
    shop = ShopOverHttp(served_shop, runtime)
    with shop.client:
        shop_acceptance(shop)
        encoded = shop.client.get("/users/a%2Fb", headers={"Authorization": "Bearer x"})

    assert encoded.status_code == 401
    assert encoded.headers["www-authenticate"].startswith("Bearer")
    assert encoded.headers["x-content-type-options"] == "nosniff"
    assert encoded.json()["instance"] == "/users/a/b"


def test_importing_the_adapter_loads_neither_flask_nor_a_store(tmp_path: Path) -> None:
    from tests.unit.test_import_hygiene import loaded_after

    modules = loaded_after("import faaskit.adapters.gcp", tmp_path)

    assert "faaskit.adapters.gcp" in modules
    assert not {"flask", "functions_framework", "psycopg", "sqlite3"} & modules
