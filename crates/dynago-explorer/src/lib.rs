//! An explorer for `dynago-es` stores, in the browser: the aggregates of a
//! table and their timelines, the state at any version and what each event
//! changed, snapshots checked against their events, the projections of the
//! table's stream with their leases, lag and parked events, and on every
//! page what it cost in DynamoDB requests and capacity units.
//!
//! [`Explorer`] gives an [`axum::Router`] to mount in your own service:
//!
//! ```no_run
//! # async fn run<A: dynago_explorer::Cataloged>(
//! #     store: dynago_es::EventStore<A>,
//! #     views: dynago::Table,
//! #     catalog: dynago_projections::Projector<dynago_explorer::Catalog<A>>,
//! # ) -> Result<(), Box<dyn std::error::Error>> {
//! use dynago_explorer::Explorer;
//!
//! let explorer = Explorer::builder(store.table().clone(), views)
//!     .aggregate(store)
//!     .projection(catalog)
//!     .build()?;
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:7878").await?;
//! axum::serve(listener, explorer.router()).await?;
//! # Ok(())
//! # }
//! ```
//!
//! | module | what it holds |
//! |---|---|
//! | [`Explorer`], [`ExplorerBuilder`], [`ExplorerOptions`] | what is shown and how: aggregate types, projections, page size, actions |
//! | [`Catalog`], [`Cataloged`], [`CatalogEntry`] | the projection that lists each type's aggregates, so that no page scans the events table |
//! | [`Error`] | what a page could not read or show |
//!
//! Safety: read-only unless [`ExplorerOptions::actions`] gives a token;
//! an action then needs a session opened with that token (a cookie that
//! other sites' requests do not carry) and its form's token, and a
//! request from another site is refused. Every value read from the table
//! is shown as text, and the pages run only the explorer's own scripts
//! (a content security policy says so to the browser).
#![deny(warnings)]
// The futures of a page nest deep (route, store, SDK): more than the
// default limit of 128 when their layout is computed.
#![recursion_limit = "256"]

mod auth;
mod catalog;
mod diff;
mod error;
mod explorer;
mod history;
mod pages;
mod registry;
mod routes;

pub use catalog::{Catalog, CatalogEntry, Cataloged, RECENT_MINUTES};
pub use error::{Error, Result};
pub use explorer::{Explorer, ExplorerBuilder, ExplorerOptions, MIN_TOKEN_LEN};

impl Explorer {
    /// The explorer's pages, to serve, or to nest in a larger router under
    /// the path given to [`ExplorerOptions::base_path`].
    ///
    /// ```no_run
    /// # fn run(store: dynago_es::EventStore<impl dynago_explorer::Cataloged>, views: dynago::Table) -> dynago_explorer::Result<()> {
    /// use dynago_explorer::{Explorer, ExplorerOptions};
    ///
    /// let explorer = Explorer::builder(store.table().clone(), views)
    ///     .aggregate(store)
    ///     .options(ExplorerOptions::default().base_path("/explorer"))
    ///     .build()?;
    /// let app = axum::Router::new().nest("/explorer", explorer.router());
    /// # let _ = app;
    /// # Ok(())
    /// # }
    /// ```
    pub fn router(&self) -> axum::Router {
        routes::router(self.clone())
    }
}

#[doc = include_str!("../../../docs/explorer.md")]
#[cfg(doctest)]
pub struct ExplorerDoctests;
