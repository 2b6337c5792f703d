//! A loopback server speaking the AWS Lambda Runtime API, to run a real
//! Lambda function binary in a test: the test hands it invocations and
//! collects its answers.
//!
//! ```no_run
//! # async fn run() {
//! use dynago_local::testing::lambda::{Answer, RuntimeApi};
//!
//! let api = RuntimeApi::start().await;
//! let mut function = std::process::Command::new("target/debug/my-function");
//! function.envs(api.environment("my-function"));
//! let mut child = function.spawn().expect("the function starts");
//! let answer = api.invoke(serde_json::json!({"Records": []})).await;
//! assert!(matches!(answer, Answer::Response(_)));
//! child.kill().expect("stopped");
//! # }
//! ```

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// What the function answered to one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// It returned this (`POST .../response`).
    Response(serde_json::Value),
    /// It failed with this (`POST .../error`, or `POST /runtime/init/error`
    /// before taking the invocation).
    Error(serde_json::Value),
}

struct Invocation {
    id: String,
    event: serde_json::Value,
}

#[derive(Default)]
struct State {
    /// The invocations waiting for the function's answer.
    pending: HashMap<String, oneshot::Sender<Answer>>,
    /// An error the function reported while starting.
    init_error: Option<serde_json::Value>,
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::Receiver<Invocation>>,
    state: Mutex<State>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The Runtime API on a loopback port. Dropping it stops the server.
pub struct RuntimeApi {
    address: String,
    invocations: mpsc::Sender<Invocation>,
    shared: Arc<Shared>,
    next_id: AtomicU64,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl RuntimeApi {
    /// Starts the server on a free loopback port.
    ///
    /// # Panics
    ///
    /// When no loopback port can be bound.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the Lambda Runtime API");
        let address = listener
            .local_addr()
            .expect("the port's address")
            .to_string();
        let (invocations, queue) = mpsc::channel(64);
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(queue),
            state: Mutex::new(State::default()),
        });
        let server = tokio::spawn(serve(listener, Arc::clone(&shared)));
        Self {
            address,
            invocations,
            shared,
            next_id: AtomicU64::new(1),
            server,
        }
    }

    /// `host:port`, the value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The environment Lambda gives a function named `function`, pointing
    /// at this server.
    pub fn environment(&self, function: &str) -> Vec<(String, String)> {
        [
            ("AWS_LAMBDA_RUNTIME_API", self.address.as_str()),
            ("AWS_LAMBDA_FUNCTION_NAME", function),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
            ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/test"),
            ("AWS_LAMBDA_LOG_STREAM_NAME", "test"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Hands `event` to the function (its next `GET .../invocation/next`)
    /// and waits for its answer, at most 120 s.
    ///
    /// # Panics
    ///
    /// When the function does not answer in time (or the server stopped).
    pub async fn invoke(&self, event: serde_json::Value) -> Answer {
        let id = format!("request-{}", self.next_id.fetch_add(1, Ordering::Relaxed));
        let (answer, answered) = oneshot::channel();
        lock(&self.shared.state).pending.insert(id.clone(), answer);
        self.invocations
            .send(Invocation { id, event })
            .await
            .expect("the Runtime API server runs");
        match tokio::time::timeout(Duration::from_secs(120), answered).await {
            Ok(Ok(answer)) => answer,
            _ => match lock(&self.shared.state).init_error.clone() {
                Some(error) => Answer::Error(error),
                None => panic!("the function did not answer within 120 s"),
            },
        }
    }
}

async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    while let Ok((stream, _)) = listener.accept().await {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, hyper::Error>(route(request, &shared).await) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

fn answer(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    response
}

async fn route(request: Request<Incoming>, shared: &Shared) -> Response<Full<Bytes>> {
    const PREFIX: &str = "/2018-06-01/runtime/";
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let body = match request.into_body().collect().await {
        Ok(body) => body.to_bytes(),
        Err(_) => return answer(StatusCode::BAD_REQUEST, "unreadable body"),
    };
    let json = || serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    let Some(rest) = path.strip_prefix(PREFIX) else {
        return answer(StatusCode::NOT_FOUND, "not a Runtime API path");
    };
    match (method, rest.split('/').collect::<Vec<_>>().as_slice()) {
        (Method::GET, ["invocation", "next"]) => {
            let Some(invocation) = shared.queue.lock().await.recv().await else {
                return answer(StatusCode::GONE, "no more invocations");
            };
            let deadline = now_ms() + 60_000;
            let mut response = answer(StatusCode::OK, invocation.event.to_string());
            let headers = response.headers_mut();
            for (name, value) in [
                ("lambda-runtime-aws-request-id", invocation.id.clone()),
                ("lambda-runtime-deadline-ms", deadline.to_string()),
                (
                    "lambda-runtime-invoked-function-arn",
                    "arn:aws:lambda:us-east-1:000000000000:function:test".to_owned(),
                ),
                (
                    "lambda-runtime-trace-id",
                    "Root=1-00000000-000000000000000000000000".to_owned(),
                ),
                ("content-type", "application/json".to_owned()),
            ] {
                if let Ok(value) = hyper::header::HeaderValue::from_str(&value) {
                    headers.insert(name, value);
                }
            }
            response
        }
        (Method::POST, ["invocation", id, kind @ ("response" | "error")]) => {
            let value = json();
            let result = if *kind == "response" {
                Answer::Response(value)
            } else {
                Answer::Error(value)
            };
            match lock(&shared.state).pending.remove(*id) {
                Some(waiting) => {
                    let _ = waiting.send(result);
                    answer(StatusCode::ACCEPTED, "{\"status\":\"OK\"}")
                }
                None => answer(StatusCode::BAD_REQUEST, "no such invocation"),
            }
        }
        (Method::POST, ["init", "error"]) => {
            lock(&shared.state).init_error = Some(json());
            answer(StatusCode::ACCEPTED, "{\"status\":\"OK\"}")
        }
        _ => answer(StatusCode::NOT_FOUND, "unknown Runtime API call"),
    }
}

/// Milliseconds since the epoch.
fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}
