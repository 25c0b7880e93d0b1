//! The same function without the flush before each answer: what Lambda's
//! freeze costs. The scenario freezes it once it has answered, as Lambda
//! does, and none of its spans arrives.

use std::process::ExitCode;

use example_aws_lambda::{check_lambda_variables, exit_code, run};

#[path = "../telemetry.rs"]
mod telemetry;

// ANCHOR: main
#[tokio::main]
async fn main() -> ExitCode {
    let telemetry = match telemetry::init("aws-lambda-no-flush") {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = check_lambda_variables(|name| std::env::var(name).ok()) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    // The batch processors export on their own timers: every 5 seconds,
    // or never, if Lambda froze the process first.
    let ran = run(|| async {}).await;
    exit_code(ran, telemetry.shutdown())
}
// ANCHOR_END: main
