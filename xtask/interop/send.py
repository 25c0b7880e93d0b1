"""Send one trace (parent and child), one counter and one log record with the
official OpenTelemetry Python SDK. Endpoint, protocol and service name come
from the standard OTEL_* variables; argv[1] is "grpc" or "http/protobuf"."""

import logging
import sys

from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind

if sys.argv[1] == "grpc":
    from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
else:
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

resource = Resource.create()
tracer_provider = TracerProvider(resource=resource)
tracer_provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
reader = PeriodicExportingMetricReader(OTLPMetricExporter(), export_interval_millis=60_000)
meter_provider = MeterProvider(resource=resource, metric_readers=[reader])
logger_provider = LoggerProvider(resource=resource)
logger_provider.add_log_record_processor(SimpleLogRecordProcessor(OTLPLogExporter()))

log = logging.getLogger("interop")
log.setLevel(logging.INFO)
log.addHandler(LoggingHandler(logger_provider=logger_provider))

tracer = tracer_provider.get_tracer("interop")
counter = meter_provider.get_meter("interop").create_counter("interop.sent", unit="1")
with tracer.start_as_current_span("interop parent", kind=SpanKind.SERVER) as parent:
    parent.set_attribute("interop.language", "python")
    with tracer.start_as_current_span("interop child", kind=SpanKind.CLIENT):
        log.info("interop log record")
        counter.add(1, {"interop.language": "python"})

tracer_provider.shutdown()
meter_provider.shutdown()
logger_provider.shutdown()
