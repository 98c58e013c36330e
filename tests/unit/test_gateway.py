"""The HTTP gateway over real HTTP: routing, bodies, validation, rendering, CORS, OpenAPI,
metrics and the 500 path."""

from __future__ import annotations

import enum
import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from openapi_spec_validator import validate
from prometheus_client.parser import text_string_to_metric_families
from pydantic import BaseModel, Field

from faaskit import CORS, App, Body, Context, NotFoundError, Query, Response
from faaskit.observability.logging import JSONFormatter

SECRET = "api-key=sk_live_do_not_show"
ALLOWED_ORIGIN = "https://app.example"


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class NewItem(BaseModel):
    name: str = Field(max_length=10)
    price: int = Field(ge=0)


class ItemOut(BaseModel):
    id: int
    name: str
    price: int


class Tag(BaseModel):
    label: str


def make_app() -> App:
    app = App(
        "gateway-test",
        max_body_size=1024,
        cors=CORS(allow_origins=[ALLOWED_ORIGIN]),
        description="The gateway's test app",
    )

    @app.post("/items", status=201, tags=["items"])
    async def create_item(body: NewItem) -> ItemOut:
        """Create an item."""
        return ItemOut(id=1, name=body.name, price=body.price)

    @app.get("/items/{item_id:int}")
    async def get_item(item_id: int) -> dict[str, Any]:
        if item_id == 404:
            raise NotFoundError("no such item")
        return {"id": item_id, "type": type(item_id).__name__}

    @app.put("/items/{item_id:int}", auth="items:write")
    async def replace_item(item_id: int, body: NewItem) -> ItemOut:
        return ItemOut(id=item_id, name=body.name, price=body.price)

    @app.delete("/items/{item_id:int}", status=204)
    async def delete_item(item_id: int) -> None:
        return None

    @app.get("/numbers/{n}")
    async def typed_path(n: int, ratio: float = 1.0) -> dict[str, Any]:
        return {"n": n, "ratio": ratio}

    @app.get("/search")
    async def search(
        q: str,
        limit: int = 10,
        tags: Annotated[list[str], Query(description="repeat for several")] = [],  # noqa: B006
        start: Annotated[int, Query(alias="from")] = 0,
        color: Color | None = None,
        exact: bool = False,
    ) -> dict[str, Any]:
        return {
            "q": q,
            "limit": limit,
            "tags": tags,
            "start": start,
            "color": color.value if color else None,
            "exact": exact,
        }

    @app.post("/register")
    async def register(
        email: Annotated[str, Body()],
        age: Annotated[int, Body()],
        nickname: Annotated[str | None, Body()] = None,
    ) -> dict[str, Any]:
        return {"email": email, "age": age, "nickname": nickname}

    @app.get("/custom")
    async def custom() -> Response:
        return Response({"accepted": True}, status=202, headers={"X-Custom": "yes"})

    @app.get("/two-cookies")
    async def two_cookies() -> Response:
        return Response(
            {"ok": True}, headers=[("Set-Cookie", "a=1; Secure"), ("Set-Cookie", "b=2; Path=/")]
        )

    @app.get("/text")
    async def text() -> Response:
        return Response("plain words", media_type="text/plain; charset=utf-8")

    @app.get("/tags")
    async def list_tags() -> list[Tag]:
        return [Tag(label="a"), Tag(label="b")]

    @app.get("/whoami")
    async def whoami(ctx: Context) -> dict[str, str]:
        return {"request_id": ctx.request_id}

    @app.get("/crash")
    async def crash() -> None:
        raise RuntimeError(f"database said no: {SECRET}")

    return app


@pytest.fixture
def backend_url(tmp_path: Path) -> str:
    """The gateway does not depend on the backend: serve on SQLite only."""
    return f"sqlite:///{tmp_path / 'app.db'}"


@pytest.fixture
def server(live_server: Callable[[App], Any]) -> Any:
    return live_server(make_app())


@pytest.fixture
def client(server: Any) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["request_id"] == response.headers["x-request-id"]
    return problem


# --- routing -------------------------------------------------------------------------------


def test_unknown_path_is_404(client: httpx.Client) -> None:
    problem = assert_problem(client.get("/nowhere"), 404)

    assert problem["instance"] == "/nowhere"


def test_path_convertor_that_does_not_match_is_404(client: httpx.Client) -> None:
    assert_problem(client.get("/items/not-a-number"), 404)


