//! The ledger's views kept by an AWS Lambda function on the events table's
//! stream (see docs/projections.md for the event source mapping).
//!
//! Configured by the environment: `LEDGER_TABLE` (the events table; the
//! views go to `{LEDGER_TABLE}-views`), and, away from AWS,
//! `DYNAMODB_ENDPOINT` (a local DynamoDB, signed with the local
//! credentials).
#![deny(warnings)]

use dynago::{Endpoint, TableOptions};
use dynago_projections::lambda::StreamEvent;
use dynago_projections::ProjectorOptions;
use lambda_runtime::{service_fn, LambdaEvent};
use ledger::ledger::{store_options, Ledger};
use ledger::views::ReadSide;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_ansi(false)
        .without_time()
        .init();
    let table = std::env::var("LEDGER_TABLE").map_err(|_| "LEDGER_TABLE names no events table")?;
    let mut options = TableOptions::new(table);
    if let Some(url) = std::env::var("DYNAMODB_ENDPOINT")
        .ok()
        .filter(|url| !url.is_empty())
    {
        options = options.endpoint(Endpoint::new(url));
    }
    let ledger = Ledger::connect(options, store_options()).await?;
    let read_side = ReadSide::new(&ledger, ProjectorOptions::default())?;
    let read_side = &read_side;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<StreamEvent>| async move {
            read_side
                .handle_lambda(&event.payload)
                .await
                .map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
