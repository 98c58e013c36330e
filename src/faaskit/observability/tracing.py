"""Tracing with OpenTelemetry (the ``faaskit[tracing]`` extra): one trace from an HTTP
request through the messages it publishes, their subscribers, a saga's steps and its
compensations.

Every invocation is a span named after its function (kind SERVER over HTTP, CONSUMER for
a message, task or saga step, INTERNAL else). Its parent is the W3C ``traceparent`` the
invocation arrived with — the request's header, or the header faaskit wrote on the message
when the publishing invocation committed — so the trace follows the outbox: every message
and task a traced invocation publishes or schedules carries its span as ``traceparent``.

``FAASKIT_TRACING=otlp`` exports over OTLP/HTTP (``OTEL_EXPORTER_OTLP_ENDPOINT`` and the
other standard ``OTEL_*`` variables apply), ``memory`` keeps spans in memory
(:attr:`Tracing.exporter`, for tests), ``console`` prints them; unset or ``off``, nothing
of OpenTelemetry is imported and an invocation pays one ``None`` check.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from faaskit.errors import ConfigurationError

__all__ = ["TRACING_VARIABLE", "Tracing", "current_trace_id"]

TRACING_VARIABLE = "FAASKIT_TRACING"
TRACEPARENT = "traceparent"
_KINDS = {"http": "SERVER", "message": "CONSUMER", "task": "CONSUMER", "saga_step": "CONSUMER"}


class Tracing:
    """A tracer provider of one runtime and the propagation of its spans."""

    def __init__(self, service: str, exporter: Any) -> None:
        try:
            from opentelemetry import trace
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor
            from opentelemetry.trace.propagation.tracecontext import (
                TraceContextTextMapPropagator,
            )
        except ImportError:
            raise ConfigurationError(
                f"{TRACING_VARIABLE} needs OpenTelemetry: pip install 'faaskit[tracing]'"
            ) from None
        self.exporter = exporter
        """Where spans go (an InMemorySpanExporter under ``memory``: ``get_finished_spans()``)."""
        self.provider = TracerProvider(resource=Resource.create({"service.name": service}))
        simple = type(exporter).__name__ in ("InMemorySpanExporter", "ConsoleSpanExporter")
        processor = SimpleSpanProcessor(exporter) if simple else BatchSpanProcessor(exporter)
        self.provider.add_span_processor(processor)
        self.tracer = self.provider.get_tracer("faaskit")
        self._trace = trace
        self._propagator = TraceContextTextMapPropagator()
        self._kinds = {name: getattr(trace.SpanKind, kind) for name, kind in _KINDS.items()}

    @classmethod
    def from_environment(cls, service: str) -> Tracing | None:
        """What ``FAASKIT_TRACING`` asks for (None: off)."""
        mode = os.environ.get(TRACING_VARIABLE, "").strip().lower()
        if mode in ("", "off", "0", "false", "no"):
            return None
        if mode == "otlp":
            try:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            except ImportError:
                raise ConfigurationError(
                    f"{TRACING_VARIABLE}=otlp needs pip install 'faaskit[tracing]'"
                ) from None
            return cls(service, OTLPSpanExporter())
        if mode == "memory":
            from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
                InMemorySpanExporter,
            )

            return cls(service, InMemorySpanExporter())
        if mode == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            return cls(service, ConsoleSpanExporter())
        raise ConfigurationError(f"{TRACING_VARIABLE}={mode!r}: use otlp, memory, console or off")

    @contextmanager
    def span(
        self, function: str, trigger: str, headers: Mapping[str, str], attributes: dict[str, Any]
    ) -> Iterator[Any]:
        """The invocation's span, current while it runs, child of the ``traceparent`` in
        ``headers`` when there is one."""
        parent = None
        if TRACEPARENT in headers:
            parent = self._propagator.extract({TRACEPARENT: headers[TRACEPARENT]})
        kind = self._kinds.get(trigger, self._trace.SpanKind.INTERNAL)
        with self.tracer.start_as_current_span(
            function, context=parent, kind=kind, attributes=attributes
        ) as span:
            yield span

    def inject(self, headers: MutableMapping[str, str]) -> None:
        """Write the current span as ``traceparent`` into a message's headers."""
        self._propagator.inject(headers)

    def shutdown(self) -> None:
        self.provider.shutdown()


def current_trace_id() -> str | None:
    """The current span's trace id (32 hex digits), for log lines; None when none is
    recording or OpenTelemetry was never imported."""
    import sys

    trace = sys.modules.get("opentelemetry.trace")
    if trace is None:
        return None
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None
