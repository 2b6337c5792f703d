//! The answers the proxy gives itself, in DynamoDB's shape: the errors of
//! [`FaultPlan::throttle`](crate::FaultPlan::throttle),
//! [`FaultPlan::fail`](crate::FaultPlan::fail) and
//! [`FaultPlan::replicated_write_conflict`](crate::FaultPlan::replicated_write_conflict).

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderValue};
use hyper::{Response, StatusCode};

/// The error answer a [`FaultPlan::throttle`](crate::FaultPlan::throttle)
/// fault gives instead of forwarding the request.
///
/// ```
/// use dynago_local::Throttle;
///
/// assert_eq!(Throttle::Throttling.status(), 400);
/// assert_eq!(Throttle::Throttling.error_type(), "ThrottlingException");
/// assert_eq!(Throttle::ServiceUnavailable.status(), 503);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Throttle {
    /// HTTP 400 `ProvisionedThroughputExceededException`: the table's
    /// provisioned capacity is exhausted.
    #[default]
    ProvisionedThroughputExceeded,
    /// HTTP 400 `ThrottlingException`: requests come too fast (control
    /// plane, on-demand limits).
    Throttling,
    /// HTTP 500 `InternalServerError`.
    InternalServerError,
    /// HTTP 503 `ServiceUnavailable`.
    ServiceUnavailable,
}

impl Throttle {
    /// The HTTP status of the answer.
    ///
    /// ```
    /// assert_eq!(dynago_local::Throttle::InternalServerError.status(), 500);
    /// ```
    pub fn status(self) -> u16 {
        match self {
            Throttle::ProvisionedThroughputExceeded | Throttle::Throttling => 400,
            Throttle::InternalServerError => 500,
            Throttle::ServiceUnavailable => 503,
        }
    }

    /// The error type of the answer, as the SDK reports it in
    /// `ProvideErrorMetadata::code`.
    ///
    /// ```
    /// assert_eq!(
    ///     dynago_local::Throttle::ProvisionedThroughputExceeded.error_type(),
    ///     "ProvisionedThroughputExceededException"
    /// );
    /// ```
    pub fn error_type(self) -> &'static str {
        match self {
            Throttle::ProvisionedThroughputExceeded => "ProvisionedThroughputExceededException",
            Throttle::Throttling => "ThrottlingException",
            Throttle::InternalServerError => "InternalServerError",
            Throttle::ServiceUnavailable => "ServiceUnavailable",
        }
    }

    fn message(self) -> &'static str {
        match self {
            Throttle::ProvisionedThroughputExceeded => {
                "The level of configured provisioned throughput for the table was exceeded (injected by dynago-local's FaultProxy)"
            }
            Throttle::Throttling => {
                "Rate of requests exceeds the allowed throughput (injected by dynago-local's FaultProxy)"
            }
            Throttle::InternalServerError => {
                "Internal server error (injected by dynago-local's FaultProxy)"
            }
            Throttle::ServiceUnavailable => {
                "Service unavailable (injected by dynago-local's FaultProxy)"
            }
        }
    }

    pub(super) fn response(self) -> Response<Full<Bytes>> {
        error_response(self.status(), self.error_type(), self.message(), "throttle")
    }
}

/// The error answer a [`FaultPlan::fail`](crate::FaultPlan::fail) fault
/// gives instead of forwarding the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Failure {
    pub(super) status: u16,
    pub(super) error_type: String,
}

impl Failure {
    pub(super) fn response(&self) -> Response<Full<Bytes>> {
        let message = format!("{} injected by the fault proxy", self.error_type);
        error_response(self.status, &self.error_type, &message, "fail")
    }
}

/// The error type of a write refused because a request in another Region
/// was modifying its item (a global table of multi-Region strong
/// consistency).
const REPLICATED_WRITE_CONFLICT: &str = "ReplicatedWriteConflictException";

/// The answer of a
/// [`FaultPlan::replicated_write_conflict`](crate::FaultPlan::replicated_write_conflict)
/// fault: HTTP 400 `ReplicatedWriteConflictException`, with the API
/// reference's description of the error as its message.
pub(super) fn replicated_write_conflict() -> Response<Full<Bytes>> {
    error_response(
        400,
        REPLICATED_WRITE_CONFLICT,
        "The request was rejected because one or more items in the request are being modified by a request in another Region. (injected by dynago-local's FaultProxy)",
        "replicated_write_conflict",
    )
}

