//! What the chapter's pitfall says of a task Dioxus drops (its component
//! went away) before the task ended its span: the span still ends, at the
//! drop, with no status: in a backend it looks like a fast success.

use std::future::Future as _;
use std::pin::pin;
use std::task::{Context as TaskContext, Poll, Waker};

use opentelemetry::Context;
use opentelemetry::trace::{
    FutureExt as _, Status, TraceContextExt as _, Tracer as _, TracerProvider as _,
};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

#[test]
fn a_dropped_task_ends_its_span_unset_at_the_drop() {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("test");
    let cx = Context::current_with_span(tracer.start("click"));

    // The handler's future: it would end the span after a response that
    // never comes.
    let task = async {
        std::future::pending::<()>().await;
        Context::current().span().set_status(Status::Ok);
        Context::current().span().end();
    }
    .with_context(cx);
    {
        let mut task = pin!(task);
        let mut poll_cx = TaskContext::from_waker(Waker::noop());
        assert!(task.as_mut().poll(&mut poll_cx) == Poll::Pending);
        assert!(exporter.get_finished_spans().unwrap().is_empty());
    } // Dropped here, as Dioxus drops an unmounted component's tasks.

    let spans = exporter.get_finished_spans().unwrap();
    assert_eq!(spans.len(), 1, "the span ends with the task");
    assert_eq!(spans[0].name, "click");
    assert_eq!(
        spans[0].status,
        Status::Unset,
        "no error, no ok: nothing says it was cut short"
    );
}
