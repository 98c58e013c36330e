"""From a handler's signature to its arguments, and from its result to a response.

Built once per route when the gateway starts: path and query parameters become one
pydantic model each, the body another, so one request is validated in a few calls into
pydantic-core and every failing field is reported at once.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, get_args, get_origin
from urllib.parse import parse_qsl

import orjson
import pydantic
from pydantic import BaseModel, Field, create_model

from faaskit.app import Response, Route
from faaskit.context import Context
from faaskit.errors import (
    ConfigurationError,
    FieldError,
    MalformedJSONError,
    ValidationError,
)
from faaskit.params import Body, Query

__all__ = ["Endpoint", "Rendered", "build_endpoint"]

JSON = b"application/json"


@dataclass(frozen=True, slots=True)
class Rendered:
    status: int
    body: bytes
    media_type: bytes | None = JSON
    headers: tuple[tuple[bytes, bytes], ...] = ()


@dataclass
class Endpoint:
    """A route ready to serve: how to bind its arguments and render its result."""

    route: Route
    context_param: str | None = None
    path_model: type[BaseModel] | None = None
    query_model: type[BaseModel] | None = None
    query_lists: frozenset[str] = frozenset()
    body_param: str | None = None
    body_model: type[BaseModel] | None = None
    body_spread: bool = False
    """True when the body model was assembled from ``Body()`` parameters."""
    response_model: Any = None
    params: tuple[str, ...] = field(default=())

    @property
    def needs_body(self) -> bool:
        return self.body_model is not None

    def bind(
        self,
        path_params: Mapping[str, Any],
        query_string: bytes,
        body: bytes | None,
        ctx: Context,
    ) -> dict[str, Any]:
        """The handler's keyword arguments; ValidationError lists every failing field."""
        arguments: dict[str, Any] = {}
        errors: list[FieldError] = []
        if self.path_model is not None:
            _validate_into(self.path_model, dict(path_params), "path", arguments, errors)
        if self.query_model is not None:
            _validate_into(self.query_model, self._query(query_string), "query", arguments, errors)
        if self.body_model is not None:
            self._bind_body(body or b"", arguments, errors)
        if errors:
            raise ValidationError("Request validation failed", errors)
        if self.context_param is not None:
            arguments[self.context_param] = ctx
        return arguments

    def _query(self, query_string: bytes) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if not query_string:
            return values
        for key, value in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True):
            if key in self.query_lists:
                values.setdefault(key, []).append(value)
            else:
                values[key] = value
        return values

    def _bind_body(self, body: bytes, arguments: dict[str, Any], errors: list[FieldError]) -> None:
        assert self.body_model is not None
        if not body.strip():
            raise MalformedJSONError("request body is empty; send a JSON object")
        try:
            model = self.body_model.model_validate_json(body)
        except pydantic.ValidationError as error:
            details = error.errors(include_url=False, include_input=False, include_context=False)
            if any(d["type"] == "json_invalid" for d in details):
                raise MalformedJSONError(
                    f"request body is not valid JSON: {details[0]['msg']}"
                ) from None
            errors.extend(_field_errors(details, "body"))
            return
        if self.body_spread:
            arguments.update((name, getattr(model, name)) for name in type(model).model_fields)
        else:
            assert self.body_param is not None
            arguments[self.body_param] = model

    def render(self, result: Any) -> Rendered:
        status = self.route.status
        if isinstance(result, Response):
            return _render_response(result)
        if result is None and status == 204:
            return Rendered(204, b"", None)
        if isinstance(result, BaseModel):
            return Rendered(status, result.model_dump_json().encode())
        return Rendered(status, orjson.dumps(result, default=_json_default))


