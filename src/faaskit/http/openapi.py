"""An OpenAPI 3.1 document of every route, its models and its security scheme."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, TypeAdapter
from pydantic.errors import PydanticInvalidForJsonSchema, PydanticSchemaGenerationError
from pydantic.json_schema import models_json_schema

from faaskit.app import App, Response
from faaskit.http.binding import Endpoint
from faaskit.http.problems import PROBLEM_SCHEMA

__all__ = ["openapi_document"]

_CONVERTOR = re.compile(r"{([^}:]+)(:[^}]+)?}")
REF = "#/components/schemas/{model}"
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
NUL_FREE = "^[^\\x00]*$"
"""faaskit's one text rule (:mod:`faaskit.store.text`): no text holds NUL, so every string
and every free object key the document shows says so."""
JSON_VALUE = "JSONValue"
_JSON_VALUE_REF = {"$ref": REF.format(model=JSON_VALUE)}
_JSON_VALUE_SCHEMA: dict[str, Any] = {
    "title": JSON_VALUE,
    "description": "Any JSON value whose text holds no NUL",
    "anyOf": [
        {"type": ["null", "boolean", "number"]},
        {"type": "string", "pattern": NUL_FREE},
        {"type": "array", "items": _JSON_VALUE_REF},
        {
            "type": "object",
            "propertyNames": {"pattern": NUL_FREE},
            "additionalProperties": _JSON_VALUE_REF,
        },
    ],
}
_SUBSCHEMA = ("items", "additionalProperties", "not", "contains", "propertyNames")
_SUBSCHEMAS = ("anyOf", "oneOf", "allOf", "prefixItems")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs")
_CHALLENGE = {
    "description": "The bearer challenge (RFC 6750)",
    "required": True,
    "schema": {"type": "string"},
}
_RETRY_AFTER = {
    "description": "Seconds to wait before the next request",
    "required": True,
    "schema": {"type": "integer", "minimum": 0},
}


def openapi_document(app: App, endpoints: list[Endpoint]) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = []
    for endpoint in endpoints:
        if endpoint.body_model is not None:
            models.append((endpoint.body_model, "validation"))
        if _is_model(endpoint.response_model):
            models.append((endpoint.response_model, "serialization"))
    refs, defs = models_json_schema(models, ref_template=REF) if models else ({}, {})
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        route = endpoint.route
        path = _CONVERTOR.sub(r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(endpoint, refs, schemas)
    for schema in schemas.values():
        _text_rule(schema)
    schemas[JSON_VALUE] = _JSON_VALUE_SCHEMA
    schemas["Problem"] = PROBLEM_SCHEMA
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": app.title, "version": app.version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }
    if app.description:
        document["info"]["description"] = app.description
    return document


def _operation(endpoint: Endpoint, refs: dict[Any, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    route = endpoint.route
    operation: dict[str, Any] = {"operationId": route.name}
    if route.summary:
        operation["summary"] = route.summary
    if route.tags:
        operation["tags"] = list(route.tags)
    parameters = [
        *_parameters(endpoint.path_model, "path", schemas),
        *_parameters(endpoint.query_model, "query", schemas),
    ]
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body_model is not None:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[endpoint.body_model, "validation"]}},
        }
    success: dict[str, Any] = {"description": "Success"}
    if route.status != 204:
        success["content"] = {
            "application/json": {"schema": _response_schema(endpoint, refs, schemas)}
        }
    responses: dict[str, Any] = {str(route.status): success}
    if route.scopes is not None:
        operation["security"] = [{"bearerAuth": list(route.scopes)}]
    if route.rate_limits:
        operation["x-rate-limits"] = [_rate_limit(limit) for limit in route.rate_limits]
    for status, description in sorted(error_statuses(endpoint).items()):
        responses[str(status)] = _problem_response(status, description)
    operation["responses"] = responses
    return operation


def _problem_response(status: int, description: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}},
    }
    if status in (401, 403):
        response["headers"] = {"WWW-Authenticate": dict(_CHALLENGE)}
    elif status == 429:
        response["headers"] = {"Retry-After": dict(_RETRY_AFTER)}
    return response


def error_statuses(endpoint: Endpoint) -> dict[int, str]:
    """Every error status ``endpoint`` can answer, with what it means: those faaskit answers
    itself, then those the route declares (``errors=``), each a problem+json body."""
    route = endpoint.route
    has_body = endpoint.body_model is not None
    statuses: dict[int, str] = {}
    if has_body or endpoint.path_model is not None or endpoint.query_model is not None:
        statuses[400] = "Malformed JSON or failed validation" if has_body else "Failed validation"
    if route.scopes is not None:
        statuses[401] = "Missing or invalid bearer token"
        if route.scopes:
            statuses[403] = "The token lacks a required scope"
    if endpoint.path_model is not None:
        statuses[404] = "Not found"
    if route.method in WRITE_METHODS:
        statuses[409] = "Conflict: a concurrent change won; reload and retry"
    if has_body:
        statuses[413] = "Body too large"
        statuses[415] = "Body is not JSON"
    if route.rate_limits:
        limits = ", ".join(_describe_limit(limit) for limit in route.rate_limits)
        statuses[429] = f"Too many requests ({limits} per client); wait Retry-After seconds"
    statuses[500] = "Internal error (quote the request id)"
    for status, description in route.errors:
        known = statuses.get(status)
        statuses[status] = f"{description}; or: {known}" if known else description
    return statuses


def _rate_limit(limit: Any) -> dict[str, Any]:
    described: dict[str, Any] = {"limit": limit.limit, "per": limit.per}
    if limit.burst is not None:
        described["burst"] = limit.burst
    return described


def _describe_limit(limit: Any) -> str:
    text = f"{limit.limit} per {limit.per:g} s"
    return f"{text}, bursts of {limit.burst}" if limit.burst is not None else text


def _parameters(
    model: type[BaseModel] | None, where: str, schemas: dict[str, Any]
) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = _hoist(model.model_json_schema(ref_template=REF), schemas)
    required = set(schema.get("required", []))
    return [
        {
            "name": name,
            "in": where,
            "required": where == "path" or name in required,
            "schema": _text_rule(_parameter_schema(prop)),
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


def _parameter_schema(prop: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema, its bounds kept; a URL cannot say null (an optional parameter
    is left out instead), so the ``null`` of ``X | None`` and a ``None`` default go."""
    schema = {k: v for k, v in prop.items() if k not in ("title", "description")}
    if "default" in schema and schema["default"] is None:
        del schema["default"]
    kinds = schema.get("type")
    if isinstance(kinds, list) and "null" in kinds and len(kinds) > 1:
        kinds = [kind for kind in kinds if kind != "null"]
        schema["type"] = kinds[0] if len(kinds) == 1 else kinds
    branches = schema.get("anyOf")
    if branches is not None:
        kept = [branch for branch in branches if branch != {"type": "null"}]
        if len(kept) == 1:
            del schema["anyOf"]
            schema = {**kept[0], **schema}
        elif kept and len(kept) < len(branches):
            schema["anyOf"] = kept
    return schema


