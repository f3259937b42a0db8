//! The per-record work of the pipeline: one input record through the stage chain, its outputs
//! encoded and sent, or its dead letter. One `Worker` per thread that processes records; each
//! owns its chain (stage state such as the dedup window included), codecs and buffers.

use super::chain::Chain;
use super::runner::{PipelineError, Summary};
use super::{stages, InputCtx, Record};
use crate::codec::Codec;
use crate::delivery::ack::{pack, Slot};
use crate::delivery::dead_letter::{DeadLetters, Source};
use crate::delivery::runtime::Sender;
use crate::delivery::schemas::Schemas;
use crate::events::EventType;
use crate::observe::Metrics;
use crate::topology::{OutputConfig, Topology};
use rdkafka::message::Message;
use std::collections::HashMap;

struct Input {
    event_type: EventType,
    codec: Codec,
    records_in: prometheus::IntCounter,
    /// Tracker slots of this topic's partitions, so the hot path needs no string key.
    slots: HashMap<i32, Slot>,
}

struct Output {
    topic: String,
    codec: Codec,
}

impl Output {
    fn new(c: &OutputConfig, schemas: &Schemas) -> Self {
        Output {
            topic: c.topic.clone(),
            codec: schemas.codec(&c.topic, c.format),
        }
    }
}

pub struct Worker {
    inputs: HashMap<String, Input>,
    dead_letters: DeadLetters,
    /// Output topic of each event type that leaves the chain.
    outputs: HashMap<EventType, Output>,
    dead_letter: Output,
    chain: Chain,
    stage_timers: Vec<prometheus::Histogram>,
    sender: Sender,
    metrics: Metrics,
    outs: Vec<Record>,
    /// Encoding buffer reused for every output: the producer copies the bytes.
    scratch: Vec<u8>,
    pub summary: Summary,
    /// The wall clock, refreshed at every commit tick: it only bounds future timestamps (by an
    /// hour by default) and dates dead letters, and reading it per record cost 1% of throughput.
    pub now_ms: i64,
}

impl Worker {
    pub fn new(
        t: &Topology,
        schemas: &Schemas,
        metrics: &Metrics,
        sender: Sender,
        dead_letters: DeadLetters,
    ) -> Self {
        let inputs = t
            .inputs
            .values()
            .map(|i| {
                (
                    i.topic.clone(),
                    Input {
                        event_type: i.event_type,
                        codec: schemas.codec(&i.topic, i.format),
                        records_in: metrics.records_in(&i.topic),
                        slots: HashMap::new(),
                    },
                )
            })
            .collect();
        let chain = Chain::new(stages::build(&t.stages));
        let stage_timers = chain
            .stage_names()
            .iter()
            .map(|n| metrics.stage_timer(n))
            .collect();
        Worker {
            inputs,
            dead_letters,
            outputs: HashMap::from([
                (
                    EventType::Enriched,
                    Output::new(&t.outputs.enriched, schemas),
                ),
                (
                    EventType::Product,
                    Output::new(&t.outputs.products, schemas),
                ),
            ]),
            dead_letter: Output::new(&t.outputs.dead_letter, schemas),
            chain,
            stage_timers,
            sender,
            metrics: metrics.clone(),
            outs: Vec::with_capacity(4),
            scratch: Vec::with_capacity(1024),
            summary: Summary::default(),
            now_ms: crate::delivery::now_ms(),
        }
    }

    pub fn handle(&mut self, m: &impl Message) -> Result<(), PipelineError> {
        let topic = m.topic();
        let Some(input) = self.inputs.get_mut(topic) else {
            return Ok(()); // not subscribed; cannot happen with subscribe()
        };
        let tracker = self.sender.tracker();
        let slot = *input
            .slots
            .entry(m.partition())
            .or_insert_with(|| tracker.slot(topic, m.partition()));
        input.records_in.inc();
        self.summary.records_in += 1;
        let payload = m.payload().unwrap_or(&[]);
        let ctx = InputCtx {
            payload,
            event_type: input.event_type,
            codec: &input.codec,
            now_ms: self.now_ms,
        };
        self.outs.clear();
        let outcome = self.chain.run(Record::Undecoded, &ctx, &mut self.outs);
        for (timer, d) in self.stage_timers.iter().zip(self.chain.last_timings()) {
            timer.observe(d.as_secs_f64());
        }
        let outputs = match &outcome {
            Ok(()) => self.outs.len(),
            Err(_) => 1,
        };
        self.summary.outputs += outputs as u64;
        self.sender.processed(slot, m.offset(), outputs as u32);
        let token = pack(slot, m.offset());
        match outcome {
            Ok(()) => {
                if self.outs.is_empty() {
                    self.summary.filtered += 1;
                    self.metrics.filtered(self.chain.last_stage());
                }
                for r in &self.outs {
                    // Routing is by event type, so that a stage emitting a new type needs an
                    // output in the topology, not a change here.
                    let out = match r.event_type().and_then(|ty| self.outputs.get(&ty)) {
                        Some(out) => out,
                        None => {
                            let (slot, offset) = (slot, m.offset());
                            self.sender.tracker().failed(
                                slot,
                                offset,
                                format!("no output topic for `{}` records", r.kind()),
                            );
                            return Err(PipelineError::NoRoute(r.kind()));
                        }
                    };
                    self.scratch.clear();
                    r.encode(&out.codec, &mut self.scratch)?;
                    self.sender
                        .send(&out.topic, r.key(), &self.scratch, None, token)?;
                }
            }
            Err(rej) => {
                let code = rej.rejection.code.as_str();
                self.metrics.dead_letter(code);
                self.summary.dead_letters += 1;
                *self
                    .summary
                    .dead_letters_by_reason
                    .entry(code.to_owned())
                    .or_default() += 1;
                tracing::debug!(topic, partition = m.partition(), offset = m.offset(), reason = %rej.rejection, "dead letter");
                let dl =
                    self.dead_letters
                        .build(&Source::of(m), rej.stage, rej.rejection, ctx.now_ms);
                self.sender.send_dead_letter(
                    &self.dead_letter.topic,
                    &self.dead_letter.codec,
                    &dl,
                    &mut self.scratch,
                    token,
                )?;
            }
        }
        Ok(())
    }
}
