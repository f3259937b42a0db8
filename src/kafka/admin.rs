//! Creates the topics a topology needs, so that a fresh broker works without manual set-up.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::ClientConfig;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("cannot create admin client: {0}")]
    Client(rdkafka::error::KafkaError),
    #[error("creating topics failed: {0}")]
    Request(rdkafka::error::KafkaError),
    #[error("creating topic `{0}` failed: {1}")]
    Topic(String, RDKafkaErrorCode),
}

/// Creates each topic with `partitions` partitions and `replication` replicas unless it exists.
pub async fn ensure_topics(
    config: &ClientConfig,
    topics: &[&str],
    partitions: i32,
    replication: i32,
) -> Result<(), AdminError> {
    if topics.is_empty() || partitions <= 0 {
        return Ok(());
    }
    // A topic named twice (a service that reads a topic it also writes) made the request hang
    // here: the create call never completed.
    let mut topics = topics.to_vec();
    topics.sort_unstable();
    topics.dedup();
    let admin: AdminClient<DefaultClientContext> = config.create().map_err(AdminError::Client)?;
    let new: Vec<NewTopic> = topics
        .iter()
        .map(|t| NewTopic::new(t, partitions, TopicReplication::Fixed(replication)))
        .collect();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(30)));
    let results = admin
        .create_topics(&new, &opts)
        .await
        .map_err(AdminError::Request)?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(AdminError::Topic(topic, code)),
        }
    }
    Ok(())
}
