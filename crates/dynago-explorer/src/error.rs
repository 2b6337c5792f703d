//! What can go wrong while a page is built.

/// An explorer's error: what a page could not read or show.
///
/// ```
/// let error = dynago_explorer::Error::NotFound("the aggregate type `order`".into());
/// assert!(error.is_not_found());
/// assert_eq!(error.to_string(), "not found: the aggregate type `order`");
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The event store could not read what the page shows.
    #[error(transparent)]
    Store(#[from] dynago_es::Error),
    /// The read side could not read what the page shows.
    #[error(transparent)]
    Projections(#[from] dynago_projections::Error),
    /// What the page names does not exist here.
    #[error("not found: {0}")]
    NotFound(String),
    /// A request's parameters are not usable; says which and why.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// A value could not be shown (a state that does not serialize).
    #[error("cannot show: {0}")]
    Render(String),
    /// The events cannot be folded into a state (a gap in the versions).
    #[error("no state can be folded: {0}")]
    Unfoldable(String),
}

impl Error {
    /// The events cannot give a state: a gap, an event this build cannot
    /// read. The page shows them without states.
    pub(crate) fn is_unfoldable(&self) -> bool {
        match self {
            Error::Unfoldable(_) => true,
            Error::Store(e) => matches!(
                e,
                dynago_es::Error::VersionGap { .. }
                    | dynago_es::Error::CorruptEvent { .. }
                    | dynago_es::Error::CorruptStream { .. }
                    | dynago_es::Error::Upcast { .. }
            ),
            _ => false,
        }
    }

    /// What the page names does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, Error::NotFound(_))
    }

    /// Trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Store(e) => e.is_retryable(),
            Error::Projections(e) => e.is_retryable(),
            _ => false,
        }
    }
}

/// The explorer's result.
pub type Result<T, E = Error> = std::result::Result<T, E>;
