//! The topics the example uses, created at start-up when they do not exist:
//! brokers that do not create topics on first use (most production set-ups)
//! would otherwise leave the producer waiting for metadata.

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::KafkaError;
use rdkafka::types::RDKafkaErrorCode;

/// Where a topic's records go when no retry will fix them.
pub fn dead_letters(topic: &str) -> String {
    format!("{topic}.dlq")
}

// ANCHOR: ensure
/// Why the topics could not be made ready.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("cannot reach the brokers: {0}")]
    Kafka(#[from] KafkaError),
    #[error("cannot create topic {topic}: {code}")]
    Create {
        topic: String,
        code: RDKafkaErrorCode,
    },
}

/// Creates each `(name, partitions)` topic that does not exist yet.
pub async fn ensure(
    brokers: &str,
    topics: &[(&str, i32)],
) -> Result<(), TopicError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()?;
    let new: Vec<NewTopic<'_>> = topics
        .iter()
        .map(|(name, partitions)| {
            NewTopic::new(name, *partitions, TopicReplication::Fixed(1))
        })
        .collect();
    let options =
        AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&new, &options).await? {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(TopicError::Create { topic, code }),
        }
    }
    Ok(())
}
// ANCHOR_END: ensure
