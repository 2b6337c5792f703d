//! `ledger explore`: the explorer on the ledger's table, and the
//! projectors that keep what it shows.

use std::net::SocketAddr;

use anyhow::Context;
use dynago_explorer::ExplorerOptions;
use dynago_projections::EventStream;
use ledger::views::ReadSide;

use crate::backend::Connected;

/// How the explorer runs.
#[derive(Debug, Clone)]
pub(crate) struct Shape {
    pub(crate) bind: SocketAddr,
    pub(crate) seed: bool,
    pub(crate) actions: bool,
    pub(crate) project: bool,
    pub(crate) metrics: Option<SocketAddr>,
    /// Names the explorer is reached by, besides localhost and the bound
    /// address.
    pub(crate) hosts: Vec<String>,
}

/// The variable that holds the actions' token.
const TOKEN_VARIABLE: &str = "LEDGER_EXPLORER_TOKEN";

/// How many accounts `--seed` writes.
const SEEDED: u32 = 12;

pub(crate) async fn run(
    connected: &Connected,
    read_side: &ReadSide,
    shape: &Shape,
) -> anyhow::Result<()> {
    let ledger = &connected.ledger;
    if let Some(address) = shape.metrics {
        ledger::metrics::serve_prometheus(address)
            .with_context(|| format!("cannot serve the metrics on {address}"))?;
        println!("metrics in Prometheus's format at http://{address}/metrics");
    }
    if shape.seed {
        let currency = "EUR".parse().context("the demo's currency")?;
        let applied = ledger::explorer::seed(ledger, SEEDED, &currency).await?;
        println!(
            "seeded: {applied} commands applied ({SEEDED} accounts, those open already left alone)"
        );
    }
    let mut options = ExplorerOptions::default();
    if !shape.bind.ip().is_unspecified() {
        options = options.allow_host(shape.bind.ip().to_string());
    }
    for host in &shape.hosts {
        options = options.allow_host(host.clone());
    }
    let token = if shape.actions {
        let token = std::env::var(TOKEN_VARIABLE)
            .ok()
            .filter(|token| !token.is_empty())
            .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
        options = options.actions(token.clone());
        Some(token)
    } else {
        None
    };
    let explorer = ledger::explorer::explorer(ledger, read_side, options)?;
    let listener = tokio::net::TcpListener::bind(shape.bind)
        .await
        .with_context(|| format!("cannot listen on {}", shape.bind))?;
    let address = listener.local_addr()?;
    println!("explorer at http://{address}/ (Ctrl-C stops)");
    match &token {
        Some(token) => {
            println!("actions enabled: log in at http://{address}/login with the token {token}")
        }
        None => println!("read-only (--actions lets a visitor with a token replay parked events)"),
    }
    if !shape.bind.ip().is_loopback() {
        eprintln!(
            "warning: listening on {} lets anyone who reaches it read every account (it answers requests addressed to localhost, that address, and --allow-host names)",
            shape.bind
        );
    }
    let sampler = explorer.clone();
    let sampling = tokio::spawn(async move {
        sampler
            .sample_every(std::time::Duration::from_secs(15))
            .await;
    });
    let serve = axum::serve(listener, explorer.router()).with_graceful_shutdown(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    let result = if shape.project {
        let stream = EventStream::connect(connected.table_options.clone())
            .await
            .context("the explorer's projectors read the table's stream (--no-project serves the pages alone)")?;
        println!("projecting the table's events into the views and the catalog");
        let projecting = read_side.run(&stream, async {
            let _ = tokio::signal::ctrl_c().await;
        });
        // Either ends on Ctrl-C; a projector that fails ends the explorer.
        tokio::select! {
            served = serve => served.map_err(anyhow::Error::from),
            projected = projecting => projected.map_err(anyhow::Error::from),
        }
    } else {
        serve.await.map_err(anyhow::Error::from)
    };
    sampling.abort();
    result
}
