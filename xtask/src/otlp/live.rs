//! `cargo xtask collector`: the embedded collector run standalone, printing
//! each trace as a tree once it has been quiet for a moment, and a line per
//! metric and log record as they arrive.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::mpsc;

use crate::otlp::collector::tls::{self, Pki};
use crate::otlp::collector::{Arrival, Collector};
use crate::otlp::received::{LogRecord, MetricRecord, SpanRecord};
use crate::otlp::tree::{AttributeFilter, Style, render_trace};

/// A trace is printed once no span of it arrived for this long.
const QUIET: Duration = Duration::from_millis(800);

/// Runs until Ctrl-C (SIGINT) or SIGTERM. `quiet` prints only the addresses
/// and the totals, for load tests where printing would be the bottleneck;
/// `tls` adds the TLS listeners.
pub async fn run(
    grpc_port: u16,
    http_port: u16,
    quiet: bool,
    tls: bool,
) -> Result<()> {
    let (tx, rx) = mpsc::unbounded_channel();
    let live = (!quiet).then_some(tx);
    let collector = Collector::start_with(grpc_port, http_port, live).await?;
    println!("OTLP/gRPC on {}", collector.grpc_endpoint());
    println!(
        "OTLP/HTTP on {} (protobuf and JSON)",
        collector.http_endpoint()
    );
    // Kept until the end: dropping them stops the listeners and removes
    // the certificates.
    let _tls = match tls {
        true => Some(serve_tls(&collector).await?),
        false => None,
    };
    if quiet {
        crate::proc::interrupted().await;
        print_totals(&collector);
        return Ok(());
    }
    println!(
        "point an example at it: OTEL_EXPORTER_OTLP_ENDPOINT={} cargo run -p example-axum-quickstart",
        collector.http_endpoint()
    );
    println!("Ctrl-C to stop\n");

    print(rx, crate::proc::interrupted()).await;
    print_totals(&collector);
    Ok(())
}

/// Prints what arrives on `arrivals` until `until` completes or the
/// channel closes: each trace as a tree once it has been quiet for a
/// moment (then everything still pending), a line per metric and log record.
pub async fn print(
    mut arrivals: mpsc::UnboundedReceiver<Arrival>,
    until: impl Future<Output = ()>,
) {
    let mut pending: HashMap<String, Pending> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    let mut until = std::pin::pin!(until);
    loop {
        tokio::select! {
            arrival = arrivals.recv() => match arrival {
                Some(arrival) => take(arrival, &mut pending),
                None => break,
            },
            _ = tick.tick() => print_quiet_traces(&mut pending),
            () = &mut until => {
                // What arrived before the end is shown too.
                while let Ok(arrival) = arrivals.try_recv() {
                    take(arrival, &mut pending);
                }
                break;
            }
        }
    }
    pending.values_mut().for_each(|p| p.last = None);
    print_quiet_traces(&mut pending);
}

fn take(arrival: Arrival, pending: &mut HashMap<String, Pending>) {
    match arrival {
        Arrival::Spans(spans) => {
            for span in spans {
                let entry = pending.entry(span.trace_id.clone()).or_default();
                entry.spans.push(span);
                entry.last = Some(Instant::now());
                entry.fresh = true;
            }
        }
        Arrival::Metrics(metrics) => metrics.iter().for_each(print_metric),
        Arrival::Logs(logs) => logs.iter().for_each(print_log),
    }
}

/// The totals of what `collector` received, by signal and transport.
pub fn print_totals(collector: &Collector) {
    let received = collector.store.snapshot();
    println!(
        "\nreceived {} spans, {} metric streams, {} log records in {} requests",
        received.spans.len(),
        received.metrics.len(),
        received.logs.len(),
        received.requests.len()
    );
    let mut by_transport: std::collections::BTreeMap<String, usize> =
        Default::default();
    for r in &received.requests {
        let compression = r
            .compression
            .as_deref()
            .map(|c| format!(", {c}"))
            .unwrap_or_default();
        *by_transport
            .entry(format!("{} over {}{compression}", r.signal, r.transport))
            .or_default() += 1;
    }
    for (what, n) in by_transport {
        println!("  {n} x {what}");
    }
}

#[derive(Default)]
struct Pending {
    spans: Vec<SpanRecord>,
    /// `None` forces printing now.
    last: Option<Instant>,
    /// Spans arrived since the trace was last printed.
    fresh: bool,
}

fn print_quiet_traces(pending: &mut HashMap<String, Pending>) {
    let style = Style {
        timings: true,
        attributes: AttributeFilter::Key,
        width: None,
    };
    let mut ready: Vec<_> = pending
        .values_mut()
        .filter(|p| p.fresh && p.last.is_none_or(|t| t.elapsed() >= QUIET))
        .collect();
    ready.sort_by_key(|p| p.spans.iter().map(|s| s.start_unix_nano).min());
    for trace in ready {
        trace.fresh = false;
        let spans: Vec<_> = trace.spans.iter().collect();
        println!("{}", render_trace(&spans, &style));
    }
}

fn print_metric(metric: &MetricRecord) {
    let unit = if metric.unit.is_empty() {
        String::new()
    } else {
        format!(" unit={}", metric.unit)
    };
    println!(
        "metric {} [{}] {}{unit} points={}",
        metric.name, metric.service_name, metric.kind, metric.data_points
    );
}

fn print_log(log: &LogRecord) {
    let severity = if log.severity_text.is_empty() {
        format!("sev={}", log.severity_number)
    } else {
        log.severity_text.clone()
    };
    let trace = match (&log.trace_id, &log.span_id) {
        (Some(t), Some(s)) => format!(" trace={t} span={s}"),
        (Some(t), None) => format!(" trace={t}"),
        _ => String::new(),
    };
    let attributes: String = log
        .attributes
        .iter()
        .map(|(k, v)| format!(" {k}={v}"))
        .collect();
    println!(
        "log [{}] {severity} {}{attributes}{trace}",
        log.service_name, log.body
    );
}

/// Starts the TLS listeners and says how to use them.
async fn serve_tls(collector: &Collector) -> Result<(Pki, tls::TlsListeners)> {
    let pki = Pki::generate()?;
    let listeners = collector.serve_tls(&pki).await?;
    println!("OTLP/gRPC over TLS on https://{}", listeners.grpc);
    println!("OTLP/HTTP over TLS on https://{}", listeners.http);
    println!(
        "OTLP/gRPC over mutual TLS on https://{}",
        listeners.grpc_mtls
    );
    println!(
        "OTLP/HTTP over mutual TLS on https://{}",
        listeners.http_mtls
    );
    println!("to export over mutual TLS, paste these into a service's shell:");
    println!(
        "  export OTEL_EXPORTER_OTLP_ENDPOINT=https://{}  # OTLP/HTTP",
        listeners.http_mtls
    );
    for (variable, file) in [
        ("OTEL_EXPORTER_OTLP_CERTIFICATE", tls::CA),
        ("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", tls::CLIENT_CERT),
        ("OTEL_EXPORTER_OTLP_CLIENT_KEY", tls::CLIENT_KEY),
    ] {
        println!("  export {variable}={}", pki.path(file).display());
    }
    println!(
        "for OTLP/gRPC: OTEL_EXPORTER_OTLP_ENDPOINT=https://{} and \
         OTEL_EXPORTER_OTLP_PROTOCOL=grpc",
        listeners.grpc_mtls
    );
    Ok((pki, listeners))
}
