//! Real behaviour -> EnrichedEvent, weighted by kind (view < cart < purchase) for the recommender.

use crate::events::EnrichedEvent;
use crate::pipeline::{InputCtx, Record, Stage};
use crate::reject::Rejection;
use crate::topology::Weights;

pub struct Enrich {
    weights: Weights,
}

impl Enrich {
    pub fn new(weights: Weights) -> Self {
        Enrich { weights }
    }
}

impl Stage for Enrich {
    fn name(&self) -> &'static str {
        "enrich"
    }

    fn process(
        &mut self,
        record: Record,
        _ctx: &InputCtx<'_>,
        out: &mut Vec<Record>,
    ) -> Result<(), Rejection> {
        out.push(match record {
            Record::Behavior(e) => {
                let w = self.weights.of(e.kind);
                Record::Enriched(EnrichedEvent::real(e, w))
            }
            other => other,
        });
        Ok(())
    }
}
