//! Real behaviour -> EnrichedEvent, weighted by kind (view < cart < purchase) for the recommender.

use crate::events::{BehaviorKind, EnrichedEvent};
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

    fn weight(&self, kind: BehaviorKind) -> f64 {
        match kind {
            BehaviorKind::View => self.weights.view,
            BehaviorKind::Cart => self.weights.cart,
            BehaviorKind::Purchase => self.weights.purchase,
            BehaviorKind::Review => self.weights.review,
        }
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
                let w = self.weight(e.kind);
                Record::Enriched(EnrichedEvent::real(e, w))
            }
            other => other,
        });
        Ok(())
    }
}
