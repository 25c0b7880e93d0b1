//! `cargo xtask bench collector`: how many spans per second a receiver
//! takes in on one CPU, in batches of 512, over OTLP/HTTP (protobuf) and
//! OTLP/gRPC: the embedded collector (a release build of
//! `xtask collector --quiet`) beside rotel, a collector written in Rust,
//! exporting to its blackhole. The receiver is held to the second CPU; this
//! process (a release build: the command runs itself again from one) sends
//! from the first, one batch encoded once and sent over and over by
//! concurrent senders, so that what is measured is the receiver, not an
//! exporter's encoding. Every request must be accepted: a run with
//! a refused request is reported as such.

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::common::v1::{
    AnyValue, InstrumentationScope, KeyValue, any_value,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message as _;
use tokio::process::Command;

use crate::proc::{self, Running, Signal};
use crate::services::rotel;

/// Spans per export request: the batch span processor's default.
const BATCH: usize = 512;
/// Requests in flight at once.
const SENDERS: usize = 8;
const SENDER_CPU: &str = "0";
const RECEIVER_CPU: &str = "1";

/// What one receiver took in over one protocol.
#[derive(Clone)]
struct Ingest {
    receiver: &'static str,
    protocol: &'static str,
    accepted: u64,
    refused: u64,
    seconds: f64,
    /// The receiver's CPU time over the run, as a share of one CPU: near 1,
    /// it was the limit; well below, the sender was.
    receiver_cpu: f64,
}

/// Measures each receiver over each protocol for `seconds`.
pub async fn run(seconds: u64, build: super::Build) -> Result<()> {
    if seconds == 0 {
        bail!("--seconds must be at least 1");
    }
    super::require_two_cpus("the sender", "the receiver")?;
    let xtask = super::collector_binary(build)?;
    // The sender is a release build too: a debug one re-encoding every gRPC
    // batch would be the limit. This command runs again from that build. A
    // smoke run sends from this debug process: its figures mean nothing.
    if build == super::Build::Release {
        let release_xtask = xtask.canonicalize()?;
        let current = std::env::current_exe()?;
        let current = current.canonicalize().unwrap_or(current);
        if current != release_xtask {
            let seconds = seconds.to_string();
            return proc::run(
                &release_xtask.to_string_lossy(),
                &["bench", "collector", "--seconds", &seconds],
            );
        }
    }
    let rotel = rotel::agent()?;
    // This process, every thread of it, sends from its own CPU.
    let pid = std::process::id().to_string();
    proc::run("taskset", &["-a", "-p", "-c", SENDER_CPU, &pid])?;
    let request = batch(BATCH);
    let body = bytes::Bytes::from(request.encode_to_vec());
    let mut results = Vec::new();
    for protocol in ["http/protobuf", "grpc"] {
        // The embedded collector: its totals are checked against what was sent.
        let (mut collector, http) =
            super::start_collector(&xtask, Some(RECEIVER_CPU)).await?;
        let grpc = collector
            .output_lines()
            .iter()
            .find_map(|l| l.strip_prefix("OTLP/gRPC on ").map(str::to_owned))
            .context("the collector printed no gRPC address")?;
        let ingest = measured(
            &collector,
            send(protocol, &http, &grpc, &body, &request, seconds),
        )
        .await?;
        let received = super::stop_collector(&mut collector).await?.spans;
        let sent = ingest.accepted * BATCH as u64;
        if received != sent {
            bail!("the collector counted {received} spans; {sent} were accepted");
        }
        report(
            &Ingest {
                receiver: "embedded collector",
                ..ingest
            },
            &mut results,
        );

        let (mut process, http, grpc) = start_rotel(&rotel).await?;
        let ingest = measured(
            &process,
            send(protocol, &http, &grpc, &body, &request, seconds),
        )
        .await?;
        process.signal(Signal::Terminate);
        let _ = process.wait_exit(Duration::from_secs(10)).await;
        report(
            &Ingest {
                receiver: "rotel (blackhole)",
                ..ingest
            },
            &mut results,
        );
    }
    println!(
        "\n{SENDERS} senders on CPU {SENDER_CPU}, the receiver alone on CPU {RECEIVER_CPU}; \
         batches of {BATCH} spans, {seconds} s each"
    );
    println!(
        "{:<20} {:<14} {:>12} {:>10} {:>8}",
        "receiver", "protocol", "spans/s", "batches/s", "refused"
    );
    for r in &results {
        println!(
            "{:<20} {:<14} {:>12.0} {:>10.0} {:>8}",
            r.receiver,
            r.protocol,
            r.accepted as f64 * BATCH as f64 / r.seconds,
            r.accepted as f64 / r.seconds,
            r.refused
        );
    }
    Ok(())
}

/// `sending`, with the receiver's CPU time over it.
async fn measured(
    receiver: &Running,
    sending: impl Future<Output = Result<Ingest>>,
) -> Result<Ingest> {
    let pid = receiver.pid().context("the receiver exited")?;
    let before = super::overhead::cpu_seconds(pid)?;
    let mut ingest = sending.await?;
    ingest.receiver_cpu =
        (super::overhead::cpu_seconds(pid)? - before) / ingest.seconds;
    Ok(ingest)
}

fn report(ingest: &Ingest, results: &mut Vec<Ingest>) {
    println!(
        "{} over {}: {:.0} spans/s, {} batches refused, receiver at {:.0} % of its CPU",
        ingest.receiver,
        ingest.protocol,
        ingest.accepted as f64 * BATCH as f64 / ingest.seconds,
        ingest.refused,
        ingest.receiver_cpu * 100.0
    );
    results.push(ingest.clone());
}

/// rotel on the receiver's CPU, exporting nowhere; its two endpoints.
async fn start_rotel(agent: &std::path::Path) -> Result<(Running, String, String)> {
    let (grpc, http) = (proc::free_port()?, proc::free_port()?);
    let mut command = Command::new("taskset");
    command
        .args(["-c", RECEIVER_CPU])
        .arg(agent)
        .args(["start", "--exporter", "blackhole"])
        .arg(format!("--otlp-grpc-endpoint=127.0.0.1:{grpc}"))
        .arg(format!("--otlp-http-endpoint=127.0.0.1:{http}"));
    let mut process = Running::spawn("rotel", &mut command)?;
    process
        .wait_until(Duration::from_secs(20), || async move {
            proc::listening(grpc) && proc::listening(http)
        })
        .await
        .context("rotel did not open its OTLP ports")?;
    Ok((
        process,
        format!("http://127.0.0.1:{http}"),
        format!("http://127.0.0.1:{grpc}"),
    ))
}

/// `SENDERS` tasks sending the batch until `seconds` have passed.
async fn send(
    protocol: &'static str,
    http: &str,
    grpc: &str,
    body: &bytes::Bytes,
    request: &ExportTraceServiceRequest,
    seconds: u64,
) -> Result<Ingest> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..SENDERS {
        let task = match protocol {
            "grpc" => {
                let mut client = TraceServiceClient::connect(grpc.to_owned())
                    .await
                    .with_context(|| format!("cannot connect to {grpc}"))?;
                let request = request.clone();
                tokio::spawn(async move {
                    let (mut accepted, mut refused) = (0, 0);
                    while Instant::now() < deadline {
                        match client.export(request.clone()).await {
                            Ok(_) => accepted += 1,
                            Err(_) => refused += 1,
                        }
                    }
                    (accepted, refused)
                })
            }
            _ => {
                let client = reqwest::Client::new();
                let url = format!("{http}/v1/traces");
                let body = body.clone();
                tokio::spawn(async move {
                    let (mut accepted, mut refused) = (0, 0);
                    while Instant::now() < deadline {
                        let response = client
                            .post(&url)
                            .header("content-type", "application/x-protobuf")
                            .body(body.clone())
                            .send()
                            .await;
                        match response {
                            Ok(r) if r.status().is_success() => accepted += 1,
                            _ => refused += 1,
                        }
                    }
                    (accepted, refused)
                })
            }
        };
        tasks.push(task);
    }
    let (mut accepted, mut refused) = (0u64, 0u64);
    for task in tasks {
        let (a, r) = task.await?;
        accepted += a;
        refused += r;
    }
    Ok(Ingest {
        receiver: "",
        protocol,
        accepted,
        refused,
        seconds: started.elapsed().as_secs_f64(),
        receiver_cpu: 0.0,
    })
}

