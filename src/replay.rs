//! Replaying a loaded stream onto Kafka at a chosen multiple of real time.
//!
//! Why pace by the events' own timestamps: the pipeline's windows, dedup and cold-start logic react
//! to arrival order and gaps, so a replay that keeps the recorded rhythm (compressed by `speed`)
//! exercises them the way production traffic would; `speed: None` is the load test.
//!
//! Why a `BaseProducer` polled from this task instead of a `FutureProducer`: one record at a time
//! with a future per record costs an allocation and a wake-up each, and the replay needs neither;
//! delivery reports only feed the counters of [`ReplayContext`]. The producer is idempotent so
//! that its internal retries cannot duplicate or reorder what the pipeline sees.
//!
//! The cold-start split ([`split_new_items`]) does not change what is published: it names the
//! items that an evaluation should treat as new, and the summary carries that set.

pub use crate::data::assemble::split_new_items;
use crate::data::StreamEvent;
use crate::kafka::publish::send_waiting;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{ClientConfig, ClientContext};
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// The replay.

#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// `None`: as fast as possible; `Some(60.0)`: one minute of recorded time per second.
    pub speed: Option<f64>,
    /// Replay only the first `limit` behaviour events (and the product events before them).
    pub limit: Option<usize>,
    /// The fraction of distinct items counted as new for the cold-start split (0..=1).
    pub new_item_fraction: f64,
    pub seed: u64,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions {
            speed: None,
            limit: None,
            new_item_fraction: 0.0,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct ReplaySummary {
    pub behavior_events: usize,
    pub product_events: usize,
    /// How many items the cold-start split counts as new (`new_item_ids.len()`).
    pub new_items: usize,
    /// Behaviour events published on those items.
    pub behavior_events_on_new_items: usize,
    pub new_item_ids: HashSet<String>,
    pub elapsed: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("speed must be a positive finite number, got {0}")]
    Speed(f64),
    #[error("new_item_fraction must be within 0..=1, got {0}")]
    Fraction(f64),
    #[error("cannot create the producer: {0}")]
    Producer(#[source] KafkaError),
    #[error("cannot encode the event for {topic}: {source}")]
    Encode {
        topic: String,
        source: serde_json::Error,
    },
    #[error("cannot send to {topic}: {source}")]
    Send { topic: String, source: KafkaError },
    #[error("flush failed: {0}")]
    Flush(#[source] KafkaError),
    #[error("flush did not finish within {0:?} ({1} records still in flight)")]
    FlushTimeout(Duration, i32),
    #[error("{failed} of {sent} records were not delivered; first error: {first}")]
    Delivery {
        failed: u64,
        sent: u64,
        first: String,
    },
}

/// Counts delivery reports; keeps the first error for the report.
#[derive(Default)]
struct ReplayContext {
    acked: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl ClientContext for ReplayContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(error = %error, reason, "replay producer error");
    }
}

impl ProducerContext for ReplayContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
            }
            Err((e, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| e.to_string());
                }
            }
        }
    }
}

/// Sleeps are capped here so that absurd gaps cannot overflow the clock (about 100 years).
const MAX_WAIT_S: f64 = 3.15e9;
const FLUSH_TIMEOUT: Duration = Duration::from_secs(120);

