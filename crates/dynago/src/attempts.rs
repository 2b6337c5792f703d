//! Which attempts of a write ended without a definitive answer.
//!
//! The SDK sends a request again on timeouts, dropped connections, server
//! errors and throttling, and reports the error of its last attempt only. A
//! write whose first attempt timed out after it left, and whose resends were
//! throttled, would then look throttled: refused, nothing written, while the
//! first attempt may still land. [`AttemptWatch`], an interceptor every
//! [`Table`](crate::Table)'s client carries, notes each attempt that ended
//! without a definitive answer; [`watched`] reads that note for one request,
//! and [`from_sdk_write`] makes a write's error an
//! [`Error::OutcomeUnknown`] when that note, or the error itself, leaves
//! the outcome open.
//!
//! Sending such a write again is not safe either: the attempt without an
//! answer may land later, after its resend was answered and after other
//! writes, and apply a second time (a put of an item deleted since, an
//! increment counted twice). [`NoResendAfterSilence`], a retry classifier
//! every table's client also carries, stops the SDK's retries of a write
//! after such an attempt, unless the write says a copy landing late is
//! harmless (a transaction, which DynamoDB recognises by its token).

use std::cell::Cell;
use std::error::Error as StdError;
use std::fmt;
use std::future::Future;

use aws_sdk_dynamodb::config::interceptors::{FinalizerInterceptorContextRef, InterceptorContext};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{Error as InterceptorError, Output};
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::retries::classifiers::{
    ClassifyRetry, RetryAction, RetryClassifierPriority,
};

use crate::error::{from_sdk, Error, HttpStatus};

/// What one watched request notes and allows.
struct Watch {
    /// One of its attempts ended without a definitive answer.
    uncertain: Cell<bool>,
    /// What the SDK may do after such an attempt.
    resend: Resend,
}

tokio::task_local! {
    static WATCH: Watch;
}

/// Whether a write may be sent again by the SDK after an attempt that ended
/// without a definitive answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resend {
    /// Yes: a copy that lands late changes nothing (a transaction and its
    /// token, which DynamoDB recognises for 10 minutes).
    Always,
    /// No: the write is reported [unknown](crate::Error::OutcomeUnknown)
    /// (or settled by reading it), never sent twice.
    NotAfterSilence,
}

/// Runs `send` (one request of this crate) and says whether one of its
/// attempts ended without a definitive answer: a request that may have
/// been applied although its answer says otherwise, or says nothing.
///
/// The SDK's future for one request takes kilobytes; it is boxed here, so
/// that the futures of this crate and of its callers, which hold it across
/// an `await`, stay small and are not copied whole each time they move.
pub(crate) async fn watched<F: Future>(send: F, resend: Resend) -> (F::Output, bool) {
    let watch = Watch {
        uncertain: Cell::new(false),
        resend,
    };
    let send = Box::pin(send);
    WATCH
        .scope(watch, async {
            let output = send.await;
            (output, WATCH.with(|watch| watch.uncertain.get()))
        })
        .await
}

/// Whether an attempt that ended with `output` (and the HTTP `status` of
/// its answer, if any) ended without a definitive answer.
fn silent_attempt(
    output: Option<Result<&Output, &OrchestratorError<InterceptorError>>>,
    status: Option<u16>,
) -> bool {
    let Some(Err(error)) = output else {
        return false;
    };
    let definitive = if let Some(connector) = error.as_connector_error() {
        refused_before_sending(connector)
    } else if error.is_operation_error() {
        status.is_none_or(status_is_definitive)
    } else {
        // A timeout, an answer that could not be read, or a failure of
        // the client's own machinery after the request was built.
        false
    };
    !definitive
}

/// The SDK interceptor that marks an attempt without a definitive answer
/// for [`watched`]. Outside `watched` (a request a user sends through
/// [`Table::client`](crate::Table::client)), it does nothing.
#[derive(Debug)]
pub(crate) struct AttemptWatch;

impl Intercept for AttemptWatch {
    fn name(&self) -> &'static str {
        "dynago::AttemptWatch"
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let status = context
            .response()
            .map(|response| response.status().as_u16());
        if silent_attempt(context.output_or_error(), status) {
            let _ = WATCH.try_with(|watch| watch.uncertain.set(true));
        }
        Ok(())
    }
}

