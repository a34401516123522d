//! The hub's side of `keepwatch run`: batches the API took from agents
//! reach the agent's loop as [`Delivery`]s, so they go through the same
//! pipeline (the one writer of alerts) as what this computer measures
//! itself, and the answer goes back to the agent only once the batch is
//! stored.

use tokio::sync::oneshot;

use super::Agent;
use crate::protocol::{Ack, Batch};
use crate::store::StoreError;

/// A batch from an agent, and where to answer.
#[derive(Debug)]
pub struct Delivery {
    /// The agent (its token's name).
    pub host: String,
    /// What it sent.
    pub batch: Batch,
    /// Told once the batch is stored (or could not be).
    pub reply: oneshot::Sender<Result<Ack, StoreError>>,
}

impl Agent {
    /// Stores a batch from an agent and lets alerting act on it; the
    /// agent is told either way.
    pub fn deliver(&mut self, delivery: Delivery) {
        let now = self.clock.now();
        let result = self
            .pipeline
            .take_batch(&delivery.host, &delivery.batch, now);
        if let Err(err) = &result {
            tracing::warn!(
                "could not store a batch from {}: {err}; it keeps it and sends it again",
                crate::printable::name(&delivery.host)
            );
        }
        // An agent that gave up waiting sends the batch again.
        let _ = delivery.reply.send(result);
    }
}
