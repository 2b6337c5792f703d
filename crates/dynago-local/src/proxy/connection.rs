//! Serving the proxy's connections: each request decided, disturbed,
//! forwarded, and its answer passed back, rewritten or dropped.

use std::fmt;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::{self, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::answer;
use super::batch::{add_unprocessed, split_batch};
use super::delivery::{deliver_in_background, Delivery};
use super::permissions::permissions_of;
use super::plan::operation_name;
use super::state::{Action, Shared};
use super::stats::reads_of;
use super::streams;
use super::upstream::{copy_end_to_end, upstream_failed, Outgoing, Upstreams};

/// Accepts connections until told to stop (or the handle is gone).
pub(super) async fn serve(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut shutdown: oneshot::Receiver<()>,
) {
    let client: Upstreams = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .build_http();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    shared.lock().stats.connections += 1;
                    tokio::spawn(connection(
                        stream,
                        client.clone(),
                        Arc::clone(&shared),
                    ));
                }
                Err(error) => {
                    // Out of descriptors and the like: wait a little.
                    tracing::debug!(%error, "fault proxy: accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
    tracing::debug!("fault proxy stopped");
}

/// Serves one client connection, request after request.
async fn connection(stream: TcpStream, client: Upstreams, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let reset = Arc::new(AtomicBool::new(false));
    let io = TokioIo::new(FaultStream {
        inner: stream,
        reset: Arc::clone(&reset),
    });
    let service = hyper::service::service_fn(move |request| {
        handle(
            request,
            client.clone(),
            Arc::clone(&shared),
            Arc::clone(&reset),
        )
    });
    if let Err(error) = hyper::server::conn::http1::Builder::new()
        .keep_alive(true)
        .serve_connection(io, service)
        .await
    {
        tracing::trace!(%error, "fault proxy: connection ended");
    }
}

/// Why the proxy ends a connection without answering.
#[derive(Debug)]
struct Abort(&'static str);

impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Abort {}

/// One request: faults first, then forwarding.
async fn handle(
    request: Request<Incoming>,
    client: Upstreams,
    shared: Arc<Shared>,
    reset: Arc<AtomicBool>,
) -> std::result::Result<Response<Full<Bytes>>, Abort> {
    let operation = request
        .headers()
        .get("x-amz-target")
        .and_then(|value| value.to_str().ok())
        .map(|target| operation_name(target).to_owned());
    let decision = shared.lock().decide(operation.as_deref());
    if let Some(delay) = decision.delay {
        tokio::time::sleep(delay).await;
    }
    if decision.action == Action::Reset {
        // The stream sends a TCP reset when hyper drops it after this error.
        reset.store(true, Ordering::SeqCst);
        return Err(Abort("connection reset by the fault proxy"));
    }
    let (parts, body) = request.into_parts();
    // Read the whole body, also when it is not forwarded: the connection
    // stays usable for the next request.
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => return Err(Abort("the client's request body could not be read")),
    };
    let reads = reads_of(operation.as_deref(), &body);
    // The stream a shard iterator in the answer will be on.
    let mut stream = None;
    {
        let mut state = shared.lock();
        state.reads.extend(reads);
        if let Some(operation) = operation.as_deref() {
            let asked = permissions_of(operation, &body, &state.iterators);
            if matches!(operation, "GetShardIterator" | "GetRecords") {
                stream = asked.first().map(|permission| permission.resource.clone());
            }
            state.permissions.extend(asked);
        }
    }
    if let Action::Throttle(kind) = decision.action {
        return Ok(kind.response());
    }
    if let Action::Fail(failure) = &decision.action {
        return Ok(failure.response());
    }
    if decision.action == Action::ReplicatedWriteConflict {
        return Ok(answer::replicated_write_conflict());
    }
    let body = if decision.strip_token {
        match strip_client_request_token(&body) {
            Some(stripped) => {
                shared.lock().stats.tokens_stripped += 1;
                stripped
            }
            None => body,
        }
    } else {
        body
    };
    if let Action::Hold(delay) = decision.action {
        shared.lock().stats.held += 1;
        tracing::debug!(
            operation = operation.as_deref().unwrap_or("?"),
            ?delay,
            "fault proxy: holding the request"
        );
        let outgoing = Outgoing {
            method: parts.method,
            uri: parts.uri,
            headers: parts.headers,
            body,
        };
        // Not in this future: hyper drops it when the client hangs up.
        deliver_in_background(client, Arc::clone(&shared), outgoing, Delivery::Late(delay));
        tokio::time::sleep(delay).await;
        return Err(Abort("request held by the fault proxy"));
    }
    if decision.split_shards {
        if let Some(answer) = streams::parent_answer(operation.as_deref(), &body) {
            let mut response = Response::new(Full::new(answer));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/x-amz-json-1.0"),
            );
            return Ok(response);
        }
    }
    let split = if decision.action == Action::Unprocessed {
        split_batch(operation.as_deref(), &body)
    } else {
        None
    };
    let body = match &split {
        Some(split) => {
            let mut state = shared.lock();
            state.stats.partial_batches += 1;
            state.stats.held_back += split.count;
            split.forward.clone()
        }
        None => body,
    };
    let outgoing = Outgoing {
        method: parts.method,
        uri: parts.uri,
        headers: parts.headers,
        body,
    };
    // Read now, after any delay: a request forwarded after
    // `FaultProxy::set_upstream` goes to the new upstream.
    let forward = match outgoing.request(&shared) {
        Ok(forward) => forward,
        Err(error) => return Ok(bad_gateway(&shared, &error)),
    };
    shared.lock().stats.forwarded += 1;
    let answer = match client.request(forward).await {
        Ok(answer) => answer,
        Err(error) => return Ok(bad_gateway(&shared, &error)),
    };
    if decision.action == Action::Duplicate {
        // The first answer came: DynamoDB has applied the request once.
        deliver_in_background(client, Arc::clone(&shared), outgoing, Delivery::Again);
    }
    let (parts, body) = answer.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => return Ok(bad_gateway(&shared, &error)),
    };
    let body = if decision.patches.is_empty() || !parts.status.is_success() {
        body
    } else {
        patch_answer(body, &decision.patches)
    };
    let (body, rewritten) = match split {
        Some(split) if parts.status.is_success() => {
            match add_unprocessed(operation.as_deref(), &body, split.held_back) {
                Some(answer) => (answer, true),
                None => (body, false),
            }
        }
        _ => (body, false),
    };
    if let (Some(stream), Some(operation), true) =
        (stream, operation.as_deref(), parts.status.is_success())
    {
        shared.lock().iterators.handed_out(operation, &body, stream);
    }
    let stream_answer = match operation.as_deref() {
        _ if !parts.status.is_success() => None,
        Some("DescribeStream") if decision.split_shards => streams::add_parents(&body),
        Some("GetRecords") => decision
            .shuffle_seed
            .and_then(|seed| streams::shuffle_records(&body, seed)),
        _ => None,
    };
    let (body, rewritten) = match stream_answer {
        Some(answer) => (answer, true),
        None => (body, rewritten),
    };
    if decision.action == Action::DropAnswer {
        shared.lock().stats.dropped_answers += 1;
        tracing::debug!(
            operation = operation.as_deref().unwrap_or("?"),
            status = parts.status.as_u16(),
            "fault proxy: dropping the answer"
        );
        return Err(Abort("answer dropped by the fault proxy"));
    }
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = parts.status;
    copy_end_to_end(&parts.headers, response.headers_mut());
    if rewritten || !decision.patches.is_empty() {
        // The checksum was of the body before the patch.
        response.headers_mut().remove("x-amz-crc32");
    }
    Ok(response)
}