def test_handler_not_found_error_is_404(client: httpx.Client) -> None:
    problem = assert_problem(client.get("/items/404"), 404)

    assert problem["detail"] == "no such item"


def test_wrong_method_is_405_with_allow_header(client: httpx.Client) -> None:
    response = client.post("/search")

    assert_problem(response, 405)
    assert response.headers["allow"] == "GET"
    allow = client.patch("/items/1").headers["allow"]
    assert [method.strip() for method in allow.split(",")] == ["DELETE", "GET", "PUT"]


def test_head_of_a_get_route_has_headers_and_no_body(client: httpx.Client) -> None:
    response = client.head("/items/7")

    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0


def test_healthz_answers_ok(client: httpx.Client) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}


# --- request bodies ------------------------------------------------------------------------


def test_body_over_max_size_with_content_length_is_413(client: httpx.Client) -> None:
    body = json.dumps({"name": "x", "price": 1, "pad": "p" * 2000})

    response = client.post("/items", content=body, headers={"Content-Type": "application/json"})

    assert_problem(response, 413)


def test_chunked_body_over_max_size_is_413(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "x", "price": 1, "pad": "'
        for _ in range(8):
            yield b"p" * 256
        yield b'"}'

    response = client.post("/items", content=chunks(), headers={"Content-Type": "application/json"})

    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert_problem(response, 413)


def test_chunked_body_within_max_size_is_accepted(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"name": "chunky", '
        yield b'"price": 3}'

    response = client.post("/items", content=chunks(), headers={"Content-Type": "application/json"})

    assert response.status_code == 201
    assert response.json() == {"id": 1, "name": "chunky", "price": 3}


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "application/jsonx", None]
)
def test_body_that_is_not_json_is_415(client: httpx.Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}

    response = client.post("/items", content=b'{"name": "x", "price": 1}', headers=headers)

    assert_problem(response, 415)


@pytest.mark.parametrize(
    "content_type", ["application/json; charset=utf-8", "APPLICATION/JSON", "application/foo+json"]
)
def test_json_content_types_are_accepted(client: httpx.Client, content_type: str) -> None:
    response = client.post(
        "/items", content=b'{"name": "x", "price": 1}', headers={"Content-Type": content_type}
    )

    assert response.status_code == 201


@pytest.mark.parametrize("body", [b'{"name": "x",', b"not json", b"", b"   "])
def test_malformed_json_is_400(client: httpx.Client, body: bytes) -> None:
    response = client.post("/items", content=body, headers={"Content-Type": "application/json"})

    problem = assert_problem(response, 400)
    assert problem["title"] == "Malformed JSON"


def test_validation_lists_every_failing_field_without_echoing_input(
    client: httpx.Client,
) -> None:
    response = client.post(
        "/items", json={"name": "TOO-LONG-NAME-SECRET-1", "price": "NOT-A-NUMBER-SECRET-2"}
    )

    problem = assert_problem(response, 400)
    assert problem["title"] == "Validation Failed"
    errors = {tuple(error["loc"]): error for error in problem["errors"]}
    assert set(errors) == {("body", "name"), ("body", "price")}
    assert errors["body", "name"]["type"] == "string_too_long"
    assert errors["body", "price"]["type"] == "int_type"  # strict: no text for a number
    for error in problem["errors"]:
        assert set(error) == {"loc", "msg", "type"}
        assert error["msg"]
    assert "SECRET" not in response.text


def test_validation_reports_missing_fields_and_wrong_json_types(client: httpx.Client) -> None:
    problem = assert_problem(client.post("/items", json={"price": -5}), 400)

    found = {(tuple(e["loc"]), e["type"]) for e in problem["errors"]}
    assert found == {(("body", "name"), "missing"), (("body", "price"), "greater_than_equal")}
    assert_problem(client.post("/items", json=["not", "an", "object"]), 400)


def test_query_and_path_errors_are_reported_together(client: httpx.Client) -> None:
    problem = assert_problem(client.get("/numbers/abc", params={"ratio": "half"}), 400)

    found = {(tuple(e["loc"]), e["type"]) for e in problem["errors"]}
    assert found == {(("path", "n"), "int_parsing"), (("query", "ratio"), "float_parsing")}


# --- parameters ----------------------------------------------------------------------------


