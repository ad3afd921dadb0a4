"""Exports GenAI spans to a running tokenledger with the real OpenTelemetry Python SDK.

Usage: TOKENLEDGER_URL=http://127.0.0.1:8080 TOKENLEDGER_KEY=tl_... python export.py

Spans are recorded by the SDK (TracerProvider, real span ids and clock), then sent with the
official OTLP/HTTP exporter (protobuf, its only encoding), once plain and once gzip, and again
(a retry, which must count once). The Python exporter has no JSON encoding, so the JSON export
builds the same ExportTraceServiceRequest with the exporter's own encoder, turns it into OTLP/JSON
with protobuf's json_format (then hex ids, as OTLP/JSON requires instead of base64), and posts it.
Exits non-zero if any export is not acknowledged. Prints a JSON summary on stdout.
"""

import base64
import json
import os
import sys

import requests
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

URL = os.environ["TOKENLEDGER_URL"].rstrip("/") + "/v1/traces"
KEY = os.environ["TOKENLEDGER_KEY"]
HEADERS = {"Authorization": f"Bearer {KEY}"}


def record(tracer, name, usage):
    """One GenAI client span; `usage` maps gen_ai.usage.* suffixes to counts."""
    with tracer.start_as_current_span(f"chat {name}") as span:
        span.set_attribute("gen_ai.operation.name", "chat")
        span.set_attribute("gen_ai.provider.name", "openai")
        span.set_attribute("gen_ai.request.model", "gpt-4.1")
        span.set_attribute("gen_ai.response.model", "gpt-4.1-2025-04-14")
        # An array attribute, as real instrumentations set: skipped by the receiver, not an error.
        span.set_attribute("gen_ai.response.finish_reasons", ["stop"])
        for key, value in usage.items():
            span.set_attribute(f"gen_ai.usage.{key}", value)


def record_batch(team, names):
    memory = InMemorySpanExporter()
    provider_ = TracerProvider(resource=Resource.create({"service.name": "otel-client-test", "tokenledger.team": team}))
    provider_.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider_.get_tracer("tokenledger.tests.otel")
    for name, usage in names:
        record(tracer, name, usage)
    with tracer.start_as_current_span("GET /healthz") as span:  # no GenAI usage: ignored
        span.set_attribute("http.request.method", "GET")
    provider_.shutdown()
    return memory.get_finished_spans()


def otlp_json(spans):
    """The exporter's own protobuf request, in OTLP/JSON."""
    message = MessageToDict(encode_spans(spans))
    for resource_spans in message.get("resourceSpans", []):
        for scope_spans in resource_spans.get("scopeSpans", []):
            for span in scope_spans.get("spans", []):
                for field in ("traceId", "spanId", "parentSpanId"):
                    if field in span:
                        span[field] = base64.b64decode(span[field]).hex()
    return message


def main():
    exported = {}
    # 1000 input of which 200 cached, 100 output of which 40 reasoning.
    protobuf_spans = record_batch("search", [("a", {"input_tokens": 1000, "cache_read.input_tokens": 200, "output_tokens": 100, "reasoning.output_tokens": 40})])
    gzip_spans = record_batch("search", [("b", {"input_tokens": 500, "output_tokens": 50})])
    # The deprecated names, as older instrumentations send them.
    json_spans = record_batch("search", [("c", {"prompt_tokens": 300, "completion_tokens": 30})])

    plain = OTLPSpanExporter(endpoint=URL, headers=HEADERS, timeout=10)
    gzipped = OTLPSpanExporter(endpoint=URL, headers=HEADERS, timeout=10, compression=Compression.Gzip)
    for label, exporter, spans in [("protobuf", plain, protobuf_spans), ("protobuf_gzip", gzipped, gzip_spans),
                                   ("protobuf_retry", plain, protobuf_spans), ("protobuf_gzip_retry", gzipped, gzip_spans)]:
        result = exporter.export(spans)
        if result is not SpanExportResult.SUCCESS:
            sys.exit(f"the OTLP exporter reported {result} for the {label} export")
        exported[label] = len(spans)

    for label in ("json", "json_retry"):
        response = requests.post(URL, data=json.dumps(otlp_json(json_spans)), timeout=10,
                                 headers={**HEADERS, "Content-Type": "application/json"})
        if response.status_code != 200 or response.json() != {}:
            sys.exit(f"the {label} export was answered {response.status_code}: {response.text}")
        exported[label] = len(json_spans)

    plain.shutdown()
    gzipped.shutdown()
    print(json.dumps({"exported": exported}))


if __name__ == "__main__":
    main()
