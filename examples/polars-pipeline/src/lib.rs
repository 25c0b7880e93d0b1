//! A Polars pipeline with its telemetry: orders (generated, deterministic)
//! are filtered, totalled per customer, joined with the customers' segments
//! and written out as CSV. Each stage is a span with its rows in and out and
//! the bytes it produced; the optimised plan of the whole query is an event
//! on the pipeline's span; metrics give each stage's duration and rows/s.

use std::fs::File;
use std::path::Path;
use std::time::Instant;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter};
use polars::prelude::*;
use tracing::field::Empty;

/// Attribute names for pipeline stages (no semantic conventions exist yet).
pub mod attribute {
    pub const PIPELINE: &str = "pipeline.name";
    pub const STAGE: &str = "pipeline.stage";
    pub const ROWS_IN: &str = "pipeline.rows_in";
    pub const ROWS_OUT: &str = "pipeline.rows_out";
    pub const BYTES_OUT: &str = "pipeline.bytes_out";
}

const COUNTRIES: [&str; 8] = ["de", "fr", "es", "it", "nl", "pl", "se", "pt"];
const SEGMENTS: [&str; 3] = ["consumer", "business", "public"];
/// Orders above this amount (in cents) count.
pub const MIN_AMOUNT: i64 = 5_000;

/// The input: orders and customers.
pub struct Data {
    pub orders: DataFrame,
    pub customers: DataFrame,
}

// ANCHOR: generate
/// `rows` orders from `customers` customers, the same every time for the same
/// arguments (a SplitMix64 sequence), so that runs and the pandas comparison
/// see identical data.
pub fn generate(rows: usize, customers: u32) -> PolarsResult<Data> {
    let mut state: u64 = 0x5eed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut customer_id = Vec::with_capacity(rows);
    let mut amount = Vec::with_capacity(rows);
    let mut country = Vec::with_capacity(rows);
    for _ in 0..rows {
        customer_id.push((next() % u64::from(customers)) as u32);
        amount.push(100 + (next() % 99_900) as i64);
        country.push(COUNTRIES[(next() % 8) as usize]);
    }
    let orders = df!(
        "order_id" => (0..rows as u32).collect::<Vec<_>>(),
        "customer_id" => customer_id,
        "amount" => amount,
        "country" => country,
    )?;
    let ids: Vec<u32> = (0..customers).collect();
    let segment: Vec<&str> =
        ids.iter().map(|id| SEGMENTS[*id as usize % 3]).collect();
    let customers = df!("customer_id" => ids, "segment" => segment)?;
    Ok(Data { orders, customers })
}
// ANCHOR_END: generate

// ANCHOR: metrics
/// The pipeline's instruments.
#[derive(Clone)]
pub struct PipelineMetrics {
    duration: Histogram<f64>,
    rows: Counter<u64>,
    throughput: Gauge<f64>,
}

impl PipelineMetrics {
    pub fn new(meter: &Meter) -> Self {
        Self {
            duration: meter
                .f64_histogram("pipeline.stage.duration")
                .with_unit("s")
                .with_description("Wall time of one pipeline stage.")
                .build(),
            rows: meter
                .u64_counter("pipeline.stage.rows")
                .with_unit("{row}")
                .with_description("Rows a stage produced.")
                .build(),
            throughput: meter
                .f64_gauge("pipeline.stage.throughput")
                .with_unit("{row}/s")
                .with_description(
                    "Rows a stage took in, per second, on its last run.",
                )
                .build(),
        }
    }
}
// ANCHOR_END: metrics

// ANCHOR: stage
/// Runs one stage in its own span, and records what it did: rows in and
/// out, the size of its result, its duration and throughput.
fn stage(
    name: &'static str,
    input: &DataFrame,
    metrics: &PipelineMetrics,
    work: impl FnOnce() -> PolarsResult<DataFrame>,
) -> PolarsResult<DataFrame> {
    let span = tracing::info_span!(
        "stage",
        otel.name = format!("stage {name}"),
        otel.status_code = Empty,
        otel.status_description = Empty,
        { attribute::STAGE } = name,
        { attribute::ROWS_IN } = input.height() as i64,
        { attribute::ROWS_OUT } = Empty,
        { attribute::BYTES_OUT } = Empty,
    );
    let _entered = span.enter();
    let started = Instant::now();
    let result = work();
    let seconds = started.elapsed().as_secs_f64();
    let stage = [KeyValue::new(attribute::STAGE, name)];
    metrics.duration.record(seconds, &stage);
    match &result {
        Ok(output) => {
            span.record(attribute::ROWS_OUT, output.height() as i64);
            span.record(attribute::BYTES_OUT, output.estimated_size() as i64);
            metrics.rows.add(output.height() as u64, &stage);
            if seconds > 0.0 {
                let per_second = input.height() as f64 / seconds;
                metrics.throughput.record(per_second, &stage);
            }
        }
        Err(error) => {
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_description", error.to_string());
        }
    }
    result
}
// ANCHOR_END: stage

