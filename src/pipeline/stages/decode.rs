//! Bytes -> typed event, then the checks the schema cannot make (ids not empty, rating in 1-5,
//! timestamps not from the future). Everything that fails becomes a rejection with its code.

use crate::events::{BehaviorEvent, BehaviorKind, EventType, ProductEvent};
use crate::pipeline::{InputCtx, Record, Stage};
use crate::reject::{RejectCode, Rejection};
use crate::topology::DecodeConfig;

pub struct Decode {
    config: DecodeConfig,
}

impl Decode {
    pub fn new(config: DecodeConfig) -> Self {
        Decode { config }
    }

    fn check_ts(&self, ts: i64, now_ms: i64) -> Result<(), Rejection> {
        if ts < 0 {
            return Err(Rejection::new(
                RejectCode::InvalidValue,
                format!("ts {ts} is before 1970"),
            ));
        }
        if ts > now_ms.saturating_add(self.config.max_future_skew_ms) {
            return Err(Rejection::new(
                RejectCode::FutureTimestamp,
                format!(
                    "ts {ts} is {} ms ahead of the clock (limit {} ms)",
                    ts - now_ms,
                    self.config.max_future_skew_ms
                ),
            ));
        }
        Ok(())
    }
}

fn require(field: &str, value: &str) -> Result<(), Rejection> {
    if value.trim().is_empty() {
        Err(Rejection::new(
            RejectCode::InvalidValue,
            format!("`{field}` is empty"),
        ))
    } else {
        Ok(())
    }
}

pub fn validate_behavior(e: &BehaviorEvent) -> Result<(), Rejection> {
    require("event_id", &e.event_id)?;
    require("user_id", &e.user_id)?;
    require("item_id", &e.item_id)?;
    if let Some(r) = e.rating {
        if !(1..=5).contains(&r) {
            return Err(Rejection::new(
                RejectCode::InvalidValue,
                format!("rating {r} is outside 1-5"),
            ));
        }
    }
    if e.rating.is_some() && e.kind != BehaviorKind::Review {
        return Err(Rejection::new(
            RejectCode::InvalidValue,
            format!(
                "a rating on a `{}` event; only reviews carry ratings",
                e.kind.as_str()
            ),
        ));
    }
    Ok(())
}

pub fn validate_product(p: &ProductEvent) -> Result<(), Rejection> {
    require("item_id", &p.item_id)?;
    require("title", &p.title)?;
    if let Some(price) = p.price {
        if !price.is_finite() || price < 0.0 {
            return Err(Rejection::new(
                RejectCode::InvalidValue,
                format!("price {price} is not a price"),
            ));
        }
    }
    Ok(())
}

impl Stage for Decode {
    fn name(&self) -> &'static str {
        "decode"
    }

    fn process(
        &mut self,
        record: Record,
        ctx: &InputCtx<'_>,
        out: &mut Vec<Record>,
    ) -> Result<(), Rejection> {
        if record != Record::Undecoded {
            // Already typed (an in-process source): nothing to decode.
            out.push(record);
            return Ok(());
        }
        let bytes = ctx.payload;
        if bytes.len() > self.config.max_payload_bytes {
            return Err(Rejection::new(
                RejectCode::PayloadTooLarge,
                format!(
                    "{} bytes, limit {}",
                    bytes.len(),
                    self.config.max_payload_bytes
                ),
            ));
        }
        match ctx.event_type {
            EventType::Behavior => {
                let e: BehaviorEvent = ctx.codec.decode(EventType::Behavior, bytes)?;
                validate_behavior(&e)?;
                self.check_ts(e.ts, ctx.now_ms)?;
                out.push(Record::Behavior(e));
            }
            EventType::Product => {
                let p: ProductEvent = ctx.codec.decode(EventType::Product, bytes)?;
                validate_product(&p)?;
                self.check_ts(p.ts, ctx.now_ms)?;
                out.push(Record::Product(p));
            }
            other => {
                return Err(Rejection::new(
                    RejectCode::SchemaMismatch,
                    format!(
                        "inputs of type `{}` are not decoded by this pipeline",
                        other.as_str()
                    ),
                ))
            }
        }
        Ok(())
    }
}
