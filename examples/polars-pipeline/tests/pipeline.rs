//! The pipeline's results and spans, in process.

use example_polars_pipeline::{MIN_AMOUNT, PipelineMetrics, generate, run};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::metrics::SdkMeterProvider;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt as _;

#[test]
fn the_generator_is_deterministic() {
    let a = generate(1_000, 50).unwrap();
    let b = generate(1_000, 50).unwrap();
    assert!(a.orders.equals(&b.orders));
    assert_eq!(a.customers.height(), 50);
}

#[test]
fn each_stage_is_a_span_with_its_rows_and_the_totals_are_right() {
    let spans = InMemorySpanExporter::default();
    let tracer = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);
    let metrics = PipelineMetrics::new(&SdkMeterProvider::default().meter("test"));

    let data = generate(20_000, 300).unwrap();
    // The expected result, computed another way: one eager pass.
    let amounts = data.orders.column("amount").unwrap().i64().unwrap().clone();
    let expected_kept = amounts.iter().flatten().filter(|a| *a > MIN_AMOUNT).count();
    let expected_total: i64 =
        amounts.iter().flatten().filter(|a| *a > MIN_AMOUNT).sum();

    let output = std::env::temp_dir()
        .join(format!("pipeline-test-{}.csv", std::process::id()));
    let summary = run(data, &output, &metrics).unwrap();
    assert_eq!(summary.orders, 20_000);
    assert_eq!(summary.kept, expected_kept);
    assert_eq!(summary.customers, 300);
    let total: i64 = summary.segments.iter().map(|(_, t)| t).sum();
    assert_eq!(total, expected_total, "no order lost or counted twice");
    let written = std::fs::read_to_string(&output).unwrap();
    assert_eq!(
        written.lines().count(),
        301,
        "a header and a line per customer"
    );
    let _ = std::fs::remove_file(&output);

    tracer.force_flush().unwrap();
    let finished = spans.get_finished_spans().unwrap();
    let names: Vec<String> = finished.iter().map(|s| s.name.to_string()).collect();
    for stage in ["scan", "filter", "group_by", "join", "write"] {
        assert!(names.contains(&format!("stage {stage}")), "{names:?}");
    }
    let filter = finished.iter().find(|s| s.name == "stage filter").unwrap();
    let rows_out = filter
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "pipeline.rows_out")
        .map(|kv| kv.value.clone());
    assert_eq!(rows_out, Some((expected_kept as i64).into()));
    let pipeline = finished
        .iter()
        .find(|s| s.name == "pipeline orders_by_segment")
        .unwrap();
    assert_eq!(pipeline.events.len(), 1, "the query plan");
    let plan = pipeline.events.iter().next().unwrap();
    let text = plan
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "plan")
        .map(|kv| kv.value.as_str().into_owned())
        .unwrap_or_default();
    assert!(text.contains("INNER JOIN"), "{text}");
}
