//! The embedded emulator, served on a loopback port from its own thread.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::mpsc;

use tokio::sync::oneshot;

use crate::error::{Error, Result};

/// An in-memory emulator served over HTTP on `127.0.0.1`.
///
/// It runs on a thread of its own with its own runtime, so that it outlives
/// the runtime of whoever started it (each `#[tokio::test]` has one) and
/// serves any number of them. Dropping the handle stops it.
#[derive(Debug)]
pub(crate) struct EmbeddedServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl EmbeddedServer {
    /// Starts it in memory, or on the SQLite file `path`.
    pub(crate) fn start(path: Option<PathBuf>) -> Result<Self> {
        let (ready_tx, ready_rx) = mpsc::channel::<std::io::Result<SocketAddr>>();
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("dynago-embedded-dynamodb".into())
            .spawn(move || serve(path, ready_tx, shutdown_rx))
            .map_err(|source| Error::Start {
                what: "the embedded DynamoDB thread",
                source,
            })?;
        let addr = ready_rx
            .recv()
            .map_err(|_| Error::Start {
                what: "the embedded DynamoDB",
                source: std::io::Error::other("its thread ended before it was listening"),
            })?
            .map_err(|source| Error::Start {
                what: "the embedded DynamoDB",
                source,
            })?;
        Ok(Self {
            addr,
            shutdown: Some(shutdown_tx),
        })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

fn serve(
    path: Option<PathBuf>,
    ready: mpsc::Sender<std::io::Result<SocketAddr>>,
    shutdown: oneshot::Receiver<()>,
) {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("dynago-embedded-dynamodb")
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    runtime.block_on(async move {
        let opened = match &path {
            None => dynoxide::Database::memory(),
            Some(path) => dynoxide::Database::new(&path.to_string_lossy()),
        };
        let database = match opened {
            Ok(database) => database,
            Err(e) => {
                let _ = ready.send(Err(std::io::Error::other(e.to_string())));
                return;
            }
        };
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(listener) => listener,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        match listener.local_addr() {
            Ok(addr) => {
                let _ = ready.send(Ok(addr));
            }
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        }
        let stop = async move {
            // A dropped sender stops the server too.
            let _ = shutdown.await;
        };
        if let Err(error) = dynoxide::server::serve_with_shutdown(listener, database, stop).await {
            tracing::error!(%error, "the embedded DynamoDB stopped");
        }
    });
}

impl Drop for EmbeddedServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
