//! Spans and the HTTP metrics made with the OpenTelemetry API, by
//! `opentelemetry-instrumentation-tower` (from opentelemetry-rust-contrib),
//! with no `tracing` span in between. The handler's `tracing` events still
//! become log records through the bridge, carrying the trace id of the
//! OpenTelemetry context the layer makes current.
//!
//! The providers are built here, not by the book's `telemetry` module,
//! because that module installs the tracing-opentelemetry layer this mode
//! leaves out. The exporters read the standard `OTEL_EXPORTER_OTLP_*`
//! variables; the protocol is OTLP/HTTP with protobuf.

use opentelemetry::global;
use opentelemetry_appender_tracing::layer::OpenTelemetryTracingBridge;
use opentelemetry_otlp::{LogExporter, MetricExporter, SpanExporter};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer as _};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// The three providers, to shut down before exit.
pub struct Providers {
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
    logger: SdkLoggerProvider,
}

impl Providers {
    /// Flushes traces, metrics and logs.
    pub fn shutdown(self) -> Result<(), Error> {
        let results = [
            self.tracer.shutdown(),
            self.meter.shutdown(),
            self.logger.shutdown(),
        ];
        for result in results {
            result?;
        }
        Ok(())
    }
}

/// Installs the global providers, the W3C propagator and a subscriber
/// with the console (`RUST_LOG`, default `info`) and the log bridge.
pub fn init(service_name: &'static str) -> Result<Providers, Error> {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let resource = Resource::builder().with_service_name(service_name).build();
    let tracer = SdkTracerProvider::builder()
        .with_resource(resource.clone())
        .with_batch_exporter(SpanExporter::builder().with_http().build()?)
        .build();
    let meter = SdkMeterProvider::builder()
        .with_resource(resource.clone())
        .with_periodic_exporter(MetricExporter::builder().with_http().build()?)
        .build();
    let logger = SdkLoggerProvider::builder()
        .with_resource(resource)
        .with_batch_exporter(LogExporter::builder().with_http().build()?)
        .build();
    global::set_tracer_provider(tracer.clone());
    global::set_meter_provider(meter.clone());
    let console =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    // The exporter's own HTTP stack must not log into the exporter.
    let bridge = EnvFilter::new(
        "info,opentelemetry=off,opentelemetry_sdk=off,opentelemetry_otlp=off,hyper=off,hyper_util=off,reqwest=off,h2=off,tower=off",
    );
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_filter(console))
        .with(OpenTelemetryTracingBridge::new(&logger).with_filter(bridge))
        .try_init()?;
    Ok(Providers {
        tracer,
        meter,
        logger,
    })
}

/// `router` with a server span and the HTTP server metrics per request.
pub fn instrument(router: axum::Router) -> axum::Router {
    router.layer(opentelemetry_instrumentation_tower::http::server::Layer::new())
}
