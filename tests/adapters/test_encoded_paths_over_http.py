"""The local server routes on the raw path too (faaskit/http/gateway.py): an encoded slash
stays inside its path parameter over real HTTP, as it does through the Lambda adapter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from tests.adapters.aws_support import echo_app


def test_encoded_slash_stays_one_path_parameter_over_http(
    live_server: Callable[[Any], Any],
) -> None:
    server = live_server(echo_app())
    with httpx.Client(base_url=server.url, timeout=30) as http:
        one = http.get("/files/reports%2F2030%20Q1.pdf")
        two = http.get("/users/a%2Fb/files/c%2fd")
        split = http.get("/my%2Fpath")
        plain = http.get("/files/plain")
        static = http.get("/my/path")
        escaped_static = http.get("/my/p%61th")

    assert one.status_code == 200, one.text
    assert one.json()["name"] == "reports/2030 Q1.pdf"
    assert (two.json()["user_id"], two.json()["name"]) == ("a/b", "c/d")
    assert split.status_code == 404
    assert split.headers["content-type"] == "application/problem+json"
    assert plain.json()["name"] == "plain"
    assert static.status_code == 200 and escaped_static.status_code == 200
