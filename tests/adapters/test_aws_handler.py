"""The Lambda handler (faaskit/adapters/aws.py) on both backends: every reference event
answered by the app, bodies in and out, encoded slashes, errors as the local gateway
answers them, the request id, cold starts and the deadline."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faaskit.adapters.aws import LambdaHandler, UnsupportedEventError, lambda_handler
from faaskit.config import Settings
from tests.adapters.aws_support import (
    ORIGIN,
    PNG,
    LambdaContext,
    event,
    header,
    http_api_event,
    json_body,
    rest_event,
    with_changes,
)
from tests.adapters.aws_support import echo_app as make_echo_app

REPEATS = {"parameter1": ["value1", "value2"], "parameter2": ["value"]}
CAPITAL = {"Parameter1": ["value1", "value2"]}
DECODED_ONCE = {"myKey": ["?showAll=true", "?showAll=false"]}


@pytest.fixture
def handler(backend_url: str, tmp_path: Path) -> Iterator[LambdaHandler]:
    settings = Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")
    built = lambda_handler(make_echo_app(), settings=settings)
    yield built
    built.close()


def call(handler: LambdaHandler, shaped: dict[str, Any], **context: Any) -> dict[str, Any]:
    lambda_context = LambdaContext(**context)
    return handler(shaped, lambda_context)


# -- the reference events, answered ---------------------------------------------------------


def test_rest_reference_event_is_answered(handler: LambdaHandler) -> None:
    answer = call(handler, event("powertools-apiGatewayProxyEvent"))

    assert answer["statusCode"] == 200, answer
    body = json_body(answer)
    assert body["query"] == REPEATS
    assert body["headers"]["header2"] == "value1, value2"
    # the app's CORS answers the event's Origin, as the local gateway does
    assert answer["headers"]["access-control-allow-origin"] == ORIGIN
    assert answer["headers"]["x-content-type-options"] == "nosniff"
    assert answer["multiValueHeaders"] == {}


@pytest.mark.parametrize(
    ("name", "method", "query"),
    [
        ("go-apigw-request", "POST", {"name": ["me"]}),
        ("rust-example-apigw-request-multi-value-parameters", "POST", {"name": ["me", "me2"]}),
        ("rust-apigw_no_host", "GET", {"name": ["me"]}),
        ("powertools-apiGatewayProxyV2Event", "POST", REPEATS),
        ("rust-example-apigw-v2-request-multi-value-parameters", "GET", CAPITAL),
        ("rust-apigw_v2_sam_local", "GET", {}),
        ("powertools-lambdaFunctionUrlEvent", "GET", {}),
        ("go-function-url-domain-only-get-request-trailing-slash", "GET", {}),
        ("go-lambda-urls-request", "POST", REPEATS),
        ("rust-lambda_function_url_request", "GET", REPEATS),
        ("powertools-albEvent", "GET", {}),
        ("go-alb-lambda-target-request-headers-only", "GET", {"key": ["hello"]}),
        ("powertools-albMultiValueQueryStringEvent", "GET", REPEATS),
        ("go-alb-lambda-target-request-multivalue-headers", "GET", {"key": ["hello"]}),
        ("rust-alb_multi_value_request_encoded_query_parameters", "GET", DECODED_ONCE),
    ],
)  # fmt: skip
def test_every_reference_event_reaches_its_route(
    handler: LambdaHandler, name: str, method: str, query: dict[str, list[str]]
) -> None:
    shaped = event(name)

    answer = call(handler, shaped)

    assert answer["statusCode"] == 200, answer
    body = json_body(answer)
    assert body["query"] == query
    assert header(answer, "content-type") == "application/json"
    if "requestContext" in shaped and "elb" in shaped["requestContext"]:
        multi = "multiValueHeaders" in shaped
        assert ("multiValueHeaders" in answer, "headers" in answer) == (multi, not multi)
    assert body["function"].startswith(f"echo_{method.lower()}_")


def test_cookies_reach_the_app_once(handler: LambdaHandler) -> None:
    function_url = json_body(call(handler, event("rust-lambda_function_url_request")))
    http_api = json_body(call(handler, event("powertools-apiGatewayProxyV2Event")))
    alb = json_body(call(handler, event("rust-alb_multi_value_request_encoded_query_parameters")))

    assert function_url["headers"]["cookie"] == "test=hi"
    assert http_api["headers"]["cookie"] == "cookie1; cookie2"
    assert alb["headers"]["cookie"] == "name1=value1; name2=value2"


def test_text_body_on_a_json_route_is_the_gateways_415(handler: LambdaHandler) -> None:
    shaped = with_changes(event("go-lambda-urls-request"), rawPath="/json")
    shaped["requestContext"]["http"]["path"] = "/json"

    answer = call(handler, shaped)

    assert answer["statusCode"] == 415
    assert answer["headers"]["content-type"] == "application/problem+json"


# -- bodies ---------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [rest_event, http_api_event])
def test_base64_json_body_reaches_the_handler(handler: LambdaHandler, build: Any) -> None:
    shaped = build("POST", "/json", body={"greeting": "h\u00e9llo"}, base64_body=True)

    answer = call(handler, shaped)

    assert answer["statusCode"] == 200, answer
    assert json_body(answer)["body"] == {"greeting": "h\u00e9llo"}


@pytest.mark.parametrize("build", [rest_event, http_api_event])
def test_invalid_base64_body_is_a_400_problem(handler: LambdaHandler, build: Any) -> None:
    shaped = with_changes(build("POST", "/json"), body="%%%not-base64", isBase64Encoded=True)

    answer = call(handler, shaped, request_id="bad-body-1")

    assert answer["statusCode"] == 400
    assert header(answer, "content-type") == "application/problem+json"
    problem = json_body(answer)
    assert problem["status"] == 400
    assert problem["detail"] == "the body is flagged isBase64Encoded but is not valid base64"
    assert problem["request_id"] == "bad-body-1"
    assert header(answer, "x-request-id") == "bad-body-1"
    assert header(answer, "cache-control") == "no-store"


@pytest.mark.parametrize("build", [rest_event, http_api_event])
def test_binary_answer_is_base64(handler: LambdaHandler, build: Any) -> None:
    answer = call(handler, build("GET", "/logo.png"))

    assert answer["statusCode"] == 200
    assert answer["isBase64Encoded"] is True
    assert base64.b64decode(answer["body"]) == PNG
    assert header(answer, "content-type") == "image/png"


@pytest.mark.parametrize(("build", "field"), [(rest_event, "headers"), (http_api_event, "cookies")])
def test_set_cookie_from_the_handler_lands_in_the_kinds_field(
    handler: LambdaHandler, build: Any, field: str
) -> None:
    answer = call(handler, build("GET", "/cookie"))

    assert answer["statusCode"] == 200
    if field == "cookies":
        assert answer["cookies"] == ["session=abc; HttpOnly; Secure"]
    else:
        assert answer["headers"]["set-cookie"] == "session=abc; HttpOnly; Secure"


# -- paths ----------------------------------------------------------------------------------


@pytest.mark.parametrize("build", [rest_event, http_api_event])
def test_encoded_slash_stays_inside_one_path_parameter(handler: LambdaHandler, build: Any) -> None:
    answer = call(handler, build("GET", "/files/reports%2F2030%20Q1.pdf"))

    assert answer["statusCode"] == 200, answer
    assert json_body(answer)["name"] == "reports/2030 Q1.pdf"


def test_encoded_slashes_in_two_parameters(handler: LambdaHandler) -> None:
    answer = call(handler, http_api_event("GET", "/users/a%2Fb/files/c%2Fd"))

    assert answer["statusCode"] == 200, answer
    assert (json_body(answer)["user_id"], json_body(answer)["name"]) == ("a/b", "c/d")


def test_an_encoded_slash_does_not_make_a_route_of_two_segments(handler: LambdaHandler) -> None:
    answer = call(handler, http_api_event("GET", "/my%2Fpath"))

    assert answer["statusCode"] == 404
    assert json_body(answer)["status"] == 404


def test_named_stage_is_not_part_of_the_route(handler: LambdaHandler) -> None:
    answer = call(handler, http_api_event("GET", "/files/x", stage="prod"))

    assert answer["statusCode"] == 200, answer
    assert json_body(answer)["name"] == "x"


def test_custom_domain_base_path_is_not_part_of_the_route(handler: LambdaHandler) -> None:
    shaped = rest_event(
        "GET", "/v1/files/x", resource="/files/{name}", path_parameters={"name": "x"}
    )
    shaped["requestContext"]["path"] = "/v1/files/x"

    answer = call(handler, shaped)

    assert answer["statusCode"] == 200, answer
    assert json_body(answer)["name"] == "x"


# -- the local gateway's answers ------------------------------------------------------------


@pytest.mark.parametrize("build", [rest_event, http_api_event])
def test_unknown_route_is_a_404_problem(handler: LambdaHandler, build: Any) -> None:
    answer = call(handler, build("GET", "/nowhere"), request_id="req-404")

    assert answer["statusCode"] == 404
    assert header(answer, "content-type") == "application/problem+json"
    assert json_body(answer)["request_id"] == "req-404"


def test_auth_is_the_gateways(handler: LambdaHandler) -> None:
    missing = call(handler, http_api_event("GET", "/private"))
    token = handler.runtime.tokens.mint("ann", ["things:read"])
    allowed = call(
        handler, http_api_event("GET", "/private", headers={"authorization": f"Bearer {token}"})
    )

    assert missing["statusCode"] == 401
    assert "www-authenticate" in missing["headers"]
    assert (allowed["statusCode"], json_body(allowed)) == (200, {"subject": "ann"})


def test_openapi_document_is_served(handler: LambdaHandler) -> None:
    answer = call(handler, rest_event("GET", "/openapi.json"))

    assert answer["statusCode"] == 200
    assert "/files/{name}" in json_body(answer)["paths"]


# -- the invocation -------------------------------------------------------------------------


def test_lambda_request_id_is_the_invocation_id(handler: LambdaHandler) -> None:
    shaped = http_api_event("GET", "/hello", headers={"x-request-id": "client-chosen"})

    answer = call(handler, shaped, request_id="8476a536-e9f4-11e8-9739-2dfe598c3fcd")

    assert json_body(answer)["request_id"] == "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
    assert answer["headers"]["x-request-id"] == "8476a536-e9f4-11e8-9739-2dfe598c3fcd"


def test_cold_start_is_true_on_the_first_event_only(handler: LambdaHandler) -> None:
    first = json_body(call(handler, http_api_event("GET", "/hello")))
    second = json_body(call(handler, http_api_event("GET", "/hello")))
    third = json_body(call(handler, rest_event("GET", "/hello")))

    assert first["cold_start"] is True
    assert second["cold_start"] is False and third["cold_start"] is False
    assert isinstance(first["startup_seconds"], float) and first["startup_seconds"] > 0
    assert second["startup_seconds"] == first["startup_seconds"]


def test_start_up_happens_once_per_environment(handler: LambdaHandler) -> None:
    call(handler, http_api_event("GET", "/hello"))
    runtime, loop = handler.runtime, handler._loop

    for _ in range(3):
        call(handler, http_api_event("GET", "/hello"))

    assert handler.runtime is runtime and handler._loop is loop
    assert runtime.started


def test_started_at_module_scope_the_first_event_is_still_the_cold_one(
    backend_url: str, tmp_path: Path
) -> None:
    settings = Settings.load(database_url=backend_url, data_dir=tmp_path / ".faaskit")
    early = lambda_handler(make_echo_app(), settings=settings)
    try:
        early.start()
        first = json_body(call(early, http_api_event("GET", "/hello")))
    finally:
        early.close()

    assert first["cold_start"] is True and first["startup_seconds"] > 0


def test_deadline_comes_from_the_remaining_time(handler: LambdaHandler) -> None:
    context = LambdaContext()
    context.remaining_millis = 12_000
    before = time.time()

    body = json_body(handler(http_api_event("GET", "/hello"), context))

    assert before + 11.5 <= body["deadline"] <= time.time() + 12.5


def test_without_a_lambda_context_there_is_no_deadline(handler: LambdaHandler) -> None:
    body = json_body(handler(http_api_event("GET", "/hello"), None))

    assert body["deadline"] is None
    assert body["request_id"]  # the gateway's own


def test_an_event_it_does_not_handle_raises_a_typed_error(handler: LambdaHandler) -> None:
    # SQS batches and the sweeper's schedule are handled (tests/adapters/test_aws_sqs.py);
    # an EventBridge event of another service is not.
    with pytest.raises(UnsupportedEventError, match=r"an EventBridge event \(aws\.ec2"):
        call(handler, event("powertools-eventBridgeEvent"))