def test_query_parameters_are_typed(client: httpx.Client) -> None:
    response = client.get("/search?q=shoes&limit=5&tags=a&tags=b&from=20&color=green&exact=true")

    assert response.status_code == 200
    assert response.json() == {
        "q": "shoes",
        "limit": 5,
        "tags": ["a", "b"],
        "start": 20,
        "color": "green",
        "exact": True,
    }


def test_query_defaults_apply_when_parameters_are_absent(client: httpx.Client) -> None:
    response = client.get("/search", params={"q": "x"})

    assert response.json() == {
        "q": "x",
        "limit": 10,
        "tags": [],
        "start": 0,
        "color": None,
        "exact": False,
    }


def test_query_values_are_percent_decoded_as_utf8(client: httpx.Client) -> None:
    response = client.get("/search", params={"q": "café & crème=1", "tags": ["ü", "a b"]})

    assert response.json()["q"] == "café & crème=1"
    assert response.json()["tags"] == ["ü", "a b"]


def test_query_alias_is_the_name_in_the_url(client: httpx.Client) -> None:
    assert client.get("/search", params={"q": "x", "from": "3"}).json()["start"] == 3
    assert client.get("/search", params={"q": "x", "start": "3"}).json()["start"] == 0


def test_bad_query_parameters_are_400_per_field(client: httpx.Client) -> None:
    problem = assert_problem(client.get("/search", params={"limit": "many", "color": "blue"}), 400)

    found = {tuple(e["loc"]) for e in problem["errors"]}
    assert found == {("query", "q"), ("query", "limit"), ("query", "color")}


def test_path_parameters_are_typed(client: httpx.Client) -> None:
    assert client.get("/numbers/42", params={"ratio": "0.5"}).json() == {"n": 42, "ratio": 0.5}
    assert client.get("/items/7").json() == {"id": 7, "type": "int"}


def test_body_fields_form_the_body_object(client: httpx.Client) -> None:
    response = client.post("/register", json={"email": "ann@example.com", "age": 31})

    assert response.status_code == 200
    assert response.json() == {"email": "ann@example.com", "age": 31, "nickname": None}
    problem = assert_problem(client.post("/register", json={"email": "ann@example.com"}), 400)
    assert [e["loc"] for e in problem["errors"]] == [["body", "age"]]


# --- results -------------------------------------------------------------------------------


def test_pydantic_model_result_is_json_with_the_route_status(client: httpx.Client) -> None:
    response = client.post("/items", json={"name": "lamp", "price": 12})

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {"id": 1, "name": "lamp", "price": 12}


def test_list_of_models_result_is_json(client: httpx.Client) -> None:
    assert client.get("/tags").json() == [{"label": "a"}, {"label": "b"}]


def test_response_result_sets_status_headers_and_media_type(client: httpx.Client) -> None:
    response = client.get("/custom")

    assert response.status_code == 202
    assert response.headers["x-custom"] == "yes"
    assert response.json() == {"accepted": True}
    text = client.get("/text")
    assert text.headers["content-type"] == "text/plain; charset=utf-8"
    assert text.text == "plain words"


def test_none_result_with_status_204_has_no_body(client: httpx.Client) -> None:
    response = client.delete("/items/3")

    assert response.status_code == 204
    assert response.content == b""
    assert "content-type" not in response.headers


def test_request_id_is_echoed_when_valid_and_generated_otherwise(client: httpx.Client) -> None:
    echoed = client.get("/whoami", headers={"X-Request-ID": "req-123.abc:1"})
    invalid = client.get("/whoami", headers={"X-Request-ID": "has spaces and <html>"})
    first, second = client.get("/whoami"), client.get("/whoami")

    assert echoed.headers["x-request-id"] == "req-123.abc:1"
    assert echoed.json() == {"request_id": "req-123.abc:1"}
    for response in (invalid, first, second):
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["x-request-id"])
        assert response.json() == {"request_id": response.headers["x-request-id"]}
    assert first.headers["x-request-id"] != second.headers["x-request-id"]
    assert client.get("/nowhere", headers={"X-Request-ID": "r-404"}).json()["request_id"] == "r-404"


# --- CORS ----------------------------------------------------------------------------------


def test_cors_preflight_from_an_allowed_origin_is_204_with_headers(client: httpx.Client) -> None:
    response = client.options(
        "/items",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type, Authorization",
        },
    )

    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    allowed_headers = response.headers["access-control-allow-headers"]
    assert {"content-type", "authorization"} <= {h.strip() for h in allowed_headers.split(",")}
    assert "access-control-max-age" in response.headers
    assert "origin" in response.headers["vary"].lower()


