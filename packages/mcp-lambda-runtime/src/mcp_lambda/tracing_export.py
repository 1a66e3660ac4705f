"""The OpenTelemetry SDK behind `MCP_TRACING=otlp`: the process's tracer provider, exporting over OTLP/HTTP.

Imported only when tracing is on: the SDK, its OTLP/HTTP exporter (protobuf, requests) and the X-Ray
propagator cost about 65 ms of CPU at a cold start (bench/README.md); with tracing off none of it loads.

Where the spans go: the exporter's own variables say (`OTEL_EXPORTER_OTLP_ENDPOINT`, `..._HEADERS`,
`..._TIMEOUT`), and the sampler is the SDK's (`OTEL_TRACES_SAMPLER`, by default following the client's
sampled flag). On Lambda, `McpLambdaService(tracing=McpTracing.adot())` adds the ADOT collector extension,
which listens at localhost:4318 and sends to X-Ray. The spans of an invocation are sent before it returns
(`tracing.flush`), since a frozen environment sends nothing; the batch processor makes that one request.

A process that already has an SDK tracer provider (the application's own set-up, or a test's in-memory
exporter) keeps it: the runtime's spans then go wherever its other spans go.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from mcp_lambda import contract as c

EXPORT_TIMEOUT_SECONDS = 2.0
"""The exporter's timeout unless `OTEL_EXPORTER_OTLP_(TRACES_)TIMEOUT` says otherwise: the collector is on the
same machine, and a missing one must not hold every reply for the library's default of 10 s."""

_TIMEOUT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")
# The execution environment, as OpenTelemetry's FaaS and cloud resource conventions name it.
_LAMBDA_RESOURCE = {"cloud.region": "AWS_REGION", "faas.name": "AWS_LAMBDA_FUNCTION_NAME",
                    "faas.version": "AWS_LAMBDA_FUNCTION_VERSION", "faas.instance": "AWS_LAMBDA_LOG_STREAM_NAME"}


def install(environ: Mapping[str, str]) -> bool:
    """Make an OTLP-exporting provider the process's, unless it has one; True if this call installed it."""
    if not isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        return False
    timeout = None if any(environ.get(name) for name in _TIMEOUT_VARIABLES) else EXPORT_TIMEOUT_SECONDS
    provider = TracerProvider(resource=Resource.create(resource_attributes(environ)))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(timeout=timeout)))
    trace.set_tracer_provider(provider)
    return True


def resource_attributes(environ: Mapping[str, str]) -> dict[str, Any]:
    """The function as the spans' resource: service, cloud and FaaS attributes from Lambda's variables
    (`OTEL_RESOURCE_ATTRIBUTES` is merged in by the SDK; `OTEL_SERVICE_NAME` wins over the Powertools name)."""
    attributes: dict[str, Any] = {"cloud.provider": "aws", "cloud.platform": "aws_lambda"}
    attributes.update({key: environ[name] for key, name in _LAMBDA_RESOURCE.items() if environ.get(name)})
    memory = environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
    if memory.isdigit():
        attributes["faas.max_memory"] = int(memory) * 1024 * 1024
    service = environ.get(c.OTEL_SERVICE_NAME) or environ.get(c.POWERTOOLS_SERVICE_NAME)
    if service:
        attributes["service.name"] = service
    return attributes
