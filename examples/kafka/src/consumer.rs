//! Consuming records in a consumer group, in the two shapes the messaging
//! conventions allow: a CONSUMER span per record, child of the producer's
//! span (`Shape::Each`), or one CONSUMER span per batch, the root of a trace
//! of its own, linked to every record's producer span (`Shape::Batch`).
//! Records that can never be processed go to the dead-letter topic.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, Meter, ObservableGauge};
use opentelemetry::trace::TraceContextExt as _;
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, MESSAGING_BATCH_MESSAGE_COUNT, MESSAGING_CONSUMER_GROUP_NAME,
    MESSAGING_DESTINATION_NAME, MESSAGING_DESTINATION_PARTITION_ID,
    MESSAGING_KAFKA_MESSAGE_KEY, MESSAGING_KAFKA_OFFSET, MESSAGING_OPERATION_NAME,
    MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM,
};
use opentelemetry_semantic_conventions::metric::{
    MESSAGING_CLIENT_CONSUMED_MESSAGES, MESSAGING_PROCESS_DURATION,
};
use rdkafka::consumer::{
    CommitMode, Consumer as _, ConsumerContext, StreamConsumer,
};
use rdkafka::error::KafkaError;
use rdkafka::message::{Header, Message, OwnedHeaders, OwnedMessage};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext, Statistics};
use serde::Serialize;
use tracing::field::Empty;
use tracing::{Instrument as _, Span};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::orders::{self, Rejected};
use crate::producer::Producer;
use crate::{headers, topics};

/// How a consumer processes what it receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// One record at a time, each in the trace of the request that sent it.
    Each,
    /// Up to `max` records, or what arrived within `wait`, in one span.
    Batch { max: usize, wait: Duration },
}

/// Where a consumer reads, as whom, and how.
#[derive(Debug, Clone)]
pub struct Settings {
    pub brokers: String,
    pub topic: String,
    pub group: String,
    pub shape: Shape,
}

/// What a consumer has done so far, for `GET /stats`.
#[derive(Debug, Default)]
pub struct Stats {
    processed: AtomicU64,
    dead_lettered: AtomicU64,
}

/// [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    pub processed: u64,
    pub dead_lettered: u64,
}

impl Stats {
    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            processed: self.processed.load(Ordering::Relaxed),
            dead_lettered: self.dead_lettered.load(Ordering::Relaxed),
        }
    }
}

/// Consumer lag by topic and partition, from librdkafka's statistics.
type Lag = Arc<Mutex<BTreeMap<(String, i32), i64>>>;

/// Receives librdkafka's statistics every `statistics.interval.ms`.
#[derive(Default)]
struct LagContext {
    lag: Lag,
}

impl ClientContext for LagContext {
    fn stats(&self, statistics: Statistics) {
        let mut lag = self.lag.lock().unwrap_or_else(|p| p.into_inner());
        for (topic, stats) in statistics.topics {
            for (partition, stats) in stats.partitions {
                // -1 is librdkafka's "not known yet"; partition -1 its
                // internal unassigned partition.
                if partition >= 0 && stats.consumer_lag >= 0 {
                    lag.insert((topic.clone(), partition), stats.consumer_lag);
                }
            }
        }
    }
}

impl ConsumerContext for LagContext {}

/// The consumer's instruments.
struct Metrics {
    consumed: Counter<u64>,
    duration: Histogram<f64>,
    _lag: ObservableGauge<i64>,
}

/// A consumer in its group, with a producer for dead letters.
pub struct Consumer {
    inner: StreamConsumer<LagContext>,
    settings: Settings,
    dead_letters: String,
    producer: Producer,
    metrics: Metrics,
    stats: Arc<Stats>,
}

