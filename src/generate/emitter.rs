//! What the generation stage writes: a finished record's synthetic reviews, synthetic behaviour
//! and the matching enriched events (or its dead letter), in the order the records were
//! consumed, each output tied to its input record for the commit rule.

use super::engine::Generated;
use super::in_order::InOrder;
use super::metrics::GenerationMetrics;
use super::service::{Summary, Ticket, TOP_UP_SLOT};
use super::GenerateError;
use crate::codec::Codec;
use crate::delivery::ack::pack;
use crate::delivery::runtime::Sender;
use crate::events::{EnrichedEvent, EventType, Origin};
use crate::topology::Weights;
use std::time::Instant;

/// Each output kind's topic and codec.
pub(super) struct Outputs {
    pub reviews: (String, Codec),
    pub behavior: (String, Codec),
    pub enriched: (String, Codec),
    pub dead_letter: (String, Codec),
}

/// Turns results into records on the output topics.
pub(super) struct Emitter {
    pub outputs: Outputs,
    pub weights: Weights,
    pub sender: Sender,
    pub gm: GenerationMetrics,
    pub buf: Vec<u8>,
    pub summary: Summary,
}

impl Emitter {
    fn send<T: serde::Serialize>(
        &mut self,
        out: fn(&Outputs) -> &(String, Codec),
        ty: EventType,
        key: &[u8],
        value: &T,
        token: usize,
    ) -> Result<(), GenerateError> {
        let (topic, codec) = out(&self.outputs);
        self.buf.clear();
        codec.encode(ty, value, &mut self.buf)?;
        Ok(self.sender.send(topic, key, &self.buf, None, token)?)
    }

    /// Hands every finished record at the front of `order` to the producer.
    pub fn release(
        &mut self,
        order: &mut InOrder<(Ticket, Instant), Generated>,
    ) -> Result<(), GenerateError> {
        while let Some(((ticket, arrived), generated)) = order.pop_ready() {
            self.emit(ticket, arrived, generated)?;
        }
        Ok(())
    }

    fn emit(&mut self, t: Ticket, arrived: Instant, g: Generated) -> Result<(), GenerateError> {
        if !self.sender.tracker().still_owned(t.slot, t.epoch) {
            // Revoked while it was generated: its next owner consumes it again, and outputs
            // from here would be doubled (or, with transactions, committed without its offset).
            self.gm.product("revoked");
            return Ok(());
        }
        let token = pack(t.slot, t.offset);
        if let Some(dl) = t.dead_letter {
            self.sender.processed(t.slot, t.offset, 1);
            self.summary.dead_letters += 1;
            self.gm.product("dead_letter");
            let (topic, codec) = &self.outputs.dead_letter;
            return Ok(self
                .sender
                .send_dead_letter(topic, codec, &dl, &mut self.buf, token)?);
        }
        if t.skipped {
            self.sender.processed(t.slot, t.offset, 0);
            self.summary.skipped += 1;
            self.gm.product("skipped_old");
            return Ok(());
        }
        let n = g.reviews.len() + 2 * g.behavior.len();
        // Registered before sending, so that an acknowledgement never precedes its record.
        self.sender.processed(t.slot, t.offset, n as u32);
        self.send_generated(&g, token)?;
        self.summary.products += 1;
        let complete = g.missing_reviews == 0 && !g.missing_behavior;
        self.gm
            .product(if complete { "generated" } else { "partial" });
        self.gm.latency(arrived.elapsed().as_secs_f64());
        Ok(())
    }

    /// A top-up round's records: produced like any others, but tied to no input offset.
    pub fn emit_top_up(&mut self, mut g: Generated) -> Result<(), GenerateError> {
        // A round's ids must differ from the first round's (consumers deduplicate by id); the
        // batch seed differs per round.
        for r in &mut g.reviews {
            r.event_id = format!("{}-top{}", r.event_id, r.seed);
        }
        for b in &mut g.behavior {
            b.event_id = format!("{}-top{}", b.event_id, b.seed);
        }
        self.send_generated(&g, pack(TOP_UP_SLOT, 0))?;
        self.summary.top_ups += 1;
        self.gm.product("top_up");
        Ok(())
    }

    fn send_generated(&mut self, g: &Generated, token: usize) -> Result<(), GenerateError> {
        for r in &g.reviews {
            self.send(
                |o| &o.reviews,
                EventType::SyntheticReview,
                r.item_id.as_bytes(),
                r,
                token,
            )?;
        }
        for b in &g.behavior {
            self.send(
                |o| &o.behavior,
                EventType::SyntheticBehavior,
                b.user_id.as_bytes(),
                b,
                token,
            )?;
            let weight = self.weights.of(b.kind);
            let e = EnrichedEvent {
                event_id: b.event_id.clone(),
                user_id: b.user_id.clone(),
                item_id: b.item_id.clone(),
                kind: b.kind,
                ts: b.ts,
                weight,
                origin: Origin::Synthetic,
                synthetic: true,
                model_version: Some(b.model_version.clone()),
                rating: None,
                review_text: None,
            };
            self.send(
                |o| &o.enriched,
                EventType::Enriched,
                e.user_id.as_bytes(),
                &e,
                token,
            )?;
        }
        self.summary.reviews += g.reviews.len() as u64;
        self.summary.behavior += g.behavior.len() as u64;
        self.gm.generated("review", g.reviews.len());
        self.gm.generated("behavior", g.behavior.len());
        for ((kind, reason), n) in &g.rejected {
            self.gm.rejected(kind, reason, *n);
        }
        for ((kind, reason), n) in &g.skipped {
            self.gm.skipped(kind, reason, *n);
        }
        self.gm.shortfall("review", g.missing_reviews);
        self.gm.shortfall("behavior", g.missing_behavior as usize);
        Ok(())
    }
}
