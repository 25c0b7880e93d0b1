//! Against a real Kafka-protocol broker (`KAFKA_BROKERS`; `cargo xtask
//! verify --only test` starts one): records produced and consumed, each
//! consumer span parented or linked to its producer span, none lost, a
//! restart that resumes after the last commit, and dead letters that keep
//! their trace.

mod recorded;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use example_kafka::consumer::{Consumer, Settings, Shape, Stats, StatsSnapshot};
use example_kafka::orders::Order;
use example_kafka::producer::Producer;
use example_kafka::{headers, topics};
use opentelemetry::Value;
use opentelemetry::trace::{SpanId, SpanKind, Status, TraceContextExt as _};
use opentelemetry_sdk::trace::SpanData;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer as _, StreamConsumer};
use rdkafka::message::{Message as _, OwnedHeaders};
use recorded::{Recorded, attribute};
use tracing::Instrument as _;

static TOPICS: AtomicUsize = AtomicUsize::new(0);

fn brokers() -> String {
    std::env::var("KAFKA_BROKERS").expect(
        "KAFKA_BROKERS is not set: these tests need a Kafka-protocol broker. \
         `cargo xtask verify --only test` starts one.",
    )
}

/// A new topic (and its dead-letter topic) for one test.
async fn fresh_topic(partitions: i32) -> String {
    let topic = format!(
        "orders-{}-{}",
        std::process::id(),
        TOPICS.fetch_add(1, Ordering::SeqCst)
    );
    let dead = topics::dead_letters(&topic);
    topics::ensure(&brokers(), &[(&topic, partitions), (&dead, 1)])
        .await
        .unwrap();
    topic
}

fn settings(topic: &str, group: &str, shape: Shape) -> Settings {
    Settings {
        brokers: brokers(),
        topic: topic.to_owned(),
        group: group.to_owned(),
        shape,
    }
}

fn order(id: &str, item: &str) -> Vec<u8> {
    serde_json::to_vec(&Order {
        id: id.to_owned(),
        item: item.to_owned(),
        quantity: 1,
    })
    .unwrap()
}

/// Sends each order from a span `request <id>`, as the HTTP service does.
async fn send(producer: &Producer, topic: &str, orders: &[(&str, &str)]) {
    for (id, item) in orders {
        producer
            .send(topic, id, &order(id, item), OwnedHeaders::new())
            .instrument(tracing::info_span!(
                "request",
                otel.name = format!("request {id}")
            ))
            .await
            .unwrap();
    }
}