@pytest.mark.parametrize(
    ("origin", "method", "request_headers"),
    [
        ("https://evil.example", "POST", "content-type"),
        (ALLOWED_ORIGIN, "TRACE", ""),
        (ALLOWED_ORIGIN, "POST", "x-not-allowed"),
    ],
    ids=["origin", "method", "header"],
)
def test_cors_preflight_that_is_not_allowed_is_403(
    client: httpx.Client, origin: str, method: str, request_headers: str
) -> None:
    headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if request_headers:
        headers["Access-Control-Request-Headers"] = request_headers

    response = client.options("/items", headers=headers)

    assert response.status_code == 403
    assert "access-control-allow-origin" not in response.headers


def test_cors_simple_request_gets_allow_origin_only_for_allowed_origins(
    client: httpx.Client,
) -> None:
    allowed = client.get("/items/1", headers={"Origin": ALLOWED_ORIGIN})
    refused = client.get("/items/1", headers={"Origin": "https://evil.example"})
    no_origin = client.get("/items/1")

    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "x-request-id" in allowed.headers["access-control-expose-headers"].lower()
    assert refused.status_code == 200
    assert "access-control-allow-origin" not in refused.headers
    assert "access-control-allow-origin" not in no_origin.headers


def test_cors_headers_are_on_error_responses_too(client: httpx.Client) -> None:
    response = client.get("/nowhere", headers={"Origin": ALLOWED_ORIGIN})

    assert response.status_code == 404
    assert response.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


# --- OpenAPI -------------------------------------------------------------------------------


