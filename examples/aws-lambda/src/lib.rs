//! An AWS Lambda function, traced. Each invocation is a server span that
//! continues the caller's trace (a W3C `traceparent` in the event's
//! `headers`, as API Gateway and function URLs pass them), says whether it
//! was a cold start, and is exported before the invocation answers: Lambda
//! freezes the function once it has answered, batch queue and all.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};

use lambda_runtime::{LambdaEvent, Runtime, service_fn};
use opentelemetry::global;
use opentelemetry_semantic_conventions::attribute::{
    FAAS_COLDSTART, FAAS_INVOCATION_ID, FAAS_TRIGGER,
};
use serde_json::{Value, json};
use tokio::signal::unix::{SignalKind, signal};
use tracing::Instrument as _;
use tracing_opentelemetry::{OpenTelemetrySpanExt as _, SetParentError};

/// Why an event cannot be answered.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GreetError {
    #[error("the event has no \"name\" string to greet")]
    NoName,
}

/// The function's work: `{"name": "Ada"}` in, `{"greeting": "hello, Ada"}`
/// out.
pub fn greet(event: &Value) -> Result<Value, GreetError> {
    let name = event
        .get("name")
        .and_then(Value::as_str)
        .ok_or(GreetError::NoName)?;
    tracing::info!("greeting sent");
    Ok(json!({ "greeting": format!("hello, {name}") }))
}

// ANCHOR: caller
/// The caller's trace context, from the W3C `traceparent` (and
/// `tracestate`) among the event's `headers`; the empty context when there
/// is none, and the invocation starts a trace of its own.
pub fn caller_context(event: &Value) -> opentelemetry::Context {
    let headers: std::collections::HashMap<String, String> = event
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(name, value)| {
            // Header names are case-insensitive; the extractor asks in
            // lower case.
            Some((name.to_ascii_lowercase(), value.as_str()?.to_owned()))
        })
        .collect();
    global::get_text_map_propagator(|propagator| propagator.extract(&headers))
}
// ANCHOR_END: caller

// ANCHOR: invocation
/// Whether no invocation has run in this process yet: Lambda starts a
/// process for a cold start, and reuses it while it is warm.
static COLD: AtomicBool = AtomicBool::new(true);

/// One invocation: its span, the work inside it, then `flush`, before the
/// response goes back to Lambda.
pub async fn invocation<F, Flushed>(
    event: LambdaEvent<Value>,
    flush: F,
) -> Result<Value, lambda_runtime::Error>
where
    F: FnOnce() -> Flushed,
    Flushed: Future<Output = ()>,
{
    let (payload, context) = event.into_parts();
    // API Gateway's events and function URLs' carry the HTTP headers.
    let trigger = if payload.get("headers").is_some() {
        "http"
    } else {
        "other"
    };
    let span = tracing::info_span!(
        "invocation",
        otel.name = %context.env_config.function_name,
        otel.kind = "server",
        { FAAS_TRIGGER } = trigger,
        { FAAS_INVOCATION_ID } = %context.request_id,
        { FAAS_COLDSTART } = COLD.swap(false, Ordering::Relaxed),
    );
    // Before the span is entered: once it has started, its parent is fixed.
    // (No layer, or a span the filters drop: nothing is exported anyway.)
    if let Err(SetParentError::AlreadyStarted) =
        span.set_parent(caller_context(&payload))
    {
        tracing::warn!("the invocation span started before it had its caller");
    }
    let answer = async {
        greet(&payload).map_err(|e| {
            tracing::error!("{e}");
            lambda_runtime::Error::from(e)
        })
    }
    .instrument(span)
    .await;
    // The span has ended: export it, and everything else queued, now.
    flush().await;
    answer
}
// ANCHOR_END: invocation

/// Checks the variables Lambda gives a function, which `lambda_runtime`
/// reads with a panic when one is missing or malformed.
pub fn check_lambda_variables(
    var: impl Fn(&str) -> Option<String>,
) -> Result<(), String> {
    for name in [
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
    ] {
        if var(name).is_none_or(|v| v.is_empty()) {
            return Err(format!(
                "{name} is not set: run this function under Lambda, or `cargo lambda watch`"
            ));
        }
    }
    let memory = var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE").unwrap_or_default();
    if memory.parse::<i32>().is_err() {
        return Err(format!(
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE={memory:?} is not a number of megabytes"
        ));
    }
    Ok(())
}

// ANCHOR: run
/// Lambda's runtime: it asks Lambda for invocations and hands each to
/// [`invocation`] with `flush`, until the process gets SIGTERM, which
/// Lambda sends before it shuts a function down only when an extension is
/// registered.
pub async fn run<F, Flushed>(flush: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn() -> Flushed + Clone,
    Flushed: Future<Output = ()>,
{
    let mut terminate = signal(SignalKind::terminate())?;
    let handler = service_fn(move |event| invocation(event, flush.clone()));
    tokio::select! {
        ran = Runtime::new(handler).run() => ran,
        _ = terminate.recv() => Ok(()),
    }
}
// ANCHOR_END: run

/// The process's exit: 1 if the runtime stopped on an error or telemetry
/// did not shut down cleanly, each said on stderr.
pub fn exit_code(
    ran: Result<(), lambda_runtime::Error>,
    shutdown: Result<(), impl Display>,
) -> ExitCode {
    let mut code = ExitCode::SUCCESS;
    if let Err(e) = ran {
        eprintln!("error: {e}");
        code = ExitCode::FAILURE;
    }
    if let Err(e) = shutdown {
        eprintln!("telemetry: {e}");
        code = ExitCode::FAILURE;
    }
    code
}
