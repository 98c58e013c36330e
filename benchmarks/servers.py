"""The contenders: uvicorn factories (``uvicorn --factory servers:NAME``), one per app.

Each factory imports its framework only when called, so a server process loads exactly
what it serves (and the start-up measurement times only that). The handlers are the same
everywhere: ``GET /hello`` answers ``{"message": "hello"}``; ``POST /items`` (faaskit only)
inserts the JSON body as a document with a fresh uuid4 id and answers 201 with the id.

No ``from __future__ import annotations`` here: faaskit reads the handlers' type hints, and
the body model of ``faaskit_items`` is local to its factory.
"""

from typing import Any


def faaskit_hello() -> Any:
    return _serve_faaskit(_hello_app())


def _hello_app() -> Any:
    from faaskit import App

    app = App("bench")

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"message": "hello"}

    return app


def faaskit_hello_no_records() -> Any:
    """faaskit's hello with invocation records off: what records cost, beside it."""
    import os

    os.environ["FAASKIT_RECORDS"] = "off"
    return faaskit_hello()


def faaskit_hello_no_metrics() -> Any:
    """faaskit's hello with metrics off (``FAASKIT_METRICS=off``: none kept, none served):
    what keeping the Prometheus series costs, beside it."""
    import os

    os.environ["FAASKIT_METRICS"] = "off"
    return faaskit_hello()


def faaskit_hello_tracing() -> Any:
    """faaskit's hello with OpenTelemetry tracing on: a span per request, batched by a
    ``BatchSpanProcessor`` (what ``FAASKIT_TRACING=otlp`` sets up) into an exporter that
    drops them, so the cost shown is faaskit's and the SDK's, not a collector's."""
    from collections.abc import Sequence

    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from faaskit.observability.tracing import Tracing

    class Dropping(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    def traced(runtime: Any) -> None:
        runtime.tracing = Tracing(runtime.app.name, Dropping())

    return _serve_faaskit(_hello_app(), traced)


def faaskit_shop() -> Any:
    """The reference shop (examples/shop) as ``faaskit dev examples/shop`` serves it: the
    app named by ``$FAASKIT_APP`` (run.py sets it), settings from the environment, a worker
    alongside unless ``FAASKIT_WORKER=0``, ``FAASKIT_PREWARM`` read at start."""
    from faaskit.serving import asgi_from_environment

    return asgi_from_environment()


def faaskit_items() -> Any:
    import uuid

    from pydantic import BaseModel

    from faaskit import App, Context

    class Item(BaseModel):
        name: str
        price: float

    app = App("bench")
    items = app.collection("items")

    @app.post("/items", status=201)
    async def create_item(item: Item, ctx: Context) -> dict[str, str]:
        item_id = uuid.uuid4().hex
        ctx.documents(items).insert(item_id, item.model_dump())
        return {"id": item_id}

    return _serve_faaskit(app)


def _serve_faaskit(app: Any, configure: Any = None) -> Any:
    """What ``faaskit dev`` does: settings and logging from the environment, then the
    gateway; ``configure(runtime)``, when given, changes the runtime before the gateway."""
    from faaskit.config import Settings
    from faaskit.http.gateway import create_asgi_app
    from faaskit.observability.logging import configure_logging
    from faaskit.runtime.runtime import Runtime

    settings = Settings.load()
    configure_logging(settings.log_level)
    runtime = Runtime(app, settings)
    if configure is not None:
        configure(runtime)
    return create_asgi_app(app, runtime)


def starlette_hello() -> Any:
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def hello(request: Any) -> JSONResponse:
        return JSONResponse({"message": "hello"})

    return Starlette(routes=[Route("/hello", hello, methods=["GET"])])


def fastapi_hello() -> Any:
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"message": "hello"}

    return app


def powertools_hello() -> Any:
    from aws_lambda_powertools.event_handler import HttpResolverLocal

    app = HttpResolverLocal()

    @app.get("/hello")
    async def hello() -> dict[str, str]:
        return {"message": "hello"}

    return app


def raw_asgi_hello() -> Any:
    """No framework: a bare ASGI callable, uvicorn's own ceiling for this answer."""
    body = b'{"message":"hello"}'
    start = {
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"19")],
    }
    not_found = {"type": "http.response.start", "status": 404, "headers": []}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        found = scope["path"] == "/hello"
        await send(start if found else not_found)
        await send({"type": "http.response.body", "body": body if found else b""})

    return app