impl Consumer {
    /// Joins `settings.group` and subscribes to `settings.topic`. Offsets
    /// are committed after processing, so a restart resumes after the last
    /// record processed, and a crash repeats at most what was in flight.
    pub fn new(
        settings: Settings,
        producer: Producer,
        meter: &Meter,
        stats: Arc<Stats>,
    ) -> Result<Self, KafkaError> {
        let context = LagContext::default();
        let lag = context.lag.clone();
        // ANCHOR: config
        let inner: StreamConsumer<LagContext> = ClientConfig::new()
            .set("bootstrap.servers", &settings.brokers)
            .set("group.id", &settings.group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            // Join the group, and notice a member gone, in seconds.
            .set("session.timeout.ms", "6000")
            .set("heartbeat.interval.ms", "500")
            .set("statistics.interval.ms", "1000")
            .create_with_context(context)?;
        // ANCHOR_END: config
        inner.subscribe(&[&settings.topic])?;
        let group = settings.group.clone();
        let metrics = Metrics {
            consumed: meter
                .u64_counter(MESSAGING_CLIENT_CONSUMED_MESSAGES)
                .with_unit("{message}")
                .with_description("Records the consumer received.")
                .build(),
            duration: meter
                .f64_histogram(MESSAGING_PROCESS_DURATION)
                .with_unit("s")
                .with_description("Time to process a record, or a batch.")
                .build(),
            _lag: meter
                .i64_observable_gauge("kafka.consumer.lag")
                .with_unit("{message}")
                .with_description("Records in the partition not yet consumed.")
                .with_callback(move |observer| {
                    let lag = lag.lock().unwrap_or_else(|p| p.into_inner());
                    for ((topic, partition), value) in lag.iter() {
                        observer.observe(
                            *value,
                            &[
                                KeyValue::new(MESSAGING_SYSTEM, "kafka"),
                                KeyValue::new(
                                    MESSAGING_DESTINATION_NAME,
                                    topic.clone(),
                                ),
                                KeyValue::new(
                                    MESSAGING_DESTINATION_PARTITION_ID,
                                    partition.to_string(),
                                ),
                                KeyValue::new(
                                    MESSAGING_CONSUMER_GROUP_NAME,
                                    group.clone(),
                                ),
                            ],
                        );
                    }
                })
                .build(),
        };
        Ok(Self {
            inner,
            dead_letters: topics::dead_letters(&settings.topic),
            settings,
            producer,
            metrics,
            stats,
        })
    }

    /// Consumes until `shutdown` resolves, then commits and returns. An
    /// error (the broker gone for good, a dead letter that cannot be sent)
    /// ends the loop without committing what failed: the next start retries.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), KafkaError> {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let first = tokio::select! {
                received = self.inner.recv() => received,
                () = &mut shutdown => break,
            };
            let first = match first {
                Ok(message) => message.detach(),
                Err(error) => {
                    tracing::warn!("cannot receive from Kafka: {error}");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            match self.settings.shape {
                Shape::Each => {
                    self.process(&first).await?;
                }
                Shape::Batch { max, wait } => {
                    let mut batch = vec![first];
                    let until = tokio::time::Instant::now() + wait;
                    while batch.len() < max {
                        match tokio::time::timeout_at(until, self.inner.recv()).await
                        {
                            Ok(Ok(message)) => batch.push(message.detach()),
                            Ok(Err(error)) => {
                                tracing::warn!("cannot receive from Kafka: {error}");
                            }
                            Err(_elapsed) => break,
                        }
                    }
                    self.process_batch(&batch).await?;
                }
            }
            // Everything received so far is processed: commit it.
            self.inner.commit_consumer_state(CommitMode::Sync)?;
        }
        // Nothing is in flight between iterations; commit once more in case
        // the last commit raced the shutdown.
        match self.inner.commit_consumer_state(CommitMode::Sync) {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    // ANCHOR: process
    /// One record, in a CONSUMER span whose parent is the producer's span
    /// that the record's headers carry.
    async fn process(&self, message: &OwnedMessage) -> Result<(), KafkaError> {
        let span = self.span(message.topic());
        let parent = headers::extract(message.headers());
        // Fails only when no OpenTelemetry layer is installed.
        let _ = span.set_parent(parent);
        span.record(
            MESSAGING_DESTINATION_PARTITION_ID,
            message.partition().to_string(),
        );
        span.record(MESSAGING_KAFKA_OFFSET, message.offset());
        if let Some(key) = message.key().and_then(|k| std::str::from_utf8(k).ok()) {
            span.record(MESSAGING_KAFKA_MESSAGE_KEY, key);
        }
        let start = Instant::now();
        let outcome = self.handle(message).instrument(span.clone()).await;
        self.record(1, start, &span, outcome.as_ref().err());
        outcome
    }
    // ANCHOR_END: process

    // ANCHOR: batch
    /// A batch, in one CONSUMER span: the root of a trace of its own (no one
    /// request caused it), with a link to each record's producer span.
    async fn process_batch(&self, batch: &[OwnedMessage]) -> Result<(), KafkaError> {
        let span = self.span(&self.settings.topic);
        span.record(MESSAGING_BATCH_MESSAGE_COUNT, batch.len() as i64);
        for message in batch {
            let producer = headers::extract(message.headers());
            let producer = producer.span().span_context().clone();
            if producer.is_valid() {
                span.add_link(producer);
            }
        }
        let start = Instant::now();
        let outcome = async {
            for message in batch {
                self.handle(message).await?;
            }
            Ok(())
        }
        .instrument(span.clone())
        .await;
        self.record(batch.len() as u64, start, &span, outcome.as_ref().err());
        outcome
    }
    // ANCHOR_END: batch

    /// `process <topic>`, with the attributes both shapes share, as a root:
    /// the caller gives it a parent or links.
    fn span(&self, topic: &str) -> Span {
        tracing::info_span!(
            parent: None,
            "process",
            otel.name = format!("process {topic}"),
            otel.kind = "consumer",
            otel.status_code = Empty,
            otel.status_description = Empty,
            { MESSAGING_SYSTEM } = "kafka",
            { MESSAGING_OPERATION_TYPE } = "process",
            { MESSAGING_OPERATION_NAME } = "process",
            { MESSAGING_DESTINATION_NAME } = topic,
            { MESSAGING_CONSUMER_GROUP_NAME } = self.settings.group.as_str(),
            { MESSAGING_DESTINATION_PARTITION_ID } = Empty,
            { MESSAGING_KAFKA_OFFSET } = Empty,
            { MESSAGING_KAFKA_MESSAGE_KEY } = Empty,
            { MESSAGING_BATCH_MESSAGE_COUNT } = Empty,
            { ERROR_TYPE } = Empty,
        )
    }

    /// The counter, the duration, and the span's error if it failed.
    fn record(
        &self,
        records: u64,
        start: Instant,
        span: &Span,
        error: Option<&KafkaError>,
    ) {
        let mut attributes = vec![
            KeyValue::new(MESSAGING_SYSTEM, "kafka"),
            KeyValue::new(MESSAGING_OPERATION_NAME, "process"),
            KeyValue::new(MESSAGING_DESTINATION_NAME, self.settings.topic.clone()),
            KeyValue::new(
                MESSAGING_CONSUMER_GROUP_NAME,
                self.settings.group.clone(),
            ),
        ];
        if let Some(error) = error {
            let kind = crate::producer::error_type(error);
            span.record("otel.status_code", "ERROR");
            span.record("otel.status_description", error.to_string());
            span.record(ERROR_TYPE, kind.as_str());
            attributes.push(KeyValue::new(ERROR_TYPE, kind));
        }
        self.metrics.consumed.add(records, &attributes);
        self.metrics
            .duration
            .record(start.elapsed().as_secs_f64(), &attributes);
    }

    // ANCHOR: handle
    /// Accepts the order in `message`, or sends the record to the
    /// dead-letter topic with why, from where, and the trace context of the
    /// span that gave up on it. Fails only when the dead letter cannot be
    /// sent: the record is then not committed, and comes back.
    async fn handle(&self, message: &OwnedMessage) -> Result<(), KafkaError> {
        match orders::accept(message.payload()) {
            Ok(order) => {
                tracing::info!(
                    "order {} accepted: {} x {}",
                    order.id,
                    order.quantity,
                    order.item
                );
                self.stats.processed.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(rejected) => self.dead_letter(message, &rejected).await,
        }
    }

    async fn dead_letter(
        &self,
        message: &OwnedMessage,
        rejected: &Rejected,
    ) -> Result<(), KafkaError> {
        tracing::warn!("record dead-lettered: {rejected}");
        // A record's own span failed; a batch's span did its job, with one
        // record set aside (the log record above says which).
        if self.settings.shape == Shape::Each {
            let current = Span::current();
            current.record("otel.status_code", "ERROR");
            current.record("otel.status_description", rejected.to_string());
            current.record(ERROR_TYPE, rejected.kind());
        }
        let reason = rejected.to_string();
        let partition = message.partition().to_string();
        let offset = message.offset().to_string();
        let headers = OwnedHeaders::new()
            .insert(header("dlq.reason", &reason))
            .insert(header("dlq.topic", message.topic()))
            .insert(header("dlq.partition", &partition))
            .insert(header("dlq.offset", &offset))
            .insert(header("dlq.group", &self.settings.group));
        let key = message
            .key()
            .and_then(|k| std::str::from_utf8(k).ok())
            .unwrap_or_default();
        self.producer
            .send(
                &self.dead_letters,
                key,
                message.payload().unwrap_or_default(),
                headers,
            )
            .await?;
        self.stats.dead_lettered.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    // ANCHOR_END: handle
}

fn header<'a>(key: &'a str, value: &'a str) -> Header<'a, &'a str> {
    Header {
        key,
        value: Some(value),
    }
}
