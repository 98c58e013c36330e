"""From a handler's signature to its arguments, and from its result to a response.

Built once per route when the gateway starts: path and query parameters become one
pydantic model each, the body another, so one request is validated in a few calls into
pydantic-core and every failing field is reported at once.
"""

from __future__ import annotations

import inspect
import logging
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Annotated, Any, get_args, get_origin
from urllib.parse import parse_qsl

import orjson
import pydantic
from pydantic import BaseModel, BeforeValidator, Field, create_model
from pydantic.fields import FieldInfo

from faaskit.app import Response, Route
from faaskit.context import Context
from faaskit.errors import (
    ConfigurationError,
    FieldError,
    MalformedJSONError,
    ValidationError,
)
from faaskit.params import Body, Query
from faaskit.store.text import NUL_MESSAGE, nul_places

__all__ = ["Endpoint", "Rendered", "build_endpoint"]

JSON = b"application/json"
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_ESCAPED_NUL = b"\\u0000"
logger = logging.getLogger("faaskit.http")


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
            values = dict(path_params)
            _refuse_nul(values, "path", errors)
            _validate_into(self.path_model, values, "path", arguments, errors)
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
        try:
            # Strict: JSON has types, so true is not 1, false is not 0.0 and "5" is not 5.
            model = self.body_model.model_validate_json(body, strict=True)
        except pydantic.ValidationError as error:
            details = error.errors(include_url=False, include_input=False, include_context=False)
            if any(d["type"] == "json_invalid" for d in details):
                raise MalformedJSONError(
                    f"request body is not valid JSON: {details[0]['msg']}"
                ) from None
            errors.extend(_field_errors(details, "body"))
            return
        except Exception:
            # A validator that fails with something other than ValueError (a decimal
            # InvalidOperation on a huge number) still judged the input: a 400, logged.
            logger.warning("a body validator raised", exc_info=True)
            errors.append(
                {"loc": ["body"], "msg": "the body could not be validated", "type": "value_error"}
            )
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
            path_fields[name] = (_in_url(annotation), default)
        elif isinstance(marker, Body):
            body_fields[name] = (base, _field(default, marker))
        elif marker is None and _is_model(base):
            if endpoint.body_model is not None:
                raise ConfigurationError(f"{where}: more than one body model ({name})")
            endpoint.body_param, endpoint.body_model = name, base
        else:
            query = marker if isinstance(marker, Query) else Query()
            query_fields[name] = (_in_url(base), _field(default, query))
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


def _in_url(annotation: Any) -> Any:
    """A path or query parameter's type with faaskit's bounds on text from a URL: an int
    without bounds of its own stays within 64 bits (it may reach SQL), and a date or time
    is ISO 8601 text, never a number of seconds since 1970 (``to=0``)."""
    base, args = annotation, ()
    if get_origin(annotation) is Annotated:
        base, *rest = get_args(annotation)
        args = tuple(rest)
    optional = get_origin(base) in (typing.Union, types.UnionType) and type(None) in get_args(base)
    inner = next((a for a in get_args(base) if a is not type(None)), base) if optional else base
    extra: list[Any] = []
    if get_origin(inner) in (list, tuple, set, frozenset) and get_args(inner) in (
        (int,),
        (int, ...),
    ):
        collection = get_origin(inner)
        bounded = Annotated[int, Field(ge=INT64_MIN, le=INT64_MAX)]
        checked: Any = collection[bounded, ...] if collection is tuple else collection[bounded]
    elif inner is int and not _bounded(args):
        extra.append(Field(ge=INT64_MIN, le=INT64_MAX))
    elif inner in (date, datetime, time):
        extra.append(BeforeValidator(_iso_text))
    else:
        return annotation
    if extra:
        checked = Annotated[inner, *extra]
    if optional:
        checked = checked | None
    return Annotated[checked, *args] if args else checked


def _bounded(metadata: tuple[Any, ...]) -> bool:
    for item in metadata:
        if isinstance(item, FieldInfo):
            if any(hasattr(m, name) for m in item.metadata for name in ("ge", "gt", "le", "lt")):
                return True
        elif any(hasattr(item, name) for name in ("ge", "gt", "le", "lt")):
            return True
    return False


def _iso_text(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        raise ValueError("use ISO 8601 (YYYY-MM-DD, or YYYY-MM-DDTHH:MM:SS), not a number")
    return value


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
