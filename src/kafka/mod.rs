//! Kafka clients: configuration pass-through, topic creation, the contexts that tie librdkafka's
//! callbacks (deliveries, rebalances, statistics) to the pipeline, and the embedded mock cluster.

pub mod admin;
pub mod mock;
pub mod publish;

use crate::topology::KafkaConfig;
use rdkafka::ClientConfig;

/// Settings this crate relies on for its delivery guarantees; user settings may not weaken them.
const CONSUMER_FIXED: [(&str, &str); 2] = [
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
];
const PRODUCER_FIXED: [(&str, &str); 1] = [("enable.idempotence", "true")];

/// The consumer's config: our defaults, then `common`, then `consumer`, then the fixed settings.
pub fn consumer_config(k: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.bootstrap_servers)
        .set("group.id", &k.group_id)
        .set("auto.offset.reset", "earliest")
        // Outputs of an exactly-once pipeline are visible only once their transaction commits
        // (librdkafka's default too; said here because the guarantee depends on it).
        .set("isolation.level", "read_committed")
        .set("statistics.interval.ms", "5000")
        .set("fetch.wait.max.ms", "50")
        .set("session.timeout.ms", "10000")
        .set("heartbeat.interval.ms", "1000");
    apply(&mut c, &k.common);
    apply(&mut c, &k.consumer);
    for (key, value) in CONSUMER_FIXED {
        c.set(key, value);
    }
    c
}

/// The producer's config: idempotent, acks=all (implied by idempotence), small linger for batching.
pub fn producer_config(k: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.bootstrap_servers)
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "500000")
        .set("message.timeout.ms", "300000");
    apply(&mut c, &k.common);
    apply(&mut c, &k.producer);
    for (key, value) in PRODUCER_FIXED {
        c.set(key, value);
    }
    c
}

/// A plain client config (admin, test consumers) with only the common settings.
pub fn common_config(k: &KafkaConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &k.bootstrap_servers);
    apply(&mut c, &k.common);
    c
}

fn apply(c: &mut ClientConfig, settings: &std::collections::BTreeMap<String, String>) {
    for (key, value) in settings {
        c.set(key, value);
    }
}

/// Key names whose values must never reach logs or metrics.
pub fn is_secret(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    k.contains("password") || k.contains("secret") || k.ends_with(".key.pem") || k.contains("token")
}

/// A config rendered for logs, with secrets masked.
pub fn redacted(c: &ClientConfig) -> String {
    let mut pairs: Vec<_> = c
        .config_map()
        .iter()
        .map(|(k, v)| {
            if is_secret(k) {
                format!("{k}=***")
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    pairs.sort();
    pairs.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_settings_pass_through_but_cannot_weaken_delivery() {
        let mut k = KafkaConfig::default();
        k.common
            .insert("security.protocol".into(), "SASL_SSL".into());
        k.common.insert("sasl.password".into(), "hunter2".into());
        k.consumer
            .insert("enable.auto.commit".into(), "true".into());
        k.producer.insert("linger.ms".into(), "20".into());
        let c = consumer_config(&k);
        assert_eq!(c.get("security.protocol"), Some("SASL_SSL"));
        assert_eq!(c.get("enable.auto.commit"), Some("false"));
        let p = producer_config(&k);
        assert_eq!(p.get("linger.ms"), Some("20"));
        assert_eq!(p.get("enable.idempotence"), Some("true"));
        let shown = redacted(&p);
        assert!(shown.contains("sasl.password=***"), "{shown}");
        assert!(!shown.contains("hunter2"));
    }
}
