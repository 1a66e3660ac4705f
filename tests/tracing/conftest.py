"""Spans kept in memory: the OpenTelemetry SDK's in-memory exporter on the process's tracer provider.

A process has one tracer provider, and the runtime uses the one it finds (tracing_export.install), so the tests
put theirs in place before any traced runtime starts; the SDK's own spans (its MCP request spans) go there too.
"""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter


@pytest.fixture(scope="session")
def exporter():
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield exporter
    exporter.shutdown()  # later tests' spans are dropped, not kept


@pytest.fixture
def spans(exporter, monkeypatch) -> InMemorySpanExporter:
    """Tracing on (MCP_TRACING=otlp), no X-Ray trace in the environment, and no span from before the test."""
    monkeypatch.setenv("MCP_TRACING", "otlp")
    monkeypatch.delenv("_X_AMZN_TRACE_ID", raising=False)
    exporter.clear()
    return exporter


def tree(finished: tuple[ReadableSpan, ...] | list[ReadableSpan]) -> list[tuple[int, str]]:
    """The spans as (depth, name), parents before children, siblings in start order; roots are the spans whose
    parent is not among them."""
    ids = {span.context.span_id for span in finished}
    children: dict[int | None, list[ReadableSpan]] = {}
    for span in finished:
        parent = span.parent.span_id if span.parent is not None and span.parent.span_id in ids else None
        children.setdefault(parent, []).append(span)
    out: list[tuple[int, str]] = []

    def walk(parent: int | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s.start_time or 0):
            out.append((depth, span.name))
            walk(span.context.span_id, depth + 1)

    walk(None, 0)
    return out


def named(finished, name: str) -> ReadableSpan:
    matches = [span for span in finished if span.name == name]
    assert len(matches) == 1, f"one span {name!r} in {[s.name for s in finished]}"
    return matches[0]
