//! The `tracing` instrumentation (the `tracing` feature), in one place: a span around each of
//! the four operations, and the one log line of a failure that becomes a 500. Without the
//! feature these are no-ops the compiler removes.
//!
//! Nothing here ever records a secret, a token or a request body: the span's fields are the
//! operation, the client identifier and the outcome (an error code), and an internal failure
//! is logged with its `source()` chain, which the store and the key source build from their own
//! errors.

use std::future::Future;

use crate::error::RegistrationError;
use crate::events::Operation;

/// `run` (an operation) inside an `oauth_dcr` span `registrar` with the fields `operation`,
/// `client_id` (when known; a registration's is recorded when it succeeds), `outcome` (`ok`, or
/// the refusal's error code) and, on a refusal, `status`: [`succeeded`] and [`refused`] record
/// the last ones from inside the span.
///
/// The span wraps the future without an `async fn` of its own, so that the operation's future
/// is not stored twice.
#[cfg(feature = "tracing")]
pub(crate) fn traced<F: Future>(
    operation: Operation,
    client_id: Option<&str>,
    run: F,
) -> tracing::instrument::Instrumented<F> {
    use tracing::field::Empty;
    use tracing::Instrument as _;

    let span = tracing::info_span!(
        target: "oauth_dcr",
        "registrar",
        operation = operation.as_str(),
        client_id = client_id,
        outcome = Empty,
        status = Empty,
    );
    run.instrument(span)
}

/// Without the `tracing` feature: `run` itself.
#[cfg(not(feature = "tracing"))]
pub(crate) fn traced<F: Future>(_operation: Operation, _client_id: Option<&str>, run: F) -> F {
    run
}

/// Records in the operation's span that it succeeded, and the identifier of the client it
/// registered (`registered`), which the span did not know when it opened.
pub(crate) fn succeeded(registered: Option<&str>) {
    #[cfg(feature = "tracing")]
    {
        let span = tracing::Span::current();
        if let Some(client_id) = registered {
            span.record("client_id", client_id);
        }
        span.record("outcome", "ok");
    }
    #[cfg(not(feature = "tracing"))]
    let _ = registered;
}

/// Records in the operation's span that it was refused with `error`, and logs `error` once, with
/// its cause chain, when it is a failure of the server (the store, a key source, the random
/// source, an invariant) that the client sees as a bare 500.
pub(crate) fn refused(operation: Operation, error: &RegistrationError) {
    #[cfg(feature = "tracing")]
    {
        let span = tracing::Span::current();
        span.record("outcome", error.code().as_str());
        span.record("status", error.status().as_u16());
        if matches!(
            error,
            RegistrationError::Store(_) | RegistrationError::Internal(_)
        ) {
            tracing::error!(
                target: "oauth_dcr",
                operation = operation.as_str(),
                error = %Chain(error),
                "the registrar failed; the client was answered 500 server_error"
            );
        }
    }
    #[cfg(not(feature = "tracing"))]
    let _ = (operation, error);
}

/// An error and its `source()` chain on one line: `store failure: store backend failure: …`.
#[cfg(feature = "tracing")]
struct Chain<'a>(&'a (dyn std::error::Error + 'static));

#[cfg(feature = "tracing")]
impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}
