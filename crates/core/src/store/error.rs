//! Store errors: what went wrong, typed, with the cause kept as a source
//! rather than flattened into a string, so logs show the whole chain.

use std::sync::Arc;

/// The underlying error of an `Unavailable` or `Backend` failure.
pub type Cause = Arc<dyn std::error::Error + Send + Sync + 'static>;

/// Which uniqueness rule a write broke; the API shows it as a 409.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    #[error("an application with this uid already exists")]
    AppUid,
    #[error("an endpoint with this uid already exists")]
    EndpointUid,
    #[error("an event type with this name already exists")]
    EventTypeName,
    #[error("a message with this eventId already exists")]
    EventId,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (duplicate `uid`, `eventId`, event type name).
    #[error(transparent)]
    Conflict(#[from] Conflict),
    /// The store cannot be reached right now; the request may be retried.
    #[error("store unavailable: {what}")]
    Unavailable {
        what: String,
        #[source]
        cause: Option<Cause>,
    },
    /// Anything else; logged with its cause, shown to clients as an opaque error.
    #[error("store error: {what}")]
    Backend {
        what: String,
        #[source]
        cause: Option<Cause>,
    },
}

impl StoreError {
    /// A failure of the backend with no underlying error (a broken invariant).
    pub fn backend(what: impl Into<String>) -> StoreError {
        StoreError::Backend {
            what: what.into(),
            cause: None,
        }
    }

    /// A failure of the backend caused by `cause`.
    pub fn backend_from(
        what: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Backend {
            what: what.into(),
            cause: Some(Arc::new(cause)),
        }
    }

    /// The store cannot be reached.
    pub fn unavailable(what: impl Into<String>) -> StoreError {
        StoreError::Unavailable {
            what: what.into(),
            cause: None,
        }
    }

    /// The store cannot be reached, because of `cause`.
    pub fn unavailable_from(
        what: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> StoreError {
        StoreError::Unavailable {
            what: what.into(),
            cause: Some(Arc::new(cause)),
        }
    }

    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }

    /// The message with every cause in the chain, for logs.
    pub fn chain(&self) -> String {
        let mut out = self.to_string();
        let mut next = std::error::Error::source(self);
        while let Some(e) = next {
            out.push_str(": ");
            out.push_str(&e.to_string());
            next = e.source();
        }
        out
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_names_every_cause() {
        let io = std::io::Error::other("disk on fire");
        let e = StoreError::backend_from("writing the message", io);
        assert_eq!(e.chain(), "store error: writing the message: disk on fire");
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(
            StoreError::from(Conflict::EventId).to_string(),
            "a message with this eventId already exists"
        );
    }
}
