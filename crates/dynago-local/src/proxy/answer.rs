//! The answers the proxy gives itself, in DynamoDB's shape: the errors of
//! [`FaultPlan::throttle`](crate::FaultPlan::throttle).

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

    /// The JSON body DynamoDB answers with.
    fn body(self) -> String {
        format!(
            r#"{{"__type":"com.amazonaws.dynamodb.v20120810#{}","message":"{}"}}"#,
            self.error_type(),
            self.message()
        )
    }

    pub(super) fn response(self) -> Response<Full<Bytes>> {
        let mut response = Response::new(Full::new(Bytes::from(self.body())));
        *response.status_mut() =
            StatusCode::from_u16(self.status()).unwrap_or(StatusCode::BAD_REQUEST);
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/x-amz-json-1.0"),
        );
        headers.insert(
            "x-amzn-requestid",
            HeaderValue::from_static("dynago-fault-proxy"),
        );
        headers.insert(FAULT_HEADER, HeaderValue::from_static("throttle"));
        response
    }
}

/// The header that marks an answer made up by the proxy.
const FAULT_HEADER: &str = "x-dynago-fault";
