//! Counting what goes over the wire: an SDK interceptor that sees every HTTP
//! attempt of a client, whatever library drives it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};

/// Counts the requests a client sends (each SDK retry counts), in all and by
/// DynamoDB operation. Cheap to clone; clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    inner: Arc<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: AtomicU64,
    by_operation: Mutex<BTreeMap<String, u64>>,
}

/// The counts at one moment, to subtract from a later one.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestSnapshot {
    /// Every request.
    pub total: u64,
    /// Requests by operation (`Query`, `TransactWriteItems`, ...).
    pub by_operation: BTreeMap<String, u64>,
}

impl RequestSnapshot {
    /// What was sent between `earlier` and this snapshot.
    #[must_use]
    pub fn since(&self, earlier: &RequestSnapshot) -> RequestSnapshot {
        let by_operation = self
            .by_operation
            .iter()
            .map(|(op, n)| {
                let before = earlier.by_operation.get(op).copied().unwrap_or(0);
                (op.clone(), n.saturating_sub(before))
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        RequestSnapshot {
            total: self.total.saturating_sub(earlier.total),
            by_operation,
        }
    }
}

impl RequestCounter {
    /// A counter at zero.
    pub fn new() -> Self {
        Self::default()
    }

    /// Requests sent so far.
    pub fn total(&self) -> u64 {
        self.inner.total.load(Ordering::Relaxed)
    }

    /// The counts now.
    pub fn snapshot(&self) -> RequestSnapshot {
        let by_operation = self
            .inner
            .by_operation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        RequestSnapshot {
            total: self.total(),
            by_operation,
        }
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "dynago-bench request counter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.inner.total.fetch_add(1, Ordering::Relaxed);
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|target| target.rsplit('.').next())
            .unwrap_or("?")
            .to_owned();
        *self
            .inner
            .by_operation
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(operation)
            .or_insert(0) += 1;
        Ok(())
    }
}

/// `client` with `counter` added to its interceptors.
pub fn counted_client(
    client: &aws_sdk_dynamodb::Client,
    counter: &RequestCounter,
) -> aws_sdk_dynamodb::Client {
    let config = client
        .config()
        .to_builder()
        .interceptor(counter.clone())
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}
