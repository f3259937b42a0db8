//! The embedded default: librdkafka's in-process mock cluster.
//!
//! It speaks the Kafka protocol on a loopback port, so the pipeline runs unchanged against it;
//! it does not implement transactions or read_committed, and it is gone when the process exits.
//! Good for the demo and quick tests, never a stand-in for the integration tests' real broker.

use rdkafka::mocking::MockCluster;
use rdkafka::producer::DefaultProducerContext;

pub struct EmbeddedKafka {
    cluster: MockCluster<'static, DefaultProducerContext>,
}

impl EmbeddedKafka {
    pub fn start() -> Result<Self, rdkafka::error::KafkaError> {
        Ok(EmbeddedKafka {
            cluster: MockCluster::new(1)?,
        })
    }

    pub fn bootstrap_servers(&self) -> String {
        self.cluster.bootstrap_servers()
    }

    pub fn create_topic(
        &self,
        topic: &str,
        partitions: i32,
    ) -> Result<(), rdkafka::error::KafkaError> {
        self.cluster.create_topic(topic, partitions, 1)
    }
}
