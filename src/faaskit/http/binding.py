"""From a handler's signature to its arguments, and from its result to a response.

Built once per route when the gateway starts: path and query parameters become one
pydantic model each, the body another, so one request is validated in a few calls into
pydantic-core and every failing field is reported at once. A route that needs no model
(no query, no body, path parameters of plain text) binds without pydantic, which is then
never imported for it (:mod:`faaskit.http.models` holds what needs it).
"""

from __future__ import annotations

import inspect
import sys
import typing
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, get_args, get_origin
from urllib.parse import parse_qsl

import orjson
from starlette.convertors import Convertor, PathConvertor, StringConvertor

from faaskit.app import Response, Route
from faaskit.context import Context
from faaskit.errors import ConfigurationError, FieldError, MalformedJSONError, ValidationError
from faaskit.params import Body, Query
from faaskit.resources import ResourceSpec, resource_for
from faaskit.store.text import NUL_MESSAGE, nul_places

if TYPE_CHECKING:
    from pydantic import BaseModel

__all__ = ["Endpoint", "Rendered", "build_endpoint"]

JSON = b"application/json"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_ESCAPED_NUL = b"\\u0000"
_TEXT_CONVERTORS = (StringConvertor, PathConvertor)


class Rendered:
    """An answer ready to send: status, body, media type and extra headers."""

    __slots__ = ("body", "headers", "media_type", "status")

    def __init__(
        self,
        status: int,
        body: bytes,
        media_type: bytes | None = JSON,
        headers: tuple[tuple[bytes, bytes], ...] = (),
    ) -> None:
        self.status = status
        self.body = body
        self.media_type = media_type
        self.headers = headers

    def __repr__(self) -> str:
        return f"Rendered({self.status}, {self.body!r}, {self.media_type!r}, {self.headers!r})"


def _pydantic_model(value: Any) -> bool:
    """Whether ``value`` is a pydantic model instance; pydantic is loaded if one exists."""
    pydantic = sys.modules.get("pydantic")
    return pydantic is not None and isinstance(value, pydantic.BaseModel)


class Endpoint:
    """A route ready to serve: how to bind its arguments and render its result."""

    __slots__ = (
        "_path_fields",
        "_path_model",
        "body_model",
        "body_param",
        "body_spread",
        "context_param",
        "plain_path",
        "query_lists",
        "query_model",
        "resources",
        "response_model",
        "route",
    )

    def __init__(self, route: Route, response_model: Any = None) -> None:
        self.route = route
        self.response_model = response_model
        self.context_param: str | None = None
        self._path_fields: dict[str, Any] = {}
        self._path_model: type[BaseModel] | None = None
        self.plain_path = False
        """True when every path parameter is plain text: bound as it is, no model."""
        self.query_model: type[BaseModel] | None = None
        self.query_lists: frozenset[str] = frozenset()
        self.body_param: str | None = None
        self.body_model: type[BaseModel] | None = None
        self.body_spread = False
        """True when the body model was assembled from ``Body()`` parameters."""
        self.resources: tuple[tuple[str, str], ...] = ()
        """(parameter, resource) of the per-process resources the handler takes."""

    @property
    def needs_body(self) -> bool:
        return self.body_model is not None

    @property
    def path_model(self) -> type[BaseModel] | None:
        """The path parameters' model (for plain ones, made when the OpenAPI document
        asks for it: binding does without)."""
        if self._path_model is None and self._path_fields:
            from faaskit.http import models

            fields = {k: models.path_field(*field) for k, field in self._path_fields.items()}
            self._path_model = models.model(_title(self.route.name, "Path"), fields)
        return self._path_model

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
        if self._path_fields:
            values = dict(path_params)
            _refuse_nul(values, "path", errors)
            if self.plain_path:
                arguments.update(values)
            else:
                _validate_into(self.path_model, values, "path", arguments, errors)  # type: ignore[arg-type]
        if self.query_model is not None:
            values = self._query(query_string)
            _refuse_nul(values, "query", errors)
            _validate_into(self.query_model, values, "query", arguments, errors)
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
        if _ESCAPED_NUL in body and _nul_fields(body, errors):
            return
        from faaskit.http.models import validate_body

        model = validate_body(self.body_model, body, errors)
        if model is None:
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
        if _pydantic_model(result):
            return Rendered(status, result.model_dump_json().encode())
        return Rendered(status, orjson.dumps(result, default=_json_default))


