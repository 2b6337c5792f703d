//! The proxy's side towards DynamoDB: the client that reaches the
//! upstream, a request as it goes there, the headers it carries, and the
//! count of requests that could not be forwarded.

use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::{self, HeaderMap};
use hyper::{Method, Request, Uri};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;

use super::state::Shared;

/// The HTTP client that forwards requests to the upstream DynamoDB.
pub(super) type Upstreams = Client<HttpConnector, Full<Bytes>>;

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

/// Copies the headers that are not about one connection; the length is
/// set again from the body.
pub(super) fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    for (name, value) in from {
        let hop_by_hop = name == header::CONNECTION
            || name == header::CONTENT_LENGTH
            || name == header::TRANSFER_ENCODING
            || name == header::TE
            || name == header::TRAILER
            || name == header::UPGRADE
            || name == header::PROXY_AUTHORIZATION
            || name == header::PROXY_AUTHENTICATE
            || name.as_str() == "keep-alive";
        if !hop_by_hop {
            to.append(name.clone(), value.clone());
        }
    }
}

/// Counts a request that could not be forwarded.
pub(super) fn upstream_failed(shared: &Shared, error: &dyn std::error::Error) {
    shared.lock().stats.upstream_errors += 1;
    tracing::debug!(%error, "fault proxy: upstream failed");
}
