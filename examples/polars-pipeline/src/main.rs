//! Runs the pipeline once over generated orders, exports its telemetry and
//! exits: a batch job, not a server.
//!
//! | variable | default | meaning |
//! |---|---|---|
//! | `ROWS` | `2000000` | orders to generate |
//! | `CUSTOMERS` | `100000` | customers they belong to |
//! | `OUTPUT` | `orders_by_segment.csv` in the temporary directory | where the result goes |
//! | `FUSED` | unset | `1`: the whole query in one `collect`, for the bench |

use std::error::Error;
use std::path::PathBuf;
use std::process::ExitCode;

use example_polars_pipeline::{PipelineMetrics, generate, run};

mod telemetry;

const SERVICE_NAME: &str = "polars-pipeline";

#[tokio::main]
async fn main() -> ExitCode {
    match job().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

// ANCHOR: main
async fn job() -> Result<(), Box<dyn Error>> {
    let rows = count("ROWS", 2_000_000)?;
    let customers = count("CUSTOMERS", 100_000)?;
    let output = std::env::var_os("OUTPUT")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("orders_by_segment.csv"));

    let telemetry = telemetry::init(SERVICE_NAME)?;
    let metrics = PipelineMetrics::new(&opentelemetry::global::meter(SERVICE_NAME));
    // Polars computes on its own thread pool; keep the runtime's threads free
    // for the exporters.
    let fused = std::env::var("FUSED").is_ok_and(|v| v == "1");
    let summary = tokio::task::spawn_blocking(move || {
        let data = generate(rows, customers as u32)?;
        let started = std::time::Instant::now();
        if fused {
            // One collect, for `cargo xtask bench polars`: no stage spans.
            let written = example_polars_pipeline::run_fused(data, &output)?;
            println!("pipeline_seconds: {:.3}", started.elapsed().as_secs_f64());
            println!("fused: {written} customers written");
            return Ok(None);
        }
        let summary = run(data, &output, &metrics);
        // Read by `cargo xtask bench polars`, which compares it with pandas.
        println!("pipeline_seconds: {:.3}", started.elapsed().as_secs_f64());
        summary.map(Some)
    })
    .await?;
    // A job's last batch is all of its telemetry: flush before reporting.
    let flushed = telemetry.shutdown();
    let Some(summary) = summary? else {
        return Ok(());
    };
    println!(
        "{} orders, {} above the threshold, {} customers; totals by segment: {:?}",
        summary.orders, summary.kept, summary.customers, summary.segments
    );
    if let Err(error) = flushed {
        eprintln!("telemetry: {error}");
    }
    Ok(())
}
// ANCHOR_END: main

fn count(variable: &str, default: usize) -> Result<usize, String> {
    match std::env::var(variable) {
        Err(_) => Ok(default),
        Ok(value) => value
            .trim()
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0 && *n <= u32::MAX as usize)
            .ok_or_else(|| format!("{variable}={value:?} is not valid: expected a positive whole number")),
    }
}