/// Runs a consumer until its stats satisfy `done`, for up to 30 s.
async fn consume_until(
    recorded: &Recorded,
    settings: Settings,
    done: impl Fn(StatsSnapshot) -> bool,
) -> StatsSnapshot {
    let meter = recorded.meter();
    let producer = Producer::new(&settings.brokers, &meter).unwrap();
    let stats = Arc::new(Stats::default());
    let consumer = Consumer::new(settings, producer, &meter, stats.clone()).unwrap();
    let stop = async {
        for _ in 0..300 {
            if done(stats.snapshot()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    consumer.run(stop).await.unwrap();
    let snapshot = stats.snapshot();
    assert!(done(snapshot), "the consumer stopped at {snapshot:?}");
    snapshot
}

fn string(span: &SpanData, key: &str) -> Option<String> {
    attribute(span, key).map(|value| value.as_str().into_owned())
}

// ANCHOR: each
#[tokio::test]
async fn every_record_is_processed_once_in_the_trace_that_sent_it() {
    let recorded = Recorded::start();
    let topic = fresh_topic(2).await;
    let producer = Producer::new(&brokers(), &recorded.meter()).unwrap();
    let ids = ["o-1", "o-2", "o-3", "o-4", "o-5"];
    let orders: Vec<(&str, &str)> = ids.iter().map(|id| (*id, "mouse")).collect();
    send(&producer, &topic, &orders).await;

    let stats =
        consume_until(&recorded, settings(&topic, "each", Shape::Each), |s| {
            s.processed == 5
        })
        .await;
    assert_eq!(stats.dead_lettered, 0);

    let sends = recorded.spans_named(&format!("send {topic}"));
    let processes = recorded.spans_named(&format!("process {topic}"));
    assert_eq!((sends.len(), processes.len()), (5, 5));
    for process in &processes {
        assert_eq!(process.span_kind, SpanKind::Consumer);
        let send = sends
            .iter()
            .find(|s| s.span_context.span_id() == process.parent_span_id)
            .expect("each process span is the child of a send span");
        assert_eq!(send.span_kind, SpanKind::Producer);
        assert_eq!(
            send.span_context.trace_id(),
            process.span_context.trace_id()
        );
        assert_eq!(
            string(process, "messaging.consumer.group.name").as_deref(),
            Some("each")
        );
        assert_eq!(
            attribute(process, "messaging.kafka.offset"),
            attribute(send, "messaging.kafka.offset")
        );
    }
}
// ANCHOR_END: each

// ANCHOR: restart
#[tokio::test]
async fn a_restarted_consumer_resumes_after_its_last_commit() {
    let recorded = Recorded::start();
    let topic = fresh_topic(1).await;
    let producer = Producer::new(&brokers(), &recorded.meter()).unwrap();
    send(
        &producer,
        &topic,
        &[("o-1", "mouse"), ("o-2", "mouse"), ("o-3", "mouse")],
    )
    .await;
    consume_until(&recorded, settings(&topic, "restart", Shape::Each), |s| {
        s.processed == 3
    })
    .await;

    send(&producer, &topic, &[("o-4", "mouse"), ("o-5", "mouse")]).await;
    consume_until(&recorded, settings(&topic, "restart", Shape::Each), |s| {
        s.processed == 2
    })
    .await;

    // Offsets 0, 1, 2 before the restart; 3 and 4 after, none twice.
    let mut offsets: Vec<i64> = recorded
        .spans_named(&format!("process {topic}"))
        .iter()
        .filter_map(|s| match attribute(s, "messaging.kafka.offset") {
            Some(Value::I64(offset)) => Some(offset),
            _ => None,
        })
        .collect();
    offsets.sort_unstable();
    assert_eq!(offsets, [0, 1, 2, 3, 4]);
}
// ANCHOR_END: restart

// ANCHOR: batch
#[tokio::test]
async fn a_batch_is_one_root_span_linked_to_every_record() {
    let recorded = Recorded::start();
    let topic = fresh_topic(2).await;
    let producer = Producer::new(&brokers(), &recorded.meter()).unwrap();
    let orders = [
        ("o-1", "mouse"),
        ("o-2", "keyboard"),
        ("o-3", "monitor"),
        ("o-4", "mouse"),
    ];
    send(&producer, &topic, &orders).await;

    let batch = Shape::Batch {
        max: 10,
        wait: Duration::from_millis(500),
    };
    consume_until(&recorded, settings(&topic, "batch", batch), |s| {
        s.processed == 4
    })
    .await;

    let sends = recorded.spans_named(&format!("send {topic}"));
    let batches = recorded.spans_named(&format!("process {topic}"));
    let mut linked = 0;
    let mut counted = 0;
    for span in &batches {
        assert_eq!(span.parent_span_id, SpanId::INVALID, "a batch is a root");
        let Some(Value::I64(count)) =
            attribute(span, "messaging.batch.message_count")
        else {
            panic!("no messaging.batch.message_count on {span:?}");
        };
        counted += count;
        for link in span.links.iter() {
            // The link's context came from the headers: remote, same ids.
            assert!(
                sends.iter().any(|s| {
                    s.span_context.trace_id() == link.span_context.trace_id()
                        && s.span_context.span_id() == link.span_context.span_id()
                }),
                "a link to a span that is no send span"
            );
            linked += 1;
        }
    }
    assert_eq!((counted, linked), (4, 4));
}
// ANCHOR_END: batch

// ANCHOR: dead_letter
#[tokio::test]
async fn a_poison_record_is_dead_lettered_in_its_own_trace() {
    let recorded = Recorded::start();
    let topic = fresh_topic(1).await;
    let producer = Producer::new(&brokers(), &recorded.meter()).unwrap();
    send(&producer, &topic, &[("o-1", "piano"), ("o-2", "mouse")]).await;

    let stats =
        consume_until(&recorded, settings(&topic, "dlq", Shape::Each), |s| {
            s.processed == 1 && s.dead_lettered == 1
        })
        .await;
    assert_eq!(stats.processed, 1);

    let request = recorded.span("request o-1");
    let process = recorded
        .spans_named(&format!("process {topic}"))
        .into_iter()
        .find(|s| s.span_context.trace_id() == request.span_context.trace_id())
        .expect("the poison record's process span is in its request's trace");
    assert_eq!(process.status, Status::error("unknown item \"piano\""));
    let dead = recorded.span(&format!("send {}", topics::dead_letters(&topic)));
    assert_eq!(dead.parent_span_id, process.span_context.span_id());

    // The dead letter itself carries that trace, and where it came from.
    let reader: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", "dlq-reader")
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .create()
        .unwrap();
    reader.subscribe(&[&topics::dead_letters(&topic)]).unwrap();
    let letter = tokio::time::timeout(Duration::from_secs(30), reader.recv())
        .await
        .expect("a dead letter within 30 s")
        .unwrap();
    let carried = headers::extract(letter.headers());
    assert_eq!(
        carried.span().span_context().trace_id(),
        request.span_context.trace_id()
    );
    assert_eq!(
        headers::text(letter.headers(), "dlq.reason"),
        Some("unknown item \"piano\"")
    );
    assert_eq!(headers::text(letter.headers(), "dlq.offset"), Some("0"));
}
// ANCHOR_END: dead_letter

// ANCHOR: pitfall
/// The pitfall: a producer that does not inject the context. The consumer's
/// span then starts a trace of its own, and the request that sent the record
/// ends at the queue.
#[tokio::test]
async fn a_record_without_context_starts_a_trace_of_its_own() {
    use rdkafka::producer::{FutureProducer, FutureRecord};

    let recorded = Recorded::start();
    let topic = fresh_topic(1).await;
    let bare: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    let payload = order("o-1", "mouse");
    bare.send(
        FutureRecord::to(&topic).key("o-1").payload(&payload),
        Duration::from_secs(5),
    )
    .instrument(tracing::info_span!("request"))
    .await
    .unwrap();

    consume_until(&recorded, settings(&topic, "bare", Shape::Each), |s| {
        s.processed == 1
    })
    .await;
    let request = recorded.span("request");
    let process = recorded.span(&format!("process {topic}"));
    assert_eq!(process.parent_span_id, SpanId::INVALID);
    assert_ne!(
        process.span_context.trace_id(),
        request.span_context.trace_id()
    );
}
// ANCHOR_END: pitfall