/// `n` server spans of the quickstart's shape: one resource, one scope,
/// the HTTP attributes a request span carries.
fn batch(n: usize) -> ExportTraceServiceRequest {
    let text = |key: &str, value: &str| KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    };
    let int = |key: &str, value: i64| KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    };
    let spans = (0..n as u64)
        .map(|i| Span {
            trace_id: [i.to_be_bytes(), (i + 1).to_be_bytes()].concat(),
            span_id: (i + 1).to_be_bytes().to_vec(),
            name: "GET /hello".into(),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000 + i * 1_000,
            end_time_unix_nano: 1_700_000_000_000_000_000 + i * 1_000 + 200_000,
            attributes: vec![
                text("http.request.method", "GET"),
                text("http.route", "/hello"),
                text("url.path", "/hello"),
                text("url.scheme", "http"),
                int("http.response.status_code", 200),
                text("network.protocol.version", "1.1"),
            ],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    text("service.name", "bench"),
                    text("telemetry.sdk.language", "rust"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "bench".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_has_distinct_ids_and_the_quickstart_attributes() {
        let request = batch(512);
        let spans = &request.resource_spans[0].scope_spans[0].spans;
        assert_eq!(spans.len(), 512);
        let ids: std::collections::BTreeSet<_> =
            spans.iter().map(|s| &s.span_id).collect();
        assert_eq!(ids.len(), 512);
        assert!(
            spans
                .iter()
                .all(|s| s.trace_id.len() == 16 && s.span_id.len() == 8)
        );
        let received = crate::otlp::received::spans_of(&request);
        assert_eq!(received[0].attributes["http.route"], "/hello");
    }
}