/// The header that marks an answer made up by the proxy; its value names
/// the fault.
const FAULT_HEADER: &str = "x-dynago-fault";

/// An error answer as DynamoDB gives it: the HTTP `status` (400 when it is
/// not one), the JSON body
/// `{"__type":"com.amazonaws.dynamodb.v20120810#<error_type>","message":"<message>"}`
/// and the header `x-amzn-ErrorType: <error_type>` (left out when
/// `error_type` cannot be a header value); the SDK reads the error's code
/// from either.
fn error_response(
    status: u16,
    error_type: &str,
    message: &str,
    fault: &'static str,
) -> Response<Full<Bytes>> {
    let body = serde_json::json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{error_type}"),
        "message": message,
    });
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    headers.insert(
        "x-amzn-requestid",
        HeaderValue::from_static("dynago-fault-proxy"),
    );
    if let Ok(error_type) = HeaderValue::from_str(error_type) {
        headers.insert("x-amzn-errortype", error_type);
    }
    headers.insert(FAULT_HEADER, HeaderValue::from_static(fault));
    response
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    fn header<'a>(response: &'a Response<Full<Bytes>>, name: &str) -> Option<&'a str> {
        response
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    }

    async fn body(response: Response<Full<Bytes>>) -> String {
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("a full body")
            .to_bytes();
        String::from_utf8(bytes.to_vec()).expect("UTF-8")
    }

    #[tokio::test]
    async fn errors_are_answered_in_dynamodbs_shape() {
        let throttled = Throttle::Throttling.response();
        assert_eq!(throttled.status(), 400);
        assert_eq!(
            header(&throttled, "content-type"),
            Some("application/x-amz-json-1.0")
        );
        assert_eq!(
            header(&throttled, "x-amzn-ErrorType"),
            Some("ThrottlingException")
        );
        assert_eq!(header(&throttled, FAULT_HEADER), Some("throttle"));
        assert_eq!(
            body(throttled).await,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ThrottlingException","message":"Rate of requests exceeds the allowed throughput (injected by dynago-local's FaultProxy)"}"#
        );

        let expired = Failure {
            status: 400,
            error_type: "ExpiredIteratorException".into(),
        }
        .response();
        assert_eq!(expired.status(), 400);
        assert_eq!(
            header(&expired, "content-type"),
            Some("application/x-amz-json-1.0")
        );
        assert_eq!(
            header(&expired, "x-amzn-ErrorType"),
            Some("ExpiredIteratorException")
        );
        assert_eq!(header(&expired, FAULT_HEADER), Some("fail"));
        assert_eq!(
            body(expired).await,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ExpiredIteratorException","message":"ExpiredIteratorException injected by the fault proxy"}"#
        );

        let conflict = replicated_write_conflict();
        assert_eq!(conflict.status(), 400);
        assert_eq!(
            header(&conflict, "x-amzn-ErrorType"),
            Some("ReplicatedWriteConflictException")
        );
        assert_eq!(
            header(&conflict, FAULT_HEADER),
            Some("replicated_write_conflict")
        );
        assert_eq!(
            body(conflict).await,
            r#"{"__type":"com.amazonaws.dynamodb.v20120810#ReplicatedWriteConflictException","message":"The request was rejected because one or more items in the request are being modified by a request in another Region. (injected by dynago-local's FaultProxy)"}"#
        );

        // A status that is not one is sent as 400; an error type that
        // cannot be a header value goes in the body only, escaped.
        let odd = Failure {
            status: 42,
            error_type: "Odd\"\nType".into(),
        }
        .response();
        assert_eq!(odd.status(), 400);
        assert_eq!(header(&odd, "x-amzn-ErrorType"), None);
        let odd: serde_json::Value = serde_json::from_str(&body(odd).await).expect("JSON");
        assert_eq!(
            odd["__type"],
            "com.amazonaws.dynamodb.v20120810#Odd\"\nType"
        );
        assert_eq!(odd["message"], "Odd\"\nType injected by the fault proxy");
    }
}
