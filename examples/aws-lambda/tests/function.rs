//! The function's parts that need no Lambda: the greeting, the caller's
//! context read from an event, and the variables checked before
//! `lambda_runtime` would panic on them. The invocation span, the cold
//! start and the flush are the scenario's (`scenario.toml`).

use std::collections::HashMap;

use example_aws_lambda::{
    GreetError, caller_context, check_lambda_variables, greet,
};
use opentelemetry::global;
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use serde_json::json;

#[test]
fn a_name_is_greeted_and_its_absence_refused() {
    assert_eq!(
        greet(&json!({ "name": "Ada" })),
        Ok(json!({ "greeting": "hello, Ada" }))
    );
    assert_eq!(greet(&json!({ "nom": "Ada" })), Err(GreetError::NoName));
    assert_eq!(greet(&json!({ "name": 7 })), Err(GreetError::NoName));
}

#[test]
fn the_callers_traceparent_is_read_from_the_events_headers_in_any_case() {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    for name in ["traceparent", "Traceparent", "TRACEPARENT"] {
        let event = json!({ "headers": { name: traceparent } });
        let context = caller_context(&event);
        let span = context.span();
        let parent = span.span_context();
        assert!(parent.is_remote(), "{name}");
        assert_eq!(
            parent.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(parent.span_id().to_string(), "00f067aa0ba902b7");
    }
    for event in [
        json!({}),
        json!({ "headers": "no" }),
        json!({ "headers": { "traceparent": "junk" } }),
    ] {
        assert!(
            !caller_context(&event).span().span_context().is_valid(),
            "{event}"
        );
    }
}

#[test]
fn lambdas_variables_are_checked_instead_of_panicking() {
    let lambda: HashMap<&str, &str> = HashMap::from([
        ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
        ("AWS_LAMBDA_FUNCTION_NAME", "greeter"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "1"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
    ]);
    let check = |without: &str, memory: &str| {
        check_lambda_variables(|name| match name {
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE" => Some(memory.to_owned()),
            name if name == without => None,
            name => lambda.get(name).map(|v| (*v).to_owned()),
        })
    };
    assert_eq!(check("", "128"), Ok(()));
    let missing = check("AWS_LAMBDA_RUNTIME_API", "128").unwrap_err();
    assert!(
        missing.starts_with("AWS_LAMBDA_RUNTIME_API is not set"),
        "{missing}"
    );
    let memory = check("", "lots").unwrap_err();
    assert!(
        memory
            .starts_with("AWS_LAMBDA_FUNCTION_MEMORY_SIZE=\"lots\" is not a number"),
        "{memory}"
    );
}

#[test]
fn the_binary_says_which_variable_is_missing_and_exits_1() {
    let output =
        std::process::Command::new(env!("CARGO_BIN_EXE_example-aws-lambda"))
            .env_remove("AWS_LAMBDA_RUNTIME_API")
            .env("OTEL_SDK_DISABLED", "true")
            .output()
            .expect("the binary runs");
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("error: AWS_LAMBDA_RUNTIME_API is not set"),
        "{stderr}"
    );
}