def _text_rule(schema: Any) -> Any:
    """``schema`` (changed in place) with faaskit's text rule on each string without a
    format or fixed values, and on the keys of each object open to more properties."""
    if not isinstance(schema, dict):
        return schema
    kinds = schema.get("type")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    if "string" in kinds and not {"format", "enum", "const"} & schema.keys():
        if "pattern" not in schema:
            schema["pattern"] = NUL_FREE
        elif schema["pattern"] != NUL_FREE and {"pattern": NUL_FREE} not in schema.get("allOf", []):
            schema.setdefault("allOf", []).append({"pattern": NUL_FREE})
    if "object" in kinds and schema.get("additionalProperties") is not False:
        schema.setdefault("propertyNames", {"pattern": NUL_FREE})
        if schema.get("additionalProperties", True) in (True, {}):
            schema["additionalProperties"] = dict(_JSON_VALUE_REF)
    for key in _SUBSCHEMA:
        _text_rule(schema.get(key))
    for key in _SUBSCHEMAS:
        for item in schema.get(key, ()):
            _text_rule(item)
    for key in _SCHEMA_MAPS:
        for item in schema.get(key, {}).values():
            _text_rule(item)
    return schema


def _response_schema(
    endpoint: Endpoint, refs: dict[Any, Any], schemas: dict[str, Any]
) -> dict[str, Any]:
    model = endpoint.response_model
    if _is_model(model):
        return dict(refs[model, "serialization"])
    if model is None or model is Any or model is Response:
        # A Response's body can be anything: say nothing of it.
        return {}
    try:
        schema = TypeAdapter(model).json_schema(ref_template=REF, mode="serialization")
    except (PydanticSchemaGenerationError, PydanticInvalidForJsonSchema):
        # A return annotation pydantic cannot describe: say nothing of it.
        return {}
    return _hoist(schema, schemas)


def _hoist(schema: dict[str, Any], schemas: dict[str, Any]) -> dict[str, Any]:
    """Move the models a schema refers to (``list[Item]``, an Enum parameter) into
    ``components/schemas``, where its ``$ref``s point."""
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    return schema


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)