/// Publishes `stream` as JSON: behaviour events to `behavior_topic` keyed by user id, product
/// events to `product_topic` keyed by item id, in stream order, paced by the events' timestamps
/// divided by `opts.speed` (measured from the first event; sleeps only for gaps over 1 ms), then
/// waits until every record is acknowledged. A progress bar goes to stderr when it is a terminal.
///
/// The flush polls from this task between short async sleeps, so the runtime is never blocked
/// for long (works on a current-thread runtime too). Dropping the future stops the replay
/// without flushing.
pub async fn replay(
    stream: &[StreamEvent],
    behavior_topic: &str,
    product_topic: &str,
    config: &ClientConfig,
    opts: &ReplayOptions,
) -> Result<ReplaySummary, ReplayError> {
    if let Some(s) = opts.speed {
        if !(s.is_finite() && s > 0.0) {
            return Err(ReplayError::Speed(s));
        }
    }
    if !(0.0..=1.0).contains(&opts.new_item_fraction) {
        return Err(ReplayError::Fraction(opts.new_item_fraction));
    }
    let stream = limit_behavior(stream, opts.limit);
    let new_item_ids = split_new_items(stream, opts.new_item_fraction, opts.seed);

    let mut c = config.clone();
    c.set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .set("queue.buffering.max.messages", "1000000");
    let producer: BaseProducer<ReplayContext> = c
        .create_with_context(ReplayContext::default())
        .map_err(ReplayError::Producer)?;

    let bar =
        ProgressBar::with_draw_target(Some(stream.len() as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{elapsed_precise} [{wide_bar}] {human_pos}/{human_len} events ({per_sec}) {msg}",
    ) {
        bar.set_style(style);
    }

    let started = tokio::time::Instant::now();
    let t0 = stream.iter().map(event_ts).next().unwrap_or(0);
    let mut summary = ReplaySummary::default();
    let mut payload = Vec::with_capacity(512);
    for (i, e) in stream.iter().enumerate() {
        if let Some(speed) = opts.speed {
            let wait_s =
                ((event_ts(e).saturating_sub(t0)).max(0) as f64 / speed / 1000.0).min(MAX_WAIT_S);
            let due = started + Duration::from_secs_f64(wait_s);
            let now = tokio::time::Instant::now();
            if due > now + Duration::from_millis(1) {
                producer.poll(Duration::ZERO);
                let gap = due - now;
                if gap > Duration::from_secs(1) {
                    bar.set_message(format!("(next event in {})", human(gap)));
                }
                tokio::time::sleep_until(due).await;
                bar.set_message("");
            }
        }
        payload.clear();
        let (topic, key) = match e {
            StreamEvent::Behavior(b) => {
                summary.behavior_events += 1;
                if new_item_ids.contains(&b.item_id) {
                    summary.behavior_events_on_new_items += 1;
                }
                serde_json::to_writer(&mut payload, b).map_err(|source| ReplayError::Encode {
                    topic: behavior_topic.to_owned(),
                    source,
                })?;
                (behavior_topic, b.user_id.as_str())
            }
            StreamEvent::Product(p) => {
                summary.product_events += 1;
                serde_json::to_writer(&mut payload, p).map_err(|source| ReplayError::Encode {
                    topic: product_topic.to_owned(),
                    source,
                })?;
                (product_topic, p.item_id.as_str())
            }
        };
        send_waiting(
            &producer,
            BaseRecord::to(topic).key(key).payload(&payload[..]),
        )
        .map_err(|source| ReplayError::Send {
            topic: topic.to_owned(),
            source,
        })?;
        if i % 256 == 0 {
            producer.poll(Duration::ZERO);
        }
        bar.inc(1);
    }

    bar.set_message("(flushing)");
    let flush_started = tokio::time::Instant::now();
    loop {
        match producer.flush(Duration::ZERO) {
            Ok(()) => break,
            Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut)) => {
                if flush_started.elapsed() > FLUSH_TIMEOUT {
                    bar.abandon_with_message("(flush timed out)");
                    return Err(ReplayError::FlushTimeout(
                        FLUSH_TIMEOUT,
                        producer.in_flight_count(),
                    ));
                }
                producer.poll(Duration::ZERO);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err(e) => {
                bar.abandon_with_message("(flush failed)");
                return Err(ReplayError::Flush(e));
            }
        }
    }
    producer.poll(Duration::ZERO);
    bar.finish_and_clear();

    let ctx = producer.context();
    let failed = ctx.failed.load(Ordering::Relaxed);
    if failed > 0 {
        let first = ctx
            .first_error
            .lock()
            .ok()
            .and_then(|f| f.clone())
            .unwrap_or_default();
        return Err(ReplayError::Delivery {
            failed,
            sent: (summary.behavior_events + summary.product_events) as u64,
            first,
        });
    }
    summary.new_items = new_item_ids.len();
    summary.new_item_ids = new_item_ids;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// The prefix of `stream` up to and including its `limit`-th behaviour event.
fn limit_behavior(stream: &[StreamEvent], limit: Option<usize>) -> &[StreamEvent] {
    let Some(n) = limit else { return stream };
    if n == 0 {
        return &stream[..0];
    }
    let end = stream
        .iter()
        .enumerate()
        .filter(|(_, e)| matches!(e, StreamEvent::Behavior(_)))
        .nth(n - 1)
        .map_or(stream.len(), |(i, _)| i + 1);
    &stream[..end]
}

fn event_ts(e: &StreamEvent) -> i64 {
    match e {
        StreamEvent::Behavior(b) => b.ts,
        StreamEvent::Product(p) => p.ts,
    }
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..=119 => format!("{s}s"),
        120..=7199 => format!("{}m", s / 60),
        7200..=172_799 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::assemble::{assemble, rating};
    use crate::events::{BehaviorEvent, ProductEvent};

    #[test]
    fn limit_keeps_products_before_the_cut() {
        let stream = assemble(
            vec![(b_ev("a", 3), ()), (b_ev("b", 2), ()), (b_ev("a", 1), ())],
            None,
            |_, _| product("x"),
        );
        let order: Vec<(bool, i64)> = stream
            .iter()
            .map(|e| (matches!(e, StreamEvent::Product(_)), event_ts(e)))
            .collect();
        assert_eq!(
            order,
            [(true, 1), (false, 1), (true, 2), (false, 2), (false, 3)]
        );
        assert_eq!(limit_behavior(&stream, Some(1)).len(), 2);
        assert_eq!(limit_behavior(&stream, Some(2)).len(), 4);
        assert_eq!(limit_behavior(&stream, Some(9)).len(), 5);
        assert_eq!(limit_behavior(&stream, Some(0)).len(), 0);
    }

    fn b_ev(item: &str, ts: i64) -> BehaviorEvent {
        BehaviorEvent {
            event_id: format!("e{ts}"),
            user_id: "u".into(),
            item_id: item.into(),
            kind: crate::events::BehaviorKind::View,
            ts,
            session_id: None,
            rating: None,
            review_text: None,
        }
    }

    fn product(title: &str) -> ProductEvent {
        ProductEvent::titled("", title)
    }

    #[test]
    fn ratings() {
        assert_eq!(rating(5.0), Some(5));
        assert_eq!(rating(1.0), Some(1));
        assert_eq!(rating(4.5), None);
        assert_eq!(rating(0.0), None);
        assert_eq!(rating(6.0), None);
        assert_eq!(rating(f64::NAN), None);
    }

    #[test]
    fn human_durations() {
        assert_eq!(human(Duration::from_secs(5)), "5s");
        assert_eq!(human(Duration::from_secs(600)), "10m");
        assert_eq!(human(Duration::from_secs(86_400 * 3)), "3d");
    }
}