def build_endpoint(route: Route, path_params: Mapping[str, Any]) -> Endpoint:
    """Analyse ``route.handler``; a signature faaskit cannot serve is a ConfigurationError."""
    handler = route.handler
    where = f"{route.method} {route.path} ({route.name})"
    try:
        hints = typing.get_type_hints(handler, include_extras=True)
    except Exception as error:
        raise ConfigurationError(f"{where}: cannot read type hints: {error}") from error
    endpoint = Endpoint(route, response_model=hints.get("return"))
    path_fields: dict[str, Any] = {}
    query_fields: dict[str, Any] = {}
    body_fields: dict[str, Any] = {}
    query_lists: set[str] = set()
    for name, parameter in inspect.signature(handler).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ConfigurationError(f"{where}: *args/**kwargs are not supported")
        annotation = hints.get(name, str)
        base, marker = _unwrap(annotation)
        default = ... if parameter.default is parameter.empty else parameter.default
        if base is Context:
            endpoint.context_param = name
        elif name in path_params:
            path_fields[name] = (annotation, default)
        elif isinstance(marker, Body):
            body_fields[name] = (base, _field(default, marker))
        elif marker is None and _is_model(base):
            if endpoint.body_model is not None:
                raise ConfigurationError(f"{where}: more than one body model ({name})")
            endpoint.body_param, endpoint.body_model = name, base
        else:
            query = marker if isinstance(marker, Query) else Query()
            query_fields[name] = (base, _field(default, query))
            if get_origin(base) in (list, tuple, set, frozenset):
                query_lists.add(query.alias or name)
    missing = set(path_params) - set(path_fields)
    if missing:
        raise ConfigurationError(
            f"{where}: path parameter(s) {sorted(missing)} not in the signature"
        )
    if body_fields:
        if endpoint.body_model is not None:
            raise ConfigurationError(f"{where}: use a body model or Body() fields, not both")
        endpoint.body_model = create_model(_title(route.name, "Body"), **body_fields)
        endpoint.body_spread = True
    if path_fields:
        endpoint.path_model = create_model(_title(route.name, "Path"), **path_fields)
    if query_fields:
        endpoint.query_model = create_model(_title(route.name, "Query"), **query_fields)
        endpoint.query_lists = frozenset(query_lists)
    return endpoint


def _validate_into(
    model: type[BaseModel],
    values: dict[str, Any],
    source: str,
    arguments: dict[str, Any],
    errors: list[FieldError],
) -> None:
    try:
        validated = model.model_validate(values)
    except pydantic.ValidationError as error:
        details = error.errors(include_url=False, include_input=False, include_context=False)
        errors.extend(_field_errors(details, source))
        return
    arguments.update((name, getattr(validated, name)) for name in type(validated).model_fields)


def _field_errors(details: Any, source: str) -> list[FieldError]:
    return [{"loc": [source, *d["loc"]], "msg": d["msg"], "type": d["type"]} for d in details]


def _unwrap(annotation: Any) -> tuple[Any, Any]:
    """(the type, the faaskit marker in ``Annotated[...]`` or None)."""
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        marker = next((e for e in extras if isinstance(e, Query | Body)), None)
        others = [e for e in extras if not isinstance(e, Query | Body)]
        return (Annotated[base, *others] if others else base), marker
    return annotation, None


def _field(default: Any, marker: Query | Body) -> Any:
    return Field(default, alias=marker.alias, description=marker.description)


def _is_model(annotation: Any) -> bool:
    return inspect.isclass(annotation) and issubclass(annotation, BaseModel)


def _title(function: str, part: str) -> str:
    return "".join(word.capitalize() for word in function.replace(".", "_").split("_")) + part


def _render_response(response: Response) -> Rendered:
    headers = tuple((k.lower().encode(), v.encode()) for k, v in response.headers.items())
    body = response.body
    media = response.media_type.encode() if response.media_type else None
    if body is None:
        return Rendered(response.status, b"", media, headers)
    if isinstance(body, bytes):
        return Rendered(response.status, body, media or b"application/octet-stream", headers)
    if isinstance(body, str):
        return Rendered(
            response.status, body.encode(), media or b"text/plain; charset=utf-8", headers
        )
    if isinstance(body, BaseModel):
        return Rendered(response.status, body.model_dump_json().encode(), media or JSON, headers)
    return Rendered(
        response.status, orjson.dumps(body, default=_json_default), media or JSON, headers
    )


def _json_default(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


Renderer = Callable[[Any], Rendered]
