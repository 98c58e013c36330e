"""Lambda HTTP events read into requests (faaskit/adapters/aws_events.py): each reference
event's method, path, query repeats, headers, cookies, body and client; stages and base
paths; strict base64; and events that are not HTTP."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import pytest

from faaskit.adapters.aws_events import EventKind, UnsupportedEventError, http_request
from faaskit.errors import BadRequestError
from faaskit.http.exchange import Request
from tests.adapters.aws_support import event, http_api_event, rest_event, with_changes


def pairs(query_string: bytes) -> list[tuple[str, str]]:
    return parse_qsl(query_string.decode(), keep_blank_values=True)


def headers(shaped: dict[str, Any]) -> dict[str, str]:
    return http_request(shaped).headers


# -- the reference events -------------------------------------------------------------------


def test_rest_event_with_multi_value_headers_and_query() -> None:
    request = http_request(event("powertools-apiGatewayProxyEvent"))

    assert request.kind is EventKind.REST
    assert (request.method, request.path, request.raw_path) == ("GET", "/my/path", "/my/path")
    assert pairs(request.query_string) == [
        ("parameter1", "value1"),
        ("parameter1", "value2"),
        ("parameter2", "value"),
    ]
    seen = headers(event("powertools-apiGatewayProxyEvent"))
    assert seen["header2"] == "value1, value2"  # both values of the multi-value header
    assert seen["origin"] == "https://aws.amazon.com"
    assert request.body == b"Hello from Lambda!"
    assert request.client == ("192.168.0.1/32", 0)
    assert request.body_error is None


def test_rest_event_on_a_named_stage_routes_its_path() -> None:
    # requestContext.path is /testStage/hello/world; path is the routed path
    request = http_request(event("go-apigw-request"))

    assert (request.method, request.path) == ("POST", "/hello/world")
    assert pairs(request.query_string) == [("name", "me")]
    seen = headers(event("go-apigw-request"))
    assert seen["content-type"] == "application/json"
    assert seen["x-forwarded-for"] == "54.240.196.186, 54.182.214.83"
    assert seen["content-length"] == str(len(b'{\r\n\t"a": 1\r\n}'))
    assert request.body == b'{\r\n\t"a": 1\r\n}'
    assert request.client == ("192.168.196.186", 0)


def test_rest_event_repeated_query_keys_and_header_values() -> None:
    shaped = event("rust-example-apigw-request-multi-value-parameters")
    request = http_request(shaped)

    assert pairs(request.query_string) == [("name", "me"), ("name", "me2")]
    assert headers(shaped)["headername"] == "headerValue, headerValue2"


def test_rest_event_without_multi_value_fields_or_host() -> None:
    shaped = event("rust-apigw_no_host")
    request = http_request(shaped)

    assert (request.kind, request.method, request.path) == (EventKind.REST, "GET", "/hello")
    assert pairs(request.query_string) == [("name", "me")]
    assert "host" not in headers(shaped)
    assert request.body == b""


def test_http_api_event_joins_the_cookies_array_into_one_header() -> None:
    shaped = event("powertools-apiGatewayProxyV2Event")
    request = http_request(shaped)

    assert request.kind is EventKind.HTTP_API
    assert (request.method, request.path) == ("POST", "/my/path")
    assert request.query_string == b"parameter1=value1&parameter1=value2&parameter2=value"
    seen = headers(shaped)
    assert seen["cookie"] == "cookie1; cookie2"
    assert seen["header2"] == "value1,value2"
    assert request.body == b'{"message": "hello world", "username": "tom"}'
    assert request.client == ("192.168.0.1/32", 0)


def test_http_api_event_repeated_query_keys_stay_repeated() -> None:
    request = http_request(event("rust-example-apigw-v2-request-multi-value-parameters"))

    assert pairs(request.query_string) == [("Parameter1", "value1"), ("Parameter1", "value2")]
    assert request.method == "GET"


def test_http_api_event_from_sam_local_with_an_empty_cookies_array() -> None:
    shaped = event("rust-apigw_v2_sam_local")
    request = http_request(shaped)

    assert (request.method, request.path, request.query_string) == ("GET", "/hello", b"")
    assert "cookie" not in headers(shaped)
    assert request.client == ("127.0.0.1", 0)


@pytest.mark.parametrize(
    "name",
    ["powertools-lambdaFunctionUrlEvent", "go-function-url-domain-only-get-request-trailing-slash"],
)
def test_function_url_event_at_the_root(name: str) -> None:
    request = http_request(event(name))

    assert request.kind is EventKind.FUNCTION_URL
    assert (request.method, request.path, request.query_string) == ("GET", "/", b"")


def test_function_url_event_with_cookies_in_the_array_and_the_header_holds_them_once() -> None:
    shaped = event("rust-lambda_function_url_request")
    assert shaped["cookies"] == ["test=hi"] and shaped["headers"]["cookie"] == "test=hi"

    seen = headers(shaped)

    assert seen["cookie"] == "test=hi"
    assert http_request(shaped).kind is EventKind.FUNCTION_URL


def test_function_url_event_with_an_iam_caller_and_a_text_body() -> None:
    shaped = event("go-lambda-urls-request")
    request = http_request(shaped)

    assert (request.kind, request.method, request.path) == (
        EventKind.FUNCTION_URL,
        "POST",
        "/my/path",
    )
    assert headers(shaped)["cookie"] == "cookie1; cookie2"
    assert request.body == b"Hello from client!"


def test_alb_event_with_single_value_headers() -> None:
    request = http_request(event("powertools-albEvent"))

    assert (request.kind, request.multi_value) == (EventKind.ALB, False)
    assert (request.method, request.path) == ("GET", "/lambda")
    assert pairs(request.query_string) == [("query", "1234ABCD")]
    assert request.body == b"Test"
    assert request.client == ("72.12.164.125", 0)


@pytest.mark.parametrize(
    "name",
    ["powertools-albMultiValueQueryStringEvent", "go-alb-lambda-target-request-multivalue-headers"],
)
def test_alb_event_with_multi_value_headers(name: str) -> None:
    shaped = event(name)
    request = http_request(shaped)

    assert (request.kind, request.multi_value) == (EventKind.ALB, True)
    assert request.method == "GET"
    expected = [
        (key, value)
        for key, values in shaped["multiValueQueryStringParameters"].items()
        for value in values
    ]
    assert pairs(request.query_string) == expected
    seen = headers(shaped)
    for key, values in shaped["multiValueHeaders"].items():
        assert seen[key] == ", ".join(values)


def test_alb_event_query_values_are_decoded_once_and_cookies_joined() -> None:
    shaped = event("rust-alb_multi_value_request_encoded_query_parameters")
    request = http_request(shaped)

    assert pairs(request.query_string) == [("myKey", "?showAll=true"), ("myKey", "?showAll=false")]
    assert headers(shaped)["cookie"] == "name1=value1; name2=value2"
    assert request.client == ("72.21.198.66", 0)


def test_alb_client_is_the_address_the_load_balancer_appended() -> None:
    shaped = event("powertools-albEvent")
    shaped["headers"]["x-forwarded-for"] = "6.6.6.6, 72.12.164.125"

    assert http_request(shaped).client == ("72.12.164.125", 0)


# -- stages and base paths ------------------------------------------------------------------


def test_http_api_named_stage_is_stripped_and_default_never() -> None:
    staged = http_api_event("GET", "/users/1", stage="prod")
    assert staged["rawPath"] == "/prod/users/1"
    assert http_request(staged).path == "/users/1"
    assert http_request(http_api_event("GET", "/prod", stage="prod")).path == "/prod"
    assert http_request(with_changes(staged, rawPath="/prod")).path == "/"
    # $default: a first segment that happens to look like a stage stays
    assert http_request(http_api_event("GET", "/prod/users/1")).path == "/prod/users/1"


def test_http_api_custom_domain_base_path_is_stripped_by_the_route_key() -> None:
    shaped = http_api_event("GET", "/v1/users/1", route_key="GET /users/{id}")
    shaped["pathParameters"] = {"id": "1"}

    assert http_request(shaped).path == "/users/1"


def test_rest_custom_domain_base_path_is_stripped_by_the_resource() -> None:
    shaped = rest_event(
        "GET", "/shop/users/1", resource="/users/{user_id}", path_parameters={"user_id": "1"}
    )
    shaped["requestContext"]["path"] = "/shop/users/1"

    assert http_request(shaped).path == "/users/1"


def test_rest_custom_domain_base_path_with_a_greedy_resource() -> None:
    shaped = rest_event("GET", "/api/v2/hello/world", path_parameters={"proxy": "hello/world"})

    assert http_request(shaped).path == "/hello/world"


def test_rest_route_that_merely_starts_like_the_stage_is_left_alone() -> None:
    shaped = rest_event(
        "GET", "/prod/items", resource="/prod/items", stage="prod", path_parameters={}
    )

    assert http_request(shaped).path == "/prod/items"


def test_rest_path_whose_literal_segments_disagree_with_the_resource_is_left_alone() -> None:
    shaped = rest_event(
        "GET", "/x/orders/1", resource="/users/{user_id}", path_parameters={"user_id": "1"}
    )

    assert http_request(shaped).path == "/x/orders/1"


def test_rest_without_a_resource_strips_a_stage_only_when_request_path_agrees() -> None:
    shaped = rest_event("GET", "/beta/users", stage="beta")
    shaped.pop("resource")
    shaped["requestContext"]["path"] = "/beta/users"
    assert http_request(shaped).path == "/users"

    shaped["requestContext"]["path"] = "/beta/beta/users"  # execute-api: /{stage}{path}
    assert http_request(shaped).path == "/beta/users"


# -- percent escapes ------------------------------------------------------------------------


def test_encoded_slash_stays_in_the_raw_path() -> None:
    request = http_request(rest_event("GET", "/files/a%2Fb%20c"))

    assert request.raw_path == "/files/a%2Fb%20c"
    assert request.path == "/files/a/b c"


def test_a_path_the_gateway_already_decoded_is_encoded_again() -> None:
    request = http_request(http_api_event("GET", "/files/caf\u00e9 menu"))

    assert request.raw_path == "/files/caf%C3%A9%20menu"
    assert request.path == "/files/caf\u00e9 menu"


# -- bodies ---------------------------------------------------------------------------------


def test_base64_body_is_decoded() -> None:
    shaped = http_api_event("POST", "/json", body=b"\x00\xffbinary", base64_body=True)

    request = http_request(shaped)

    assert request.body == b"\x00\xffbinary"
    assert request.headers["content-length"] == "8"


@pytest.mark.parametrize("body", ["not base64!", "YWJj=", "YWJ", "YW Jj"])
def test_invalid_base64_body_is_refused_not_guessed(body: str) -> None:
    shaped = with_changes(http_api_event("POST", "/json"), body=body, isBase64Encoded=True)

    request = http_request(shaped)

    assert request.body_error == "the body is flagged isBase64Encoded but is not valid base64"
    assert request.body == b""


def test_request_is_the_gateways_request() -> None:
    request = http_request(event("powertools-apiGatewayProxyV2Event"))

    assert isinstance(request, Request)
    assert request.method == "POST"
    assert request.client == ("192.168.0.1/32", 0)
    assert all(name == name.lower() for name in request.headers)
    assert request.receive is None  # the whole body is here


def test_header_text_is_what_a_server_reads_off_the_wire() -> None:
    shaped = http_api_event("GET", "/x", headers={"X-Name": "caf\u00e9"})

    # UTF-8 bytes read as latin-1, as uvicorn hands them to the gateway
    assert headers(shaped)["x-name"] == "caf\u00e9".encode().decode("latin-1")


# -- not HTTP -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shaped", "named"),
    [
        (event("powertools-sqsEvent"), "2 record(s) from aws:sqs"),
        (event("powertools-eventBridgeEvent"), "an EventBridge event"),
        ({"hello": "world", "answer": 42}, "an object with keys [answer, hello]"),
        ({}, "an empty object"),
        ([1, 2], "a list, not a JSON object"),
        ({"requestContext": {"elb": None}, "path": "/"}, "keys [path, requestContext]"),
    ],
)
def test_an_event_that_is_not_http_is_a_typed_error_naming_what_came(
    shaped: Any, named: str
) -> None:
    with pytest.raises(UnsupportedEventError) as caught:
        http_request(shaped)

    message = str(caught.value)
    assert named in message
    assert "\n" not in message
    assert isinstance(caught.value, BadRequestError)
