"""The AWS adapter through the real Lambda runtime client: ``python -m awslambdaric
handler.handler`` in a subprocess, polling the Runtime API of
:mod:`tests.adapters.lambda_runtime_api`, on both backends.

The function (tests/fixtures/aws_lambda/handler.py) is the shop with probe routes (what the
Context saw; a write cut short by a kill), started at module scope as a Lambda function
should be. Through the runtime client: the shop's HTTP
acceptance in brief over HTTP API (v2) events; the Lambda request id as ``X-Request-ID``;
the deadline of ``Lambda-Runtime-Deadline-Ms`` in the Context; a cold first invocation and
warm later ones, with start-up run once; an event the adapter does not know reported to
``/error`` while the runtime goes on; an SQS batch of relay bodies answered with its
``batchItemFailures``; a runtime killed with SIGKILL mid-invocation, replaced by a cold one
that sees what committed and nothing of what did not; and a start-up failure reported to
``/init/error``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from faaskit.runtime.relay import relay_body
from tests.adapters.aws_support import event, http_api_event
from tests.adapters.lambda_runtime_api import LambdaRuntimeAPI, Result
from tests.conftest import _postgres_schema_url
from tests.e2e.shop_support import PASSWORD

REPO = Path(__file__).resolve().parents[2]
STAFF_SCOPES = ("users:read", "users:write", "users:staff")
WAIT = 60.0  # seconds any one wait may take before the test fails (never reached when well)

HANDLER = REPO / "tests" / "fixtures" / "aws_lambda" / "handler.py"


@dataclass(frozen=True)
class Answer:
    """An HTTP answer as the function returned it through the runtime client."""

    request_id: str
    status: int
    headers: Mapping[str, str]
    body: Any

    @classmethod
    def of(cls, result: Result) -> Answer:
        assert result.succeeded, result.error
        payload = result.payload
        text = payload["body"]
        if payload["isBase64Encoded"]:
            text = base64.b64decode(text).decode()
        return cls(result.request_id, payload["statusCode"], payload["headers"], json.loads(text))


class Function:
    """One Lambda function: execution environments (runtime client processes), one at a
    time, polling one Runtime API."""

    def __init__(self, api: LambdaRuntimeAPI, code: Path, home: Path, database_url: str) -> None:
        self.api = api
        self.code = code
        self.home = home
        self.database_url = database_url
        self.process: subprocess.Popen[bytes] | None = None
        self.first: Result | None = None
        """The first invocation of the current environment (a probe, made at its start)."""
        self.log = code / "runtime.log"
        self._clients = 0
        self._tokens: Any = None

    def environment(self) -> dict[str, str]:
        inherited = ("FAASKIT_", "AWS_", "LAMBDA_", "_LAMBDA", "_X_AMZN")
        env = {k: v for k, v in os.environ.items() if not k.startswith(inherited)}
        env.update(
            AWS_LAMBDA_RUNTIME_API=self.api.address,
            LAMBDA_TASK_ROOT=str(self.code),
            AWS_LAMBDA_FUNCTION_NAME="shop",
            AWS_LAMBDA_FUNCTION_MEMORY_SIZE="512",
            AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
            AWS_REGION="us-east-1",
            PYTHONPATH=os.pathsep.join([str(self.code), str(REPO / "examples"), str(REPO / "src")]),
            PYTHONUNBUFFERED="1",
            PYTHONDONTWRITEBYTECODE="1",
            FAASKIT_DATABASE_URL=self.database_url,
            FAASKIT_HOME=str(self.home),
        )
        return env

    def spawn(self) -> subprocess.Popen[bytes]:
        """``python -m awslambdaric handler.handler``, as Lambda's Python runtime runs it."""
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "awslambdaric", "handler.handler"],
                cwd=self.code,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self.process

    def start(self) -> None:
        """A new execution environment; its first invocation is a probe (kept in first)."""
        self.spawn()
        self.first = self.invoke(self.http("GET", "/probe"))

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def invoke(self, shaped: Any, **options: Any) -> Result:
        try:
            return self.api.invoke(shaped, timeout=WAIT, alive=self.alive, **options)
        except (AssertionError, TimeoutError) as error:
            raise AssertionError(f"{error}; the runtime's output:\n{self.output()}") from None

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]

    def kill(self) -> None:
        """SIGKILL, as Lambda ends an environment that is stuck or out of memory."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):  # it may have exited already
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=WAIT)
            self.process = None

    def environments(self) -> list[str]:
        """The pids of the environments whose start-up ran, in order."""
        return (self.home / "environments.log").read_text().split()

    # -- HTTP over the runtime client ---------------------------------------------------------

    def http(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        token: str | None = None,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """An HTTP API (2.0) event; each from a client address of its own (the shop's rate
        limits are per client)."""
        self._clients += 1
        headers = {"authorization": f"Bearer {token}"} if token else {}
        shaped = http_api_event(
            method, path, body=body, headers=headers, query=urlencode(params or {})
        )
        shaped["requestContext"]["http"]["sourceIp"] = f"198.51.100.{self._clients % 250 + 1}"
        return shaped

    def request(self, method: str, path: str, **options: Any) -> Answer:
        return Answer.of(self.invoke(self.http(method, path, **options)))

    def token(self, subject: str, scopes: tuple[str, ...]) -> str:
        """A token signed with the function's key (the key file under FAASKIT_HOME)."""
        if self._tokens is None:
            from faaskit.config import Settings
            from faaskit.runtime.runtime import Runtime
            from shop import app

            settings = Settings.load(database_url=self.database_url, data_dir=self.home)
            self._tokens = Runtime(app, settings).tokens
        token: str = self._tokens.mint(subject, scopes)
        return token

    def active_user(self, email: str) -> str:
        """A user created, activated (staff), with a password; the user id."""
        staff = self.token("staff-1", STAFF_SCOPES)
        new_user = {"email": email, "name": "Ann Lee", "password": PASSWORD}
        created = self.request("POST", "/users", body=new_user, token=staff)
        assert created.status == 201, created
        user_id: str = created.body["id"]
        activated = self.request("POST", f"/users/{user_id}/activate", token=staff)
        assert activated.status == 200, activated
        return user_id


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A fresh store for the module's function, once per backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'app.db'}"
    else:
        yield from _postgres_schema_url()


