"""Optional OpenTelemetry traces: one trace per request, from the gateway through the Celery task
to the worker's model passes, exported over OTLP/HTTP.

On when the `otel` extra is installed (`pip install 'facegate[otel]'`) and the standard
OpenTelemetry variables name a collector (OTEL_EXPORTER_OTLP_ENDPOINT or
OTEL_EXPORTER_OTLP_TRACES_ENDPOINT; OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and the
exporter's other variables apply as usual). Off otherwise, at the cost of one `is None` test
per span. The gateway's span continues a caller's W3C `traceparent`; the task carries the
gateway span's `traceparent` in its payload (shared/tasks.py), so the worker's span is its child.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("facegate.tracing")
_tracer: Any = None  # an opentelemetry Tracer once set up


def setup(service: str) -> bool:
    """Traces for this process as `service`, if asked for and possible; whether they are on."""
    global _tracer
    if not (os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
            or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")):
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("OTEL_EXPORTER_OTLP_ENDPOINT is set but the otel extra is not installed "
                    "(pip install 'facegate[otel]'): no traces")
        return False
    if _tracer is not None:
        return True
    name = os.environ.get("OTEL_SERVICE_NAME") or service
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    _tracer = trace.get_tracer("facegate")
    log.info("traces exported over OTLP as %s", name)
    return True


@contextlib.contextmanager
def span(name: str, traceparent: str | None = None, server: bool = False,
         **attributes: Any) -> Iterator[Any]:
    """A span around the block (None when traces are off), the child of `traceparent` when one
    is given, else of the current span."""
    if _tracer is None:
        yield None
        return
    from opentelemetry.trace import SpanKind
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    context = (TraceContextTextMapPropagator().extract({"traceparent": traceparent})
               if traceparent else None)
    kind = SpanKind.SERVER if server else SpanKind.INTERNAL
    with _tracer.start_as_current_span(name, context=context, kind=kind,
                                       attributes=attributes) as current:
        yield current


def traceparent() -> str | None:
    """The current span's W3C traceparent, for a task's payload (None when traces are off)."""
    if _tracer is None:
        return None
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    carrier: dict[str, str] = {}
    TraceContextTextMapPropagator().inject(carrier)
    return carrier.get("traceparent")