def build_endpoint(
    route: Route,
    path_params: Mapping[str, Convertor[Any]],
    resources: Mapping[str, ResourceSpec] | None = None,
) -> Endpoint:
    """Analyse ``route.handler``; a signature faaskit cannot serve is a ConfigurationError.
    A parameter named after one of ``resources`` (or typed as what it makes) takes it."""
    handler = route.handler
    where = f"{route.method} {route.path} ({route.name})"
    try:
        hints = typing.get_type_hints(handler, include_extras=True)
    except Exception as error:
        raise ConfigurationError(f"{where}: cannot read type hints: {error}") from error
    endpoint = Endpoint(route, response_model=hints.get("return"))
    path_fields: dict[str, tuple[Any, Any]] = {}
    query_fields: dict[str, tuple[Any, Any, Query]] = {}
    body_fields: dict[str, tuple[Any, Any, Body]] = {}
    query_lists: set[str] = set()
    taken: list[tuple[str, str]] = []
    for name, parameter in inspect.signature(handler).parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise ConfigurationError(f"{where}: *args/**kwargs are not supported")
        annotation = hints.get(name, str)
        base, marker = _unwrap(annotation)
        default = ... if parameter.default is parameter.empty else parameter.default
        resource = resource_for(resources, parameter, base) if resources else None
        if resource is not None and name not in path_params:
            taken.append((name, resource))
        elif base is Context:
            endpoint.context_param = name
        elif name in path_params:
            path_fields[name] = (annotation, default)
        elif isinstance(marker, Body):
            body_fields[name] = (base, default, marker)
        elif marker is None and _is_model(base):
            if endpoint.body_model is not None:
                raise ConfigurationError(f"{where}: more than one body model ({name})")
            endpoint.body_param, endpoint.body_model = name, base
        else:
            query = marker if isinstance(marker, Query) else Query()
            query_fields[name] = (base, default, query)
            if get_origin(base) in (list, tuple, set, frozenset):
                query_lists.add(query.alias or name)
    endpoint.resources = tuple(taken)
    missing = set(path_params) - set(path_fields)
    if missing:
        raise ConfigurationError(
            f"{where}: path parameter(s) {sorted(missing)} not in the signature"
        )
    if body_fields:
        if endpoint.body_model is not None:
            raise ConfigurationError(f"{where}: use a body model or Body() fields, not both")
        from faaskit.http import models

        fields = {k: models.body_field(*field) for k, field in body_fields.items()}
        endpoint.body_model = models.model(_title(route.name, "Body"), fields)
        endpoint.body_spread = True
    endpoint._path_fields = path_fields
    # Text a path convertor gives, declared as plain str: what pydantic would return as is.
    endpoint.plain_path = all(
        annotation is str and isinstance(path_params[name], _TEXT_CONVERTORS)
        for name, (annotation, _) in path_fields.items()
    )
    if path_fields and not endpoint.plain_path:
        endpoint.path_model  # noqa: B018  # made now: a type pydantic refuses fails at start-up
    if query_fields:
        from faaskit.http import models

        fields = {k: models.query_field(*field) for k, field in query_fields.items()}
        endpoint.query_model = models.model(_title(route.name, "Query"), fields)
        endpoint.query_lists = frozenset(query_lists)
    return endpoint


def _validate_into(
    model: type[BaseModel],
    values: dict[str, Any],
    source: str,
    arguments: dict[str, Any],
    errors: list[FieldError],
) -> None:
    from faaskit.http.models import validate_into

    validate_into(model, values, source, arguments, errors)


def _refuse_nul(values: Mapping[str, Any], source: str, errors: list[FieldError]) -> None:
    for name, value in values.items():
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(text, str) and "\x00" in text for text in texts):
            errors.append({"loc": [source, name], "msg": NUL_MESSAGE, "type": "nul"})


def _nul_fields(body: bytes, errors: list[FieldError]) -> bool:
    """Report every string of the JSON body that holds NUL (faaskit's one text rule, which
    the store applies too); False when there is none or the body is not JSON."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    found = nul_places(document)
    for path, in_key in found:
        message = f"a key: {NUL_MESSAGE}" if in_key else NUL_MESSAGE
        errors.append({"loc": ["body", *path], "msg": message, "type": "nul"})
    return bool(found)


def _unwrap(annotation: Any) -> tuple[Any, Any]:
    """(the type, the faaskit marker in ``Annotated[...]`` or None)."""
    if get_origin(annotation) is Annotated:
        base, *extras = get_args(annotation)
        marker = next((e for e in extras if isinstance(e, Query | Body)), None)
        others = [e for e in extras if not isinstance(e, Query | Body)]
        return (Annotated[base, *others] if others else base), marker
    return annotation, None


def _is_model(annotation: Any) -> bool:
    pydantic = sys.modules.get("pydantic")  # not loaded: no annotation can be a model
    return (
        pydantic is not None
        and inspect.isclass(annotation)
        and issubclass(annotation, pydantic.BaseModel)
    )


def _title(function: str, part: str) -> str:
    return "".join(word.capitalize() for word in function.replace(".", "_").split("_")) + part


def _render_response(response: Response) -> Rendered:
    headers = tuple((k.lower().encode(), v.encode()) for k, v in response.header_items())
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
    if _pydantic_model(body):
        return Rendered(response.status, body.model_dump_json().encode(), media or JSON, headers)
    return Rendered(
        response.status, orjson.dumps(body, default=_json_default), media or JSON, headers
    )


def _json_default(value: Any) -> Any:
    if _pydantic_model(value):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


Renderer = Callable[[Any], Rendered]
