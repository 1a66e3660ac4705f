"""McpTracing: how a service's traces leave the function (``McpLambdaService(tracing=McpTracing.adot())``).

What it switches on: the runtime's traces (``MCP_TRACING=otlp``: a trace per invocation, joined to the
client's, see ``mcp_lambda/tracing.py``), exported by the OpenTelemetry SDK over OTLP/HTTP to the AWS Distro
for OpenTelemetry (ADOT) collector, which runs beside the function as a Lambda extension (a layer) and sends
the spans to X-Ray; Lambda's active tracing, whose own trace the spans link to and which grants the role the
X-Ray actions the collector uses; the runtime's ``tracing`` extra in the bundle. Off (the default), none of it
is in the template and the runtime imports nothing of the OpenTelemetry SDK.

Why ADOT's collector and OTLP rather than X-Ray through Powertools' Tracer: measured on top of importing a
server, the OpenTelemetry SDK with its OTLP/HTTP exporter costs about 65 ms of CPU at a cold start, Powertools'
Tracer (the X-Ray SDK) about 210 ms (bench/README.md); and an X-Ray segment cannot take the client's W3C
trace as its parent, where an OpenTelemetry span can. The collector layer (the ADOT collector alone, no
auto-instrumentation wrapper) is AWS's; its default configuration receives OTLP at localhost:4318 and exports
traces to X-Ray.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from mcp_lambda import contract as c

#: The account that publishes the ADOT Lambda layers, in every region they are offered.
ADOT_LAYER_ACCOUNT = "901920570463"
#: The ADOT collector layer's version in its name (``aws-otel-collector-<arch>-ver-<version>``) and number.
ADOT_COLLECTOR_VERSION = "0-117-0:1"
#: Where the collector extension receives OTLP over HTTP (its default configuration).
COLLECTOR_ENDPOINT = "http://localhost:4318"


@dataclass(frozen=True)
class McpTracing:
    """Traces of a service; build it with ``McpTracing.adot()``.

    :param collector_layer_arn: the layer with the collector extension.
    """

    collector_layer_arn: str | None = None

    @staticmethod
    def adot(*, collector_layer_arn: str | None = None) -> McpTracing:
        """Spans over OTLP to the ADOT collector extension, which sends them to X-Ray.

        :param collector_layer_arn: the collector's layer, for a newer release or a collector of your own
            configuration (``OPENTELEMETRY_COLLECTOR_CONFIG_URI`` in ``environment``, another backend).
            Default: AWS's ADOT collector layer ``aws-otel-collector-<arm64|amd64>-ver-0-117-0:1`` in the
            stack's region, for the function's architecture.
        """
        return McpTracing(collector_layer_arn=collector_layer_arn)

    def collector_layer(self, scope: Construct, architecture: lambda_.Architecture) -> lambda_.ILayerVersion:
        """The collector's layer for a function of ``architecture`` in ``scope``'s stack."""
        arn = self.collector_layer_arn or (
            f"arn:{Stack.of(scope).partition}:lambda:{Stack.of(scope).region}:{ADOT_LAYER_ACCOUNT}:layer:"
            f"aws-otel-collector-{'arm64' if architecture.name == 'arm64' else 'amd64'}-ver-{ADOT_COLLECTOR_VERSION}"
        )
        return lambda_.LayerVersion.from_layer_version_arn(scope, "TracingCollector", arn)

    @staticmethod
    def environment() -> dict[str, str]:
        """What the runtime reads: tracing on, exported to the collector."""
        return {c.MCP_TRACING: c.TRACING_OTLP, c.OTEL_EXPORTER_OTLP_ENDPOINT: COLLECTOR_ENDPOINT}
