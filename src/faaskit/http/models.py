"""The pydantic side of binding: the models a route's parameters make, and validation into
them. Only a route that needs one imports this (a query, a body, a path parameter other
than plain text), so a gateway of plain routes never loads pydantic (~100 ms of a start).
"""

from __future__ import annotations

import logging
import types
import typing
from datetime import date, datetime, time
from typing import Annotated, Any, get_args, get_origin

import pydantic
from pydantic import BaseModel, BeforeValidator, Field, create_model
from pydantic.fields import FieldInfo

from faaskit.errors import FieldError, MalformedJSONError
from faaskit.http.binding import INT64_MAX, INT64_MIN
from faaskit.params import Body, Query

__all__ = ["body_field", "model", "path_field", "query_field", "validate_body", "validate_into"]

logger = logging.getLogger("faaskit.http")


def model(name: str, fields: dict[str, Any]) -> type[BaseModel]:
    """A model of ``fields`` (``name: (type, default or FieldInfo)``)."""
    return create_model(name, **fields)


def path_field(annotation: Any, default: Any) -> tuple[Any, Any]:
    return _in_url(annotation), default


def query_field(base: Any, default: Any, marker: Query) -> tuple[Any, Any]:
    return _in_url(base), _field(default, marker)


def body_field(base: Any, default: Any, marker: Body) -> tuple[Any, Any]:
    return base, _field(default, marker)


def validate_into(
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


def validate_body(model: type[BaseModel], body: bytes, errors: list[FieldError]) -> Any:
    """The body as ``model``, or None with its failing fields added to ``errors``;
    MalformedJSONError when it is not JSON."""
    try:
        # Strict: JSON has types, so true is not 1, false is not 0.0 and "5" is not 5.
        return model.model_validate_json(body, strict=True)
    except pydantic.ValidationError as error:
        details = error.errors(include_url=False, include_input=False, include_context=False)
        if any(d["type"] == "json_invalid" for d in details):
            raise MalformedJSONError(
                f"request body is not valid JSON: {details[0]['msg']}"
            ) from None
        errors.extend(_field_errors(details, "body"))
        return None
    except Exception:
        # A validator that fails with something other than ValueError (a decimal
        # InvalidOperation on a huge number) still judged the input: a 400, logged.
        logger.warning("a body validator raised", exc_info=True)
        errors.append(
            {"loc": ["body"], "msg": "the body could not be validated", "type": "value_error"}
        )
        return None


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


def _field(default: Any, marker: Query | Body) -> Any:
    return Field(default, alias=marker.alias, description=marker.description)
