"""The gateway's answers as Lambda answers (faaskit/adapters/aws_answers.py): several
Set-Cookie in the right field per event kind, ALB single- vs multi-value, binary bodies
base64."""

from __future__ import annotations

import base64
import logging

import pytest

from faaskit.adapters.aws_answers import lambda_answer
from faaskit.adapters.aws_events import HttpRequest, http_request
from tests.adapters.aws_support import PNG, event

COOKIES = [(b"set-cookie", b"a=1; Path=/"), (b"set-cookie", b"b=2; HttpOnly")]
JSON = [(b"content-type", b"application/json"), (b"x-request-id", b"r-1")]


def request(name: str) -> HttpRequest:
    return http_request(event(name))


def test_rest_answer_puts_repeated_set_cookie_in_multi_value_headers() -> None:
    answer = lambda_answer(
        request("powertools-apiGatewayProxyEvent"), 200, [*JSON, *COOKIES], b"{}"
    )

    assert answer["multiValueHeaders"] == {"set-cookie": ["a=1; Path=/", "b=2; HttpOnly"]}
    assert answer["headers"] == {"content-type": "application/json", "x-request-id": "r-1"}
    assert (answer["statusCode"], answer["body"], answer["isBase64Encoded"]) == (200, "{}", False)


@pytest.mark.parametrize(
    "name", ["powertools-apiGatewayProxyV2Event", "rust-lambda_function_url_request"]
)
def test_http_api_and_function_url_answers_put_set_cookie_in_the_cookies_array(
    name: str,
) -> None:
    answer = lambda_answer(request(name), 201, [*JSON, *COOKIES], b"{}")

    assert answer["cookies"] == ["a=1; Path=/", "b=2; HttpOnly"]
    assert "set-cookie" not in answer["headers"]
    assert answer["headers"]["content-type"] == "application/json"
    assert answer["statusCode"] == 201


def test_http_api_answer_joins_other_repeated_headers() -> None:
    headers = [(b"vary", b"origin"), (b"vary", b"accept")]

    answer = lambda_answer(request("powertools-apiGatewayProxyV2Event"), 200, headers, b"")

    assert answer["headers"] == {"vary": "origin, accept"}
    assert answer["cookies"] == []


def test_alb_multi_value_answer_has_every_header_in_multi_value_headers() -> None:
    answer = lambda_answer(
        request("powertools-albMultiValueQueryStringEvent"), 200, [*JSON, *COOKIES], b"{}"
    )

    assert "headers" not in answer
    assert answer["multiValueHeaders"] == {
        "content-type": ["application/json"],
        "x-request-id": ["r-1"],
        "set-cookie": ["a=1; Path=/", "b=2; HttpOnly"],
    }
    assert answer["statusDescription"] == "200 OK"


def test_alb_single_value_answer_keeps_each_set_cookie_under_its_own_casing() -> None:
    three = [*COOKIES, (b"set-cookie", b"c=3")]

    answer = lambda_answer(request("powertools-albEvent"), 404, [*JSON, *three], b"{}")

    assert "multiValueHeaders" not in answer
    cookies = {k: v for k, v in answer["headers"].items() if k.lower() == "set-cookie"}
    assert sorted(cookies.values()) == ["a=1; Path=/", "b=2; HttpOnly", "c=3"]
    assert len(set(cookies)) == 3
    assert "set-cookie" in cookies  # the first under the plain name
    assert answer["statusDescription"] == "404 Not Found"


def test_alb_single_value_answer_past_every_casing_drops_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    many = [(b"set-cookie", f"c{i}=1".encode()) for i in range(513)]

    with caplog.at_level(logging.WARNING, logger="faaskit.adapters.aws"):
        answer = lambda_answer(request("powertools-albEvent"), 200, many, b"")

    assert len(answer["headers"]) == 512
    assert "1 dropped" in caplog.text


def test_binary_answer_is_base64_encoded() -> None:
    headers = [(b"content-type", b"image/png")]

    for name in ("go-apigw-request", "powertools-apiGatewayProxyV2Event", "powertools-albEvent"):
        answer = lambda_answer(request(name), 200, headers, PNG)
        assert answer["isBase64Encoded"] is True
        assert base64.b64decode(answer["body"]) == PNG


@pytest.mark.parametrize(
    ("content_type", "encoded"),
    [
        (b"application/json", False),
        (b"application/problem+json", False),
        (b"text/plain; charset=utf-8", False),
        (b"image/svg+xml", False),
        (b"application/octet-stream", True),
        (b"", True),
    ],
)
def test_text_answers_stay_text(content_type: bytes, encoded: bool) -> None:
    answer = lambda_answer(
        request("go-apigw-request"), 200, [(b"content-type", content_type)], b'{"a":1}'
    )

    assert answer["isBase64Encoded"] is encoded


def test_compressed_or_undecodable_text_is_base64_encoded() -> None:
    gzip = [(b"content-type", b"application/json"), (b"content-encoding", b"gzip")]
    latin = [(b"content-type", b"text/plain")]

    assert lambda_answer(request("go-apigw-request"), 200, gzip, b"\x1f\x8b")["isBase64Encoded"]
    assert lambda_answer(request("go-apigw-request"), 200, latin, b"\xe9")["isBase64Encoded"]


def test_empty_body_is_empty_text() -> None:
    answer = lambda_answer(request("go-apigw-request"), 204, [], b"")

    assert (answer["body"], answer["isBase64Encoded"]) == ("", False)
