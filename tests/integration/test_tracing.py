"""Traces (the otel extra): with OTEL_EXPORTER_OTLP_ENDPOINT set, one request is one trace from
the gateway's span to the worker's, received by a real OTLP/HTTP collector stand-in over a real
connection; the caller's own traceparent is continued."""

from __future__ import annotations

import http.server
import os
import threading
import time
import uuid

import httpx
import pytest

from services.cli.embedded import free_port
from services.cli.stack import started
from tests.conftest import TEST_ENV, app_headers, b64, make_app

if os.environ.get("CI") == "true":  # `make test` installs the extra: CI must run this
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_service
else:
    trace_service = pytest.importorskip(
        "opentelemetry.proto.collector.trace.v1.trace_service_pb2",
        reason="the otel extra is not installed")


def test_one_request_is_one_trace_from_the_gateway_to_the_worker(tmp_path, faces):
    spans: list[tuple[str, object]] = []  # (service, span)

    class Collector(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            export = trace_service.ExportTraceServiceRequest.FromString(body)
            for resource in export.resource_spans:
                service = next(a.value.string_value for a in resource.resource.attributes
                               if a.key == "service.name")
                for scope in resource.scope_spans:
                    spans.extend((service, span) for span in scope.spans)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    collector = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    threading.Thread(target=collector.serve_forever, daemon=True).start()
    env = {**TEST_ENV, "FACEGATE_DATA_DIR": str(tmp_path / "facegate"),
           "FACEGATE_WORKER_METRICS_PORT": str(free_port()),
           "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}",
           "OTEL_BSP_SCHEDULE_DELAY": "200"}  # export every 0.2 s, not 5 s
    caller_trace = uuid.uuid4().hex
    try:
        with started(env) as stack:
            app = make_app(stack, "traced")
            with httpx.Client(base_url=stack.base_url, headers=app_headers(app),
                              timeout=60) as client:
                answer = client.post("/v1/detect", json={"image": b64(faces["obama.jpg"])},
                                     headers={"traceparent": f"00-{caller_trace}-"
                                                             f"{'1' * 16}-01"})
                assert answer.status_code == 200, answer.text
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                ours = [(s, span) for s, span in spans if span.trace_id.hex() == caller_trace]
                if {"facegate-gateway", "facegate-worker"} <= {s for s, _ in ours}:
                    break
                time.sleep(0.3)
    finally:
        collector.shutdown()
    gateway = [span for s, span in ours if s == "facegate-gateway"]
    worker = [span for s, span in ours if s == "facegate-worker"]
    assert [span.name for span in gateway] == ["POST /v1/detect"], [s.name for s in gateway]
    assert [span.name for span in worker] == ["facegate.vision"]
    assert gateway[0].parent_span_id.hex() == "1" * 16  # the caller's span continued
    assert worker[0].parent_span_id == gateway[0].span_id  # the worker's is the gateway's child