/// The JSON answer `body` with `patches` merged into it (as it was when it
/// is not a JSON object).
fn patch_answer(body: Bytes, patches: &[serde_json::Value]) -> Bytes {
    fn merge(into: &mut serde_json::Value, patch: &serde_json::Value) {
        match (into, patch) {
            (serde_json::Value::Object(into), serde_json::Value::Object(patch)) => {
                for (name, value) in patch {
                    match into.get_mut(name) {
                        Some(existing) if existing.is_object() && value.is_object() => {
                            merge(existing, value);
                        }
                        _ => {
                            into.insert(name.clone(), value.clone());
                        }
                    }
                }
            }
            (into, patch) => *into = patch.clone(),
        }
    }
    let Ok(mut answer) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return body;
    };
    if !answer.is_object() {
        return body;
    }
    for patch in patches {
        merge(&mut answer, patch);
    }
    serde_json::to_vec(&answer).map_or(body, Bytes::from)
}

/// The JSON request `body` without its `ClientRequestToken`; `None` when
/// it has none (or is not a JSON object).
fn strip_client_request_token(body: &Bytes) -> Option<Bytes> {
    const TOKEN: &str = "ClientRequestToken";
    if !body.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()) {
        return None;
    }
    let mut request: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(body).ok()?;
    request.remove(TOKEN)?;
    serde_json::to_vec(&request).ok().map(Bytes::from)
}

fn bad_gateway(shared: &Shared, error: &dyn std::error::Error) -> Response<Full<Bytes>> {
    upstream_failed(shared, error);
    let mut response = Response::new(Full::new(Bytes::from(format!(
        "the fault proxy could not reach DynamoDB: {error}"
    ))));
    *response.status_mut() = StatusCode::BAD_GATEWAY;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A client connection that can be made to end with a reset.
struct FaultStream {
    inner: TcpStream,
    reset: Arc<AtomicBool>,
}

impl Drop for FaultStream {
    fn drop(&mut self) {
        if self.reset.load(Ordering::SeqCst) {
            // A zero linger turns the close into a TCP RST.
            let _ = self.inner.set_zero_linger();
        }
    }
}

impl AsyncRead for FaultStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for FaultStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_only_the_token() {
        let body = Bytes::from_static(
            br#"{"TransactItems":[{"Put":{"Item":{"pk":{"S":"ClientRequestToken"}}}}],"ClientRequestToken":"t-1"}"#,
        );
        let stripped = strip_client_request_token(&body).expect("a token");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&stripped).expect("json"),
            serde_json::json!({"TransactItems":[{"Put":{"Item":{"pk":{"S":"ClientRequestToken"}}}}]})
        );
        assert_eq!(strip_client_request_token(&stripped), None);
        assert_eq!(
            strip_client_request_token(&Bytes::from_static(b"ClientRequestToken, not json")),
            None
        );
    }

    #[test]
    fn answers_are_patched_by_merging() {
        let body = Bytes::from_static(
            br#"{"Table":{"TableName":"t","KeySchema":[{"AttributeName":"pk","KeyType":"HASH"}]}}"#,
        );
        let patched = patch_answer(
            body,
            &[serde_json::json!({"Table": {"Replicas": [{"RegionName": "eu-west-1"}]}})],
        );
        let answer: serde_json::Value = serde_json::from_slice(&patched).expect("json");
        assert_eq!(answer["Table"]["TableName"], "t");
        assert_eq!(answer["Table"]["KeySchema"][0]["AttributeName"], "pk");
        assert_eq!(answer["Table"]["Replicas"][0]["RegionName"], "eu-west-1");
        // Not JSON: passed as it is.
        assert_eq!(
            patch_answer(Bytes::from_static(b"nope"), &[serde_json::json!({"a": 1})]),
            Bytes::from_static(b"nope")
        );
    }
}