def test_openapi_document_is_valid_openapi_3_1(client: httpx.Client) -> None:
    response = client.get("/openapi.json")

    assert response.status_code == 200
    document = response.json()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_openapi_document_lists_every_route(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()

    operations = {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
    }
    expected = {
        (route.method, re.sub(r"{([^}:]+)(:[^}]+)?}", r"{\1}", route.path))
        for route in make_app().routes
    }
    assert set(operations) == expected
    assert {op["operationId"] for op in operations.values()} == {r.name for r in make_app().routes}
    assert document["info"] == {
        "title": "gateway-test",
        "version": "0.1.0",
        "description": "The gateway's test app",
    }
    create = operations["POST", "/items"]
    assert create["summary"] == "Create an item."
    assert create["tags"] == ["items"]
    assert set(create["responses"]) >= {"201", "400", "413", "415", "500"}
    assert "content" not in operations["DELETE", "/items/{item_id}"]["responses"]["204"]


def test_openapi_document_describes_models_and_parameters(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    schemas = document["components"]["schemas"]

    assert {"NewItem", "ItemOut", "Tag", "Color", "Problem"} <= set(schemas)
    assert schemas["Color"]["enum"] == ["red", "green"]
    tags = document["paths"]["/tags"]["get"]["responses"]["200"]["content"]["application/json"]
    assert tags["schema"] == {"type": "array", "items": {"$ref": "#/components/schemas/Tag"}}
    custom = document["paths"]["/custom"]["get"]["responses"]["200"]["content"]["application/json"]
    assert custom["schema"] == {}  # a Response's body can be anything
    assert schemas["NewItem"]["properties"]["name"]["maxLength"] == 10
    create = document["paths"]["/items"]["post"]
    body_schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema == {"$ref": "#/components/schemas/NewItem"}
    ok = create["responses"]["201"]["content"]["application/json"]["schema"]
    assert ok == {"$ref": "#/components/schemas/ItemOut"}
    parameters = {p["name"]: p for p in document["paths"]["/search"]["get"]["parameters"]}
    assert set(parameters) == {"q", "limit", "tags", "from", "color", "exact"}
    assert parameters["q"]["required"] is True
    assert parameters["limit"]["required"] is False
    assert parameters["limit"]["schema"]["type"] == "integer"
    assert parameters["tags"]["description"] == "repeat for several"
    path_parameter = document["paths"]["/items/{item_id}"]["get"]["parameters"][0]
    assert path_parameter == {
        "name": "item_id",
        "in": "path",
        "required": True,
        # An int from a URL is bounded to 64 bits, and the document says so.
        "schema": {"type": "integer", "minimum": -(2**63), "maximum": 2**63 - 1},
    }


def test_openapi_document_has_the_bearer_scheme_on_protected_routes(
    client: httpx.Client,
) -> None:
    document = client.get("/openapi.json").json()

    assert document["components"]["securitySchemes"]["bearerAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    replace = document["paths"]["/items/{item_id}"]["put"]
    assert replace["security"] == [{"bearerAuth": ["items:write"]}]
    assert {"401", "403"} <= set(replace["responses"])
    assert "security" not in document["paths"]["/items/{item_id}"]["get"]


def test_openapi_refs_all_resolve(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    refs = re.findall(r'"\$ref":\s*"([^"]+)"', json.dumps(document))

    schemas = document["components"]["schemas"]
    for ref in refs:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref


# --- metrics and the 500 path --------------------------------------------------------------


METRICS_TOKEN = "a-metrics-scraper-token"


@pytest.fixture(autouse=True)
def metrics_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAASKIT_SECRET_METRICS_TOKEN", METRICS_TOKEN)


def _samples(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers={"authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_count_invocations_by_function_and_outcome(client: httpx.Client) -> None:
    client.get("/items/1")
    client.get("/items/2")
    client.get("/items/404")
    client.get("/crash")

    samples = _samples(client)

    def invocations(function: str, outcome: str) -> float:
        key = ("faaskit_invocations_total", (("function", function), ("outcome", outcome)))
        return samples.get(key, 0.0)

    assert invocations("get_item", "success") == 2
    assert invocations("get_item", "client_error") == 1
    assert invocations("crash", "error") == 1
    assert invocations("crash", "success") == 0


def test_metrics_have_a_duration_histogram_and_cold_starts(client: httpx.Client) -> None:
    for _ in range(3):
        client.get("/items/1")
    client.get("/tags")

    samples = _samples(client)

    infinite = (
        "faaskit_invocation_duration_seconds_bucket",
        (("function", "get_item"), ("le", "+Inf")),
    )
    assert samples[infinite] == 3
    count = ("faaskit_invocation_duration_seconds_count", (("function", "get_item"),))
    assert samples[count] == 3
    total = ("faaskit_invocation_duration_seconds_sum", (("function", "get_item"),))
    assert 0 < samples[total] < 10
    buckets = sorted(
        (float(dict(labels)["le"]), value)
        for (name, labels), value in samples.items()
        if name == "faaskit_invocation_duration_seconds_bucket"
        and dict(labels)["function"] == "get_item"
    )
    assert [value for _, value in buckets] == sorted(value for _, value in buckets)
    assert samples["faaskit_cold_starts_total", (("function", "get_item"),)] == 1
    assert samples["faaskit_cold_starts_total", (("function", "list_tags"),)] == 1


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def http_log() -> Iterator[_Records]:
    handler = _Records()
    logger = logging.getLogger("faaskit.http")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)


def test_500_logs_request_id_and_traceback_but_shows_no_internals(
    client: httpx.Client, http_log: _Records
) -> None:
    response = client.get("/crash", headers={"X-Request-ID": "req-crash-1"})

    problem = assert_problem(response, 500)
    assert problem["request_id"] == "req-crash-1"
    for internal in ("RuntimeError", "database said no", SECRET, "Traceback", "crash()"):
        assert internal not in response.text
    errors = [r for r in http_log.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    line = json.loads(JSONFormatter().format(errors[0]))
    assert line["level"] == "error"
    assert line["request_id"] == "req-crash-1"
    assert line["function"] == "crash"
    assert line["path"] == "/crash"
    assert "Traceback" in line["error"]
    assert f"RuntimeError: database said no: {SECRET}" in line["error"]


def test_a_response_may_repeat_a_header_name(client: httpx.Client) -> None:
    response = client.get("/two-cookies")
    assert response.status_code == 200
    assert response.headers.get_list("set-cookie") == ["a=1; Secure", "b=2; Path=/"]


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Split": "one\r\nSet-Cookie: injected=1"},
        {"X-Nul": "a\x00b"},
        [("Bad Name", "x")],
        [("X-Line", "two\nlines")],
        {"": "empty name"},
    ],
)
def test_a_response_header_that_could_split_the_answer_is_refused_where_it_is_built(
    headers: Any,
) -> None:
    with pytest.raises(ValueError, match="Response header"):
        Response({"ok": True}, headers=headers)


def test_a_tab_inside_a_header_value_is_allowed() -> None:
    assert Response(None, headers={"X-Tabbed": "a\tb"}).header_items() == [("X-Tabbed", "a\tb")]
