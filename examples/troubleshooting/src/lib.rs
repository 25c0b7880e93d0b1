//! Shared by the programs in `src/bin/`: each one makes a single classic
//! mistake (or its fix), so that `cargo xtask verify` can show which of them
//! deliver a span to the collector and what each prints.

use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::util::SubscriberInitExt as _;

// ANCHOR: show_sdk_messages
/// Prints the SDK's warnings and errors (a failed export, a timeout) on
/// stderr. With no subscriber installed they go nowhere, and a broken
/// pipeline fails in silence.
pub fn show_sdk_messages() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_max_level(LevelFilter::WARN)
        .with_ansi(false)
        .without_time()
        .finish()
        .init();
}
// ANCHOR_END: show_sdk_messages

/// The work every program does: one span named `checkout`.
pub fn checkout(provider: &SdkTracerProvider) {
    provider
        .tracer("troubleshooting")
        .in_span("checkout", |_| {});
}
