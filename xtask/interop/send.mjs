// Send one trace (parent and child), one counter and one log record with the
// official OpenTelemetry JavaScript SDK over OTLP/HTTP JSON. Endpoint and
// service name come from the standard OTEL_* variables.

import { context, trace, SpanKind } from "@opentelemetry/api";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { TracerProvider, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-http";

const resource = resourceFromAttributes({ "service.name": process.env.OTEL_SERVICE_NAME });
const tracerProvider = new TracerProvider({
  resource,
  spanProcessors: [new SimpleSpanProcessor({ exporter: new OTLPTraceExporter() })],
});
const meterProvider = new MeterProvider({
  resource,
  readers: [
    new PeriodicExportingMetricReader({
      exporter: new OTLPMetricExporter(),
      exportIntervalMillis: 60_000,
    }),
  ],
});
const loggerProvider = new LoggerProvider({
  resource,
  processors: [new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter() })],
});

const tracer = tracerProvider.getTracer("interop");
const counter = meterProvider.getMeter("interop").createCounter("interop.sent", { unit: "1" });
const parent = tracer.startSpan("interop parent", { kind: SpanKind.SERVER });
parent.setAttribute("interop.language", "javascript");
const parentContext = trace.setSpan(context.active(), parent);
const child = tracer.startSpan("interop child", { kind: SpanKind.CLIENT }, parentContext);
loggerProvider.getLogger("interop").emit({
  body: "interop log record",
  severityText: "INFO",
  severityNumber: 9,
  context: trace.setSpan(parentContext, child),
});
counter.add(1, { "interop.language": "javascript" });
child.end();
parent.end();

await tracerProvider.shutdown();
await meterProvider.shutdown();
await loggerProvider.shutdown();
