//! Sending records: a PRODUCER span per record, named `send <topic>`, whose
//! context the record carries in its headers, and a count of the records
//! sent.

use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Meter};
use opentelemetry_semantic_conventions::attribute::{
    ERROR_TYPE, MESSAGING_DESTINATION_NAME, MESSAGING_DESTINATION_PARTITION_ID,
    MESSAGING_KAFKA_MESSAGE_KEY, MESSAGING_KAFKA_OFFSET, MESSAGING_OPERATION_NAME,
    MESSAGING_OPERATION_TYPE, MESSAGING_SYSTEM, SERVER_ADDRESS, SERVER_PORT,
};
use opentelemetry_semantic_conventions::metric::MESSAGING_CLIENT_SENT_MESSAGES;
use rdkafka::ClientConfig;
use rdkafka::error::KafkaError;
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{FutureProducer, FutureRecord};
use tracing::Instrument as _;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::headers;

/// How long a record may wait in the producer's queue for the broker.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where a record landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    pub partition: i32,
    pub offset: i64,
}

/// A Kafka producer whose every record is traced.
#[derive(Clone)]
pub struct Producer {
    inner: FutureProducer,
    /// `server.address` and `server.port`: the first bootstrap broker.
    server: (String, i64),
    sent: Counter<u64>,
}

impl Producer {
    /// A producer for the brokers of `brokers` (`host:port,...`).
    pub fn new(brokers: &str, meter: &Meter) -> Result<Self, KafkaError> {
        let inner = ClientConfig::new()
            .set("bootstrap.servers", brokers)
            .set(
                "message.timeout.ms",
                DELIVERY_TIMEOUT.as_millis().to_string(),
            )
            .create()?;
        Ok(Self {
            inner,
            server: first_broker(brokers),
            sent: meter
                .u64_counter(MESSAGING_CLIENT_SENT_MESSAGES)
                .with_unit("{message}")
                .with_description("Records the producer sent, or failed to.")
                .build(),
        })
    }

    // ANCHOR: send
    /// Sends `payload` under `key` to `topic`, with `headers` and the trace
    /// context of its `send <topic>` span, and waits for the broker's
    /// acknowledgement.
    pub async fn send(
        &self,
        topic: &str,
        key: &str,
        payload: &[u8],
        headers: OwnedHeaders,
    ) -> Result<Delivered, KafkaError> {
        let span = tracing::info_span!(
            "send",
            otel.name = format!("send {topic}"),
            otel.kind = "producer",
            otel.status_code = Empty,
            otel.status_description = Empty,
            { MESSAGING_SYSTEM } = "kafka",
            { MESSAGING_OPERATION_TYPE } = "send",
            { MESSAGING_OPERATION_NAME } = "send",
            { MESSAGING_DESTINATION_NAME } = topic,
            { MESSAGING_KAFKA_MESSAGE_KEY } = key,
            { MESSAGING_DESTINATION_PARTITION_ID } = Empty,
            { MESSAGING_KAFKA_OFFSET } = Empty,
            { SERVER_ADDRESS } = self.server.0.as_str(),
            { SERVER_PORT } = self.server.1,
            { ERROR_TYPE } = Empty,
        );
        // The consumer's span becomes a child of (or links to) this one.
        let headers = headers::inject(&span.context(), headers);
        let record = FutureRecord::to(topic)
            .key(key)
            .payload(payload)
            .headers(headers);
        let result = self
            .inner
            .send(record, DELIVERY_TIMEOUT)
            .instrument(span.clone())
            .await;
        let mut attributes = vec![
            KeyValue::new(MESSAGING_SYSTEM, "kafka"),
            KeyValue::new(MESSAGING_OPERATION_NAME, "send"),
            KeyValue::new(MESSAGING_DESTINATION_NAME, topic.to_owned()),
        ];
        let outcome = match result {
            Ok(delivery) => {
                span.record(
                    MESSAGING_DESTINATION_PARTITION_ID,
                    delivery.partition.to_string(),
                );
                span.record(MESSAGING_KAFKA_OFFSET, delivery.offset);
                Ok(Delivered {
                    partition: delivery.partition,
                    offset: delivery.offset,
                })
            }
            Err((error, _record)) => {
                let kind = error_type(&error);
                span.record("otel.status_code", "ERROR");
                span.record("otel.status_description", error.to_string());
                span.record(ERROR_TYPE, kind.as_str());
                attributes.push(KeyValue::new(ERROR_TYPE, kind));
                Err(error)
            }
        };
        self.sent.add(1, &attributes);
        outcome
    }
    // ANCHOR_END: send
}

/// `error.type` for a Kafka error: librdkafka's code (`MessageTimedOut`,
/// `UnknownTopicOrPartition`, ...), or the kind of error when it has none.
pub fn error_type(error: &KafkaError) -> String {
    match error.rdkafka_error_code() {
        Some(code) => format!("{code:?}"),
        None => "_OTHER".to_owned(),
    }
}

/// The host and port of the first broker of `host:port,...`.
pub fn first_broker(brokers: &str) -> (String, i64) {
    let first = brokers.split(',').next().unwrap_or_default().trim();
    match first.rsplit_once(':') {
        Some((host, port)) => (host.to_owned(), port.parse().unwrap_or(9092)),
        None => (first.to_owned(), 9092),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_first_broker_names_the_server() {
        assert_eq!(
            super::first_broker("127.0.0.1:19092,other:9093"),
            ("127.0.0.1".to_owned(), 19092)
        );
        assert_eq!(super::first_broker("kafka"), ("kafka".to_owned(), 9092));
    }
}
