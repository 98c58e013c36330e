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
_ERRORS = {
    "400": "Malformed JSON or failed validation",
    "413": "Body too large",
    "415": "Body is not JSON",
    "500": "Internal error (quote the request id)",
}
_AUTH_ERRORS = {"401": "Missing or invalid bearer token", "403": "Missing scope"}


def openapi_document(app: App, endpoints: list[Endpoint]) -> dict[str, Any]:
    models: list[tuple[type[BaseModel], Any]] = []
    for endpoint in endpoints:
        if endpoint.body_model is not None:
            models.append((endpoint.body_model, "validation"))
        if _is_model(endpoint.response_model):
            models.append((endpoint.response_model, "serialization"))
    refs, defs = models_json_schema(models, ref_template=REF) if models else ({}, {})
    schemas: dict[str, Any] = dict(defs.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        route = endpoint.route
        path = _CONVERTOR.sub(r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(endpoint, refs, schemas)
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
    errors = dict(_ERRORS)
    if endpoint.path_model is not None:
        errors["404"] = "Not found"
    if route.scopes is not None:
        errors.update(_AUTH_ERRORS)
        operation["security"] = [{"bearerAuth": list(route.scopes)}]
    for status, description in sorted(errors.items()):
        responses[status] = {
            "description": description,
            "content": {
                "application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}
            },
        }
    operation["responses"] = responses
    return operation


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
            "schema": {k: v for k, v in prop.items() if k not in ("title", "description")},
            **({"description": prop["description"]} if "description" in prop else {}),
        }
        for name, prop in schema.get("properties", {}).items()
    ]


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
