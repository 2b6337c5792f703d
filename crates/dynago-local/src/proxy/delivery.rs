//! Deliveries outside the client's request: held requests forwarded late,
//! duplicated ones forwarded again, each from a task of its own that
//! outlives the client's connection.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::HeaderMap;
use hyper::{Method, Request, Uri};

use super::connection::{copy_end_to_end, upstream_failed, Upstreams};
use super::state::Shared;

/// A request as it goes upstream, read whole: it can be sent late, or
/// twice.
pub(super) struct Outgoing {
    pub(super) method: Method,
    /// The client's URI, for its path and query.
    pub(super) uri: Uri,
    /// The client's headers, hop-by-hop ones included.
    pub(super) headers: HeaderMap,
    pub(super) body: Bytes,
}

impl Outgoing {
    /// The request to the upstream of this moment.
    pub(super) fn request(
        &self,
        shared: &Shared,
    ) -> std::result::Result<Request<Full<Bytes>>, hyper::http::Error> {
        let uri = shared.upstream().uri_for(&self.uri)?;
        let mut forward = Request::new(Full::new(self.body.clone()));
        *forward.method_mut() = self.method.clone();
        *forward.uri_mut() = uri;
        // The Host header goes as it is: it is part of the request's signature.
        copy_end_to_end(&self.headers, forward.headers_mut());
        Ok(forward)
    }
}

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