/// The SDK retry classifier that forbids sending a watched write again
/// after an attempt that ended without a definitive answer, unless the
/// write allows it ([`Resend::Always`]). It runs after the SDK's own
/// classifiers, and has no say on anything else.
#[derive(Debug)]
pub(crate) struct NoResendAfterSilence;

impl ClassifyRetry for NoResendAfterSilence {
    fn classify_retry(&self, context: &InterceptorContext) -> RetryAction {
        let status = context
            .response()
            .map(|response| response.status().as_u16());
        let forbidden = WATCH
            .try_with(|watch| watch.resend == Resend::NotAfterSilence)
            .unwrap_or(false)
            && silent_attempt(context.output_or_error(), status);
        if forbidden {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "dynago::NoResendAfterSilence"
    }

    fn priority(&self) -> RetryClassifierPriority {
        RetryClassifierPriority::run_after(RetryClassifierPriority::transient_error_classifier())
    }
}

/// Whether an SDK error proves that the request was not applied: DynamoDB
/// answered with an error other than a server failure, or the request was
/// never sent (it could not be built, or no connection was made).
fn is_definitive<E, R>(error: &SdkError<E, R>) -> bool
where
    SdkError<E, R>: HttpStatus,
{
    match error {
        SdkError::ConstructionFailure(_) => true,
        SdkError::DispatchFailure(failure) => failure
            .as_connector_error()
            .is_some_and(refused_before_sending),
        SdkError::ServiceError(_) => error.http_status().is_none_or(status_is_definitive),
        // A timeout or an answer that could not be read.
        _ => false,
    }
}

/// Turns the SDK error of a write into [`Error`]: an
/// [`Error::OutcomeUnknown`] when the write may have been applied, because
/// this error or an earlier attempt's (`uncertain`) gave no definitive
/// answer.
pub(crate) fn from_sdk_write<E, R>(
    table: &str,
    operation: &'static str,
    err: SdkError<E, R>,
    uncertain: bool,
) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: fmt::Debug + Send + Sync + 'static,
    SdkError<E, R>: HttpStatus,
{
    let uncertain = uncertain || !is_definitive(&err);
    from_sdk(table, operation, err).unless_uncertain(uncertain, table, operation)
}

/// An error answer that proves the request was not applied: every status
/// but a server's own failure (500) and a gateway's (502, 504: it may have
/// passed the request on), after which DynamoDB may have applied it. A 503
/// (service unavailable) refuses the request before it is processed.
fn status_is_definitive(status: u16) -> bool {
    !matches!(status, 500 | 502 | 504)
}

/// A connection that was never made (refused, or a name that does not
/// resolve): the request did not leave the client. Any other connection
/// error may have come after the request left.
fn refused_before_sending(error: &ConnectorError) -> bool {
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::AddrNotAvailable
            );
        }
        source = current.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_failures_and_gateway_timeouts_leave_the_outcome_open() {
        for status in [500, 502, 504] {
            assert!(!status_is_definitive(status), "{status}");
        }
        for status in [400, 403, 413, 503] {
            assert!(status_is_definitive(status), "{status}");
        }
    }

    #[test]
    fn only_a_refused_connection_proves_nothing_was_sent() {
        let refused = ConnectorError::io(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused,
        )));
        assert!(refused_before_sending(&refused));
        let reset = ConnectorError::io(Box::new(std::io::Error::from(
            std::io::ErrorKind::ConnectionReset,
        )));
        assert!(!refused_before_sending(&reset));
        let timeout = ConnectorError::timeout("read timed out".into());
        assert!(!refused_before_sending(&timeout));
    }

    #[tokio::test]
    async fn a_watched_request_reports_what_its_attempts_noted() {
        let ((), uncertain) = watched(async {}, Resend::Always).await;
        assert!(!uncertain);
        let ((), uncertain) = watched(
            async {
                let _ = WATCH.try_with(|watch| watch.uncertain.set(true));
            },
            Resend::NotAfterSilence,
        )
        .await;
        assert!(uncertain);
    }
}
