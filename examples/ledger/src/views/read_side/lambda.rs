//! The read side as a Lambda function on the events table's stream.

use dynago_projections::lambda::{self, BatchProjector, DynamoDbEventResponse, StreamEvent};

use super::ReadSide;
use crate::views::Result;

impl ReadSide {
    /// Applies one batch of the stream, as a Lambda function on it
    /// receives it, to both views and the catalog; the records Lambda must send again.
    ///
    /// The totals key each event by its account's currency: an account met
    /// for the first time has its events parked by the totals until its
    /// `Opened` event is read, right after the batch (one query), and they
    /// are replayed. No scan at a cold start.
    ///
    /// # Errors
    ///
    /// A batch of a stream without new images; reading an account's
    /// first event or replaying its parked totals failed (Lambda then sends the whole batch again, and nothing is
    /// counted twice).
    pub async fn handle_lambda(&self, event: &StreamEvent) -> Result<DynamoDbEventResponse> {
        let projectors: [&dyn BatchProjector; 3] = [&self.accounts, &self.totals, &self.catalog];
        let answer = lambda::handle(&projectors, event).await?;
        self.heal().await?;
        Ok(answer)
    }
}