/// What a run produced.
#[derive(Debug, PartialEq)]
pub struct Summary {
    pub orders: usize,
    pub kept: usize,
    pub customers: usize,
    pub segments: Vec<(String, i64)>,
}

// ANCHOR: run
/// The pipeline: scan, filter, group-by, join, write. The whole query is
/// also described as one lazy plan, whose optimised form is recorded as an
/// event on the pipeline span.
pub fn run(
    data: Data,
    output: &Path,
    metrics: &PipelineMetrics,
) -> PolarsResult<Summary> {
    let span = tracing::info_span!(
        "pipeline",
        otel.name = "pipeline orders_by_segment",
        { attribute::PIPELINE } = "orders_by_segment",
    );
    let _entered = span.enter();
    let Data { orders, customers } = data;

    let plan = orders
        .clone()
        .lazy()
        .filter(col("amount").gt(lit(MIN_AMOUNT)))
        .group_by([col("customer_id")])
        .agg([col("amount").sum().alias("total"), len().alias("orders")])
        .join(
            customers.clone().lazy(),
            [col("customer_id")],
            [col("customer_id")],
            JoinArgs::new(JoinType::Inner),
        );
    tracing::info!(plan = %plan.explain(true)?, "query plan");

    // Stage by stage, so that each one's rows and time can be seen. (One
    // `collect` of `plan` lets Polars fuse them; see the chapter.)
    let scanned = stage("scan", &orders, metrics, || Ok(orders.clone()))?;
    let kept = stage("filter", &scanned, metrics, || {
        scanned
            .clone()
            .lazy()
            .filter(col("amount").gt(lit(MIN_AMOUNT)))
            .collect()
    })?;
    let totals = stage("group_by", &kept, metrics, || {
        kept.clone()
            .lazy()
            .group_by([col("customer_id")])
            .agg([col("amount").sum().alias("total"), len().alias("orders")])
            .sort(["customer_id"], SortMultipleOptions::default())
            .collect()
    })?;
    let joined = stage("join", &totals, metrics, || {
        totals
            .clone()
            .lazy()
            .join(
                customers.lazy(),
                [col("customer_id")],
                [col("customer_id")],
                JoinArgs::new(JoinType::Inner),
            )
            .collect()
    })?;
    let written = stage("write", &joined, metrics, || {
        let mut file = File::create(output).map_err(|e| PolarsError::IO {
            error: e.into(),
            msg: None,
        })?;
        let mut written = joined.clone();
        CsvWriter::new(&mut file).finish(&mut written)?;
        Ok(written)
    })?;

    let by_segment = written
        .clone()
        .lazy()
        .group_by([col("segment")])
        .agg([col("total").sum()])
        .sort(["segment"], SortMultipleOptions::default())
        .collect()?;
    let names = by_segment.column("segment")?.str()?;
    let totals = by_segment.column("total")?.i64()?;
    let segments = names
        .iter()
        .zip(totals.iter())
        .map(|(name, total)| (name.unwrap_or("").to_owned(), total.unwrap_or(0)))
        .collect();
    Ok(Summary {
        orders: scanned.height(),
        kept: kept.height(),
        customers: written.height(),
        segments,
    })
}
// ANCHOR_END: run

/// The same query in one `collect`, for comparison: the optimiser fuses the
/// stages, and only the whole is visible, as one span.
pub fn run_fused(data: Data, output: &Path) -> PolarsResult<usize> {
    let span = tracing::info_span!(
        "pipeline",
        otel.name = "pipeline orders_by_segment (fused)",
        { attribute::PIPELINE } = "orders_by_segment",
    );
    let _entered = span.enter();
    let Data { orders, customers } = data;
    let mut joined = orders
        .lazy()
        .filter(col("amount").gt(lit(MIN_AMOUNT)))
        .group_by([col("customer_id")])
        .agg([col("amount").sum().alias("total"), len().alias("orders")])
        .join(
            customers.lazy(),
            [col("customer_id")],
            [col("customer_id")],
            JoinArgs::new(JoinType::Inner),
        )
        .collect()?;
    let mut file = File::create(output).map_err(|e| PolarsError::IO {
        error: e.into(),
        msg: None,
    })?;
    CsvWriter::new(&mut file).finish(&mut joined)?;
    Ok(joined.height())
}
