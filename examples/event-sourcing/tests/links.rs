//! The projection's spans link to the commands that caused them. A test
//! binary of its own: it installs a tracing subscriber, and tracing's
//! per-callsite interest cache is shared by every test in a binary.

use example_event_sourcing::{Command, Projection, handle};
use opentelemetry::global;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};
use tracing_subscriber::layer::SubscriberExt as _;

mod common;

use common::fresh_store;

#[tokio::test]
async fn each_projected_event_links_to_the_command_that_caused_it() {
    global::set_text_map_propagator(TraceContextPropagator::new());
    let spans = InMemorySpanExporter::default();
    let tracer = SdkTracerProvider::builder()
        .with_simple_exporter(spans.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(tracer.tracer("test")));
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = fresh_store().await;
    let open = Command::Open {
        owner: "alice".into(),
    };
    handle(&store, "acc", open, 3).await.unwrap();
    handle(&store, "acc", Command::Deposit { amount: 7 }, 3)
        .await
        .unwrap();
    Projection::new(store.clone()).catch_up().await.unwrap();

    tracer.force_flush().unwrap();
    let finished = spans.get_finished_spans().unwrap();
    let span = |name: &str| {
        finished.iter().find(|s| s.name == name).unwrap_or_else(|| {
            panic!(
                "no span {name} in {:?}",
                finished
                    .iter()
                    .map(|s| s.name.to_string())
                    .collect::<Vec<_>>()
            )
        })
    };
    let command = span("handle Deposit");
    let projected = span("project MoneyDeposited");
    assert_ne!(
        projected.span_context.trace_id(),
        command.span_context.trace_id(),
        "the projection runs in a trace of its own"
    );
    let links: Vec<_> = projected
        .links
        .iter()
        .map(|l| (l.span_context.trace_id(), l.span_context.span_id()))
        .collect();
    let cause = (
        command.span_context.trace_id(),
        command.span_context.span_id(),
    );
    assert_eq!(links, [cause]);
    // The append is a child of the command, with the database conventions.
    let append = finished
        .iter()
        .find(|s| {
            s.name == "INSERT events"
                && s.parent_span_id == command.span_context.span_id()
        })
        .expect("an INSERT events span under handle Deposit");
    let db_system = append
        .attributes
        .iter()
        .find(|kv| kv.key.as_str() == "db.system.name")
        .map(|kv| kv.value.as_str().into_owned());
    assert_eq!(db_system.as_deref(), Some("postgresql"));
}
