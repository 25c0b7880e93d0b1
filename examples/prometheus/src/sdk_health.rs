//! The SDK's own health as a metric. The SDK and the OTLP exporters report
//! trouble as `tracing` events of their own: a failed export, a full queue.
//! [`SdkHealth`] counts those at WARN and above by name, into a counter
//! that Prometheus scrapes: the collector that failed cannot be the way
//! this news leaves the process.

use std::sync::{Arc, OnceLock};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Meter};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::Context;
use tracing_subscriber::{Layer, Registry};

// ANCHOR: events
/// The attribute that names the event: no convention has one for this
/// (`event.name` is deprecated), so it is the service's own.
pub const EVENT: &str = "app.telemetry.event";

/// The SDK's events that mean telemetry is being lost, in 0.33. Each is
/// counted from zero, so that `increase()` sees the first of them.
pub const LOSS_EVENTS: &[&str] = &[
    // An export failed, after the exporter's retries.
    "BatchSpanProcessor.ExportError",
    "BatchLogProcessor.ExportError",
    "PeriodicReader.ExportError",
    // The queue is full: spans or logs are dropped from now on (said once).
    "BatchSpanProcessor.SpanDroppingStarted",
    "BatchLogProcessor.LogDroppingStarted",
];
// ANCHOR_END: events

// ANCHOR: layer
/// A `tracing` layer that counts the OpenTelemetry crates' warnings and
/// errors in `app.telemetry.sdk_events`, by event name
/// (`app.telemetry.event`). Install [`SdkHealth::layer`] through
/// `Extensions::observer`: beside the console, with a filter of its own.
#[derive(Clone, Default)]
pub struct SdkHealth {
    events: Arc<OnceLock<Counter<u64>>>,
}

impl SdkHealth {
    /// Starts counting on `meter`, every one of [`LOSS_EVENTS`] at zero.
    /// Call it once telemetry is up: events before it are not counted.
    pub fn count_on(&self, meter: &Meter) {
        let counter = self.events.get_or_init(|| {
            meter
                .u64_counter("app.telemetry.sdk_events")
                .with_unit("{event}")
                .with_description(
                    "Warnings and errors of the OpenTelemetry SDK and exporters.",
                )
                .build()
        });
        for name in LOSS_EVENTS {
            counter.add(0, &[KeyValue::new(EVENT, *name)]);
        }
    }
}

impl SdkHealth {
    /// The layer, under a filter of its own that passes the SDK's warnings
    /// and errors only. Installed as `Extensions::observer`, it counts them
    /// even when `RUST_LOG` keeps them off the console (`RUST_LOG=error`).
    pub fn layer(&self) -> Box<dyn Layer<Registry> + Send + Sync> {
        Box::new(self.clone().with_filter(filter_fn(is_sdk_warning)))
    }
}

/// A warning or an error of an OpenTelemetry crate. Their targets are
/// their package names: `opentelemetry_sdk`, `opentelemetry-otlp`. WARN
/// and ERROR are the levels up to WARN.
fn is_sdk_warning(metadata: &Metadata<'_>) -> bool {
    metadata.target().starts_with("opentelemetry")
        && *metadata.level() <= Level::WARN
}

impl<S: Subscriber> Layer<S> for SdkHealth {
    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        if let Some(counter) = self.events.get() {
            let name = event.metadata().name();
            counter.add(1, &[KeyValue::new(EVENT, name)]);
        }
    }
}
// ANCHOR_END: layer