def function_code(directory: Path) -> Path:
    """The function's code directory (its LAMBDA_TASK_ROOT): the handler module."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(HANDLER, directory / "handler.py")
    return directory


@pytest.fixture(scope="module")
def function(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Function]:
    """The shop as a Lambda function, one execution environment running (started once per
    module and backend: start-up is what takes time)."""
    root = tmp_path_factory.mktemp("function")
    with LambdaRuntimeAPI(
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:shop"
    ) as api:
        deployed = Function(api, function_code(root / "code"), root / ".faaskit", database_url)
        try:
            deployed.start()
            yield deployed
        finally:
            deployed.kill()
        assert api.protocol_errors == []


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}@example.com"


def probe(result: Result) -> dict[str, Any]:
    answer = Answer.of(result)
    assert answer.status == 200, answer
    return dict(answer.body)


# -- the shop's acceptance, in brief ---------------------------------------------------------


def test_the_shop_answers_http_api_events_through_the_runtime_client(function: Function) -> None:
    email = unique("ann")
    registered = function.request(
        "POST", "/register", body={"email": unique("reg"), "name": "Reg Ister"}
    )
    user_id = function.active_user(email)
    login = function.request("POST", "/auth/token", body={"email": email, "password": PASSWORD})
    token = login.body["access_token"]
    mine = function.request("GET", f"/users/{user_id}", token=token)
    anonymous = function.request("GET", f"/users/{user_id}")
    invalid = function.request("POST", "/register", body={"email": "not-an-address", "name": "X"})
    openapi = function.request("GET", "/openapi.json")

    assert registered.status == 201, registered
    assert registered.body["message"] == "User registered successfully"
    assert registered.body["user_id"]
    assert registered.headers["content-type"].startswith("application/json")
    assert login.status == 200, login
    assert login.body["token_type"].lower() == "bearer" and login.body["expires_in"] > 0
    assert mine.status == 200, mine
    assert (mine.body["id"], mine.body["email"], mine.body["status"]) == (user_id, email, "active")
    assert "password_hash" not in mine.body
    assert anonymous.status == 401, anonymous
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    assert anonymous.headers["content-type"].startswith("application/problem+json")
    assert anonymous.body["status"] == 401
    assert invalid.status == 400, invalid
    assert invalid.headers["content-type"].startswith("application/problem+json")
    assert any("email" in error["loc"] for error in invalid.body["errors"]), invalid.body
    assert openapi.status == 200
    assert "/register" in openapi.body["paths"] and "/users/{user_id}" in openapi.body["paths"]


def test_the_lambda_request_id_is_the_answers_x_request_id(function: Function) -> None:
    request_id = str(uuid.uuid4())
    result = function.invoke(function.http("GET", "/probe"), request_id=request_id)
    missing = Answer.of(function.invoke(function.http("GET", "/no/such/path")))

    answer = Answer.of(result)
    assert result.request_id == request_id
    assert answer.headers["x-request-id"] == request_id
    assert answer.body["invocation_id"] == request_id
    assert missing.status == 404
    assert missing.headers["x-request-id"] == missing.request_id  # problems carry it too
    assert missing.body["request_id"] == missing.request_id


# -- what the Context sees --------------------------------------------------------------------


def test_the_deadline_of_the_runtime_api_reaches_the_context(function: Function) -> None:
    soon = probe(function.invoke(function.http("GET", "/probe"), deadline_in=42.0))
    later_id = function.api.submit(function.http("GET", "/probe"), deadline_in=900.0)
    later = probe(function.api.result(later_id, timeout=WAIT, alive=function.alive))

    deadline = function.api.deadline_ms(later_id) / 1000
    # the client turns Lambda-Runtime-Deadline-Ms into remaining milliseconds; the
    # adapter turns those back into an epoch: the same moment, give or take the clock's tick
    assert later["deadline"] == pytest.approx(deadline, abs=1.0)
    assert later["deadline"] - soon["deadline"] == pytest.approx(900.0 - 42.0, abs=5.0)


def test_the_first_invocation_is_cold_and_later_ones_warm(function: Function) -> None:
    assert function.first is not None
    first = probe(function.first)
    second = probe(function.invoke(function.http("GET", "/probe")))
    third = probe(function.invoke(function.http("GET", "/probe")))

    assert first["cold_start"] is True
    assert first["startup_seconds"] > 0
    assert (second["cold_start"], third["cold_start"]) == (False, False)
    # one environment, started once: the same process, the same start-up, one start logged
    assert first["pid"] == second["pid"] == third["pid"]
    assert first["startup_seconds"] == second["startup_seconds"] == third["startup_seconds"]
    assert function.environments().count(str(first["pid"])) == 1


# -- events that are not HTTP -----------------------------------------------------------------


def test_an_unknown_event_is_reported_to_error_and_the_runtime_goes_on(function: Function) -> None:
    before = probe(function.invoke(function.http("GET", "/probe")))
    failed = function.invoke({"foo": 1})
    after = probe(function.invoke(function.http("GET", "/probe")))

    assert failed.error is not None and failed.payload is None
    assert failed.error["errorType"] == "UnsupportedEventError"
    assert failed.error["errorMessage"]
    assert failed.error["requestId"] == failed.request_id
    cause = json.loads(failed.headers["lambda-runtime-function-xray-error-cause"])
    assert [e["type"] for e in cause["exceptions"]] == ["UnsupportedEventError"]
    assert after["pid"] == before["pid"]  # the same environment served on
    assert after["cold_start"] is False
    assert function.api.protocol_errors == []


def sqs_record(message_id: str, body: str) -> dict[str, Any]:
    (record, *_) = event("powertools-sqsEvent")["Records"]
    record.update(messageId=message_id, body=body)
    return dict(record)


def test_an_sqs_batch_of_relay_bodies_answers_its_batch_item_failures(function: Function) -> None:
    email = unique("sqs")
    user_id = function.active_user(email)  # commits user.activated for sub:after_activation
    relayed = sqs_record(
        str(uuid.uuid4()), relay_body(f"{user_id}-activated", "sub:after_activation")
    )
    foreign = sqs_record(str(uuid.uuid4()), "not a relay body")
    staff = function.token("staff-1", STAFF_SCOPES)

    batch = function.invoke({"Records": [relayed, foreign]})
    redelivered = function.invoke({"Records": [relayed]})
    mailbox = function.request("GET", "/mailbox", params={"to": email}, token=staff)

    assert batch.payload == {"batchItemFailures": [{"itemIdentifier": foreign["messageId"]}]}
    assert redelivered.payload == {"batchItemFailures": []}
    assert mailbox.status == 200, mailbox
    assert [letter["template"] for letter in mailbox.body] == ["activated"]  # exactly once


# -- environments that end ---------------------------------------------------------------------


def test_a_runtime_killed_mid_invocation_is_replaced_by_a_cold_one(function: Function) -> None:
    email = unique("kept")
    user_id = function.active_user(email)
    old = probe(function.invoke(function.http("GET", "/probe")))
    note = uuid.uuid4().hex[:12]
    hanging = function.api.submit(function.http("POST", "/probe/notes", body={"name": note}))
    marker = function.home / f"hanging-{note}"
    wait_for(marker, function)

    function.kill()  # mid-invocation: the note's unit of work never committed
    function.start()
    assert function.first is not None
    fresh = probe(function.first)
    login = function.request("POST", "/auth/token", body={"email": email, "password": PASSWORD})
    user = function.request("GET", f"/users/{user_id}", token=login.body.get("access_token"))
    lost = function.request("GET", f"/probe/notes/{note}")
    warm = probe(function.invoke(function.http("GET", "/probe")))

    assert marker.read_text() == hanging  # it was inside the handler when killed
    assert fresh["cold_start"] is True and fresh["pid"] != old["pid"]
    assert function.environments()[-2:] == [str(old["pid"]), str(fresh["pid"])]
    assert login.status == 200, login  # what committed before the kill is there
    assert (user.status, user.body["email"]) == (200, email)
    assert lost.status == 404, lost  # what did not commit is not
    assert warm["pid"] == fresh["pid"] and warm["cold_start"] is False
    assert not function.api.answered(hanging)  # the killed invocation never answered


def wait_for(path: Path, function: Function) -> None:
    deadline = time.monotonic() + WAIT
    while not path.exists():
        assert function.alive(), function.output()
        assert time.monotonic() < deadline, f"{path.name} never appeared:\n{function.output()}"
        time.sleep(0.02)


def test_a_start_up_failure_is_reported_to_init_error(tmp_path: Path) -> None:
    with LambdaRuntimeAPI() as api:
        broken = Function(
            api, function_code(tmp_path / "code"), tmp_path / ".faaskit", "mysql://db/shop"
        )
        process = broken.spawn()
        try:
            reported = api.init_error(timeout=WAIT, alive=broken.alive)
            exit_code = process.wait(timeout=WAIT)
        finally:
            broken.kill()

        assert reported.error["errorType"] == "ConfigurationError", broken.output()
        assert reported.error_type == "ConfigurationError"  # the client's error-type header
        assert "mysql://db/shop" in reported.error["errorMessage"]
        assert any("handler.py" in line for line in reported.error["stackTrace"])
        assert exit_code == 1
        assert api.polls == 0  # it never asked for an event
        assert api.protocol_errors == []
