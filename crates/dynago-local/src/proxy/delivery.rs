//! Deliveries outside the client's request: held requests forwarded late,
//! duplicated ones forwarded again, each from a task of its own that
//! outlives the client's connection.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;

use super::state::Shared;
use super::upstream::{upstream_failed, Outgoing, Upstreams};

/// Which delivery a background task makes.
#[derive(Debug, Clone, Copy)]
pub(super) enum Delivery {
    /// A held request, after its delay.
    Late(Duration),
    /// A duplicated request, a second time.
    Again,
}

/// Sends `outgoing` from a task of its own, which outlives the client's
/// connection, and discards the answer. Pending from now until answered.
pub(super) fn deliver_in_background(
    client: Upstreams,
    shared: Arc<Shared>,
    outgoing: Outgoing,
    delivery: Delivery,
) {
    let pending = Pending::new(Arc::clone(&shared));
    tokio::spawn(async move {
        let _pending = pending;
        if let Delivery::Late(delay) = delivery {
            tokio::time::sleep(delay).await;
        }
        let forward = match outgoing.request(&shared) {
            Ok(forward) => forward,
            Err(error) => return upstream_failed(&shared, &error),
        };
        {
            let mut state = shared.lock();
            match delivery {
                Delivery::Late(_) => {
                    state.stats.forwarded += 1;
                    state.stats.delivered_late += 1;
                }
                Delivery::Again => state.stats.duplicated += 1,
            }
        }
        match client.request(forward).await {
            Ok(answer) => {
                let status = answer.status();
                // Read to its end, so the upstream connection is reused.
                let _ = answer.into_body().collect().await;
                tracing::debug!(
                    ?delivery,
                    status = status.as_u16(),
                    "fault proxy: delivered again or late, answer discarded"
                );
            }
            Err(error) => upstream_failed(&shared, &error),
        }
    });
}

/// A delivery in the background, counted in [`Shared::pending`] from its
/// creation until it is dropped (done, or its task cancelled with the
/// proxy's runtime).
struct Pending(Arc<Shared>);

impl Pending {
    fn new(shared: Arc<Shared>) -> Self {
        shared.pending.send_modify(|pending| *pending += 1);
        Self(shared)
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        self.0
            .pending
            .send_modify(|pending| *pending = pending.saturating_sub(1));
    }
}
