//! The host's hooks: a [`RegistrationHook`] that can accept, adjust or refuse a registration or
//! update, and an [`EventSink`] told about every operation for audit logs and admin views.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::task::{Context, Poll};

use async_trait::async_trait;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::{ErrorCode, RegistrationError};
use crate::initial_tokens::InitialAccessGrant;
use crate::metadata::ClientMetadata;
use crate::request::RequestContext;

/// Which operation an event or a hook call is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Operation {
    /// A registration (RFC 7591 §3).
    Register,
    /// A read (RFC 7592 §2.1).
    Read,
    /// An update (RFC 7592 §2.2).
    Update,
    /// A delete (RFC 7592 §2.3).
    Delete,
    /// A rotated-away registration access token was presented again; the client's current token
    /// was revoked.
    TokenReuse,
    /// The reaper removed an expired or never-used client.
    Reap,
    /// A Client ID Metadata Document was resolved: the hook sees its metadata as it sees a
    /// registration's, with the document's URL as `client_id`.
    Resolve,
    /// The support path issued the client a new registration access token
    /// ([`Registrar::reissue_registration_token`](crate::Registrar::reissue_registration_token)),
    /// every earlier one revoked; [`Event::actor`] says who asked, when the call said.
    Reissue,
}

impl Operation {
    /// The operation's name in logs and spans: `register`, `read`, `update`, `delete`,
    /// `token_reuse`, `reap`, `resolve`, `reissue`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Read => "read",
            Self::Update => "update",
            Self::Delete => "delete",
            Self::TokenReuse => "token_reuse",
            Self::Reap => "reap",
            Self::Resolve => "resolve",
            Self::Reissue => "reissue",
        }
    }
}

/// A verified software statement, as the hook and the events see it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StatementInfo {
    /// The statement's issuer (`iss`).
    pub issuer: String,
    /// All verified claims.
    pub claims: Map<String, Value>,
}

/// What a [`RegistrationHook`] sees besides the metadata.
#[derive(Debug)]
#[non_exhaustive]
pub struct HookContext<'a> {
    /// Register or update.
    pub operation: Operation,
    /// The client being updated (`None` on registration).
    pub client_id: Option<&'a str>,
    /// The HTTP request's context (peer address, …).
    pub request: &'a RequestContext,
    /// On registration, the grant of the initial access token presented, if any. On update, the
    /// grant of the token the client registered with, as kept with the client
    /// ([`ClientRecord::initial_grant`](crate::ClientRecord::initial_grant)): its restrictions
    /// bind the update, and its `expires_at` is history, not checked again.
    pub initial_token: Option<&'a InitialAccessGrant>,
    /// The software statement that binds the client, if any: on registration the one presented;
    /// on update the client's own (kept when the body omits it or sends it back unchanged) or
    /// the one that replaces it.
    pub statement: Option<&'a StatementInfo>,
    /// The JWT claims (`iss`, `aud`, `iat`, `exp`, `jti`, …) of a verified signed request body,
    /// when the body was one.
    pub signed_request: Option<&'a Map<String, Value>>,
}

/// A host's own registration rules, run after the crate's validation. It may adjust the metadata
/// (the result is validated again) or refuse.
///
/// ```
/// use oauth_dcr::{ClientMetadata, RegistrationError};
/// use oauth_dcr::events::{HookContext, RegistrationHook};
///
/// struct NoFreeMail;
///
/// #[async_trait::async_trait]
/// impl RegistrationHook for NoFreeMail {
///     async fn check(&self, metadata: &mut ClientMetadata, _: &HookContext<'_>) -> Result<(), RegistrationError> {
///         let free = metadata.contacts.iter().flatten().any(|c| c.ends_with("@mail.example"));
///         if free {
///             return Err(RegistrationError::refused("contacts must use a company domain"));
///         }
///         Ok(())
///     }
/// }
/// ```
#[async_trait]
pub trait RegistrationHook: Send + Sync {
    /// Accepts (`Ok`), adjusts `metadata` in place, or refuses with an error the client sees
    /// (usually [`RegistrationError::refused`], `invalid_client_metadata`).
    ///
    /// # Errors
    /// The refusal.
    async fn check(
        &self,
        metadata: &mut ClientMetadata,
        context: &HookContext<'_>,
    ) -> Result<(), RegistrationError>;
}

/// How a client came to be, carried by events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Provenance {
    /// Whether the client was registered dynamically or created by the host's administrators
    /// (`None` when the operation was refused before a client was known).
    pub origin: Option<crate::store::Origin>,
    /// The subject of the initial access token used to register, if any.
    pub initial_token_subject: Option<String>,
    /// The issuer of the software statement used, if any.
    pub statement_issuer: Option<String>,
    /// For a client registered through an OpenID Federation trust chain: the trust anchor,
    /// the immediate superior, the chain and when the registration expires.
    pub federation: Option<crate::store::FederationProvenance>,
}

/// Something that happened at the registration or client configuration endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// The operation.
    pub operation: Operation,
    /// When it happened.
    pub at: OffsetDateTime,
    /// The client, when known (never on a refused registration).
    pub client_id: Option<String>,
    /// Metadata members that changed (all members on registration, none on read or delete).
    pub changed: Vec<String>,
    /// How the client came to be.
    pub provenance: Provenance,
    /// The error code when the operation was refused; `None` when it succeeded.
    pub refused: Option<ErrorCode>,
    /// Who made an administrative operation ([`Operation::Reissue`]), as the host named them;
    /// `None` for the client's own operations.
    pub actor: Option<String>,
}

/// Told after every registration, read, update, delete and refusal. Never told secrets or tokens.
///
/// A sink cannot fail the request: it returns nothing, whatever it does is its own business
/// (log, queue, ignore errors), and a sink that panics is cut off without affecting the
/// response.
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Receives one event.
    async fn notify(&self, event: &Event);

    /// Whether this sink does anything with events of `operation` now. The registrar builds an
    /// event (the client's provenance, the members that changed) only when some sink wants it,
    /// so a sink that would drop it, such as a log filtered below its level, should say so
    /// here. The default wants every event.
    fn wants(&self, operation: Operation) -> bool {
        let _ = operation;
        true
    }
}

/// An [`EventSink`] that writes each [`Event`] as a structured `tracing` event (the `tracing`
/// feature), with the target `oauth_dcr::events`: `operation`, `client_id`, `refused` (the error
/// code, when the operation was refused), `changed` (the metadata members, comma-separated),
/// `origin`, `initial_token_subject`, `statement_issuer`, `trust_anchor` (for a client registered
/// through a federation trust chain) and `at` (Unix seconds). Token reuse is
/// logged at `WARN`, everything else at `INFO`. An event never carries a secret or a token.
///
/// ```
/// use std::sync::Arc;
/// use oauth_dcr::events::TracingSink;
/// use oauth_dcr::{MemoryStore, Registrar, ServerPolicy};
///
/// let registrar = Registrar::new(ServerPolicy::new("https://as.example/register"), Arc::new(MemoryStore::new()))
///     .with_event_sink(Arc::new(TracingSink));
/// ```
#[cfg(feature = "tracing")]
#[derive(Debug, Clone, Copy, Default)]
pub struct TracingSink;

#[cfg(feature = "tracing")]
#[async_trait]
impl EventSink for TracingSink {
    /// Whether the subscriber enables `oauth_dcr::events` at the operation's level.
    fn wants(&self, operation: Operation) -> bool {
        if operation == Operation::TokenReuse {
            tracing::enabled!(target: "oauth_dcr::events", tracing::Level::WARN)
        } else {
            tracing::enabled!(target: "oauth_dcr::events", tracing::Level::INFO)
        }
    }

    async fn notify(&self, event: &Event) {
        let origin = event.provenance.origin.map(|origin| match origin {
            crate::store::Origin::Dynamic => "dynamic",
            crate::store::Origin::Administrator => "administrator",
        });
        let changed = event.changed.join(",");
        macro_rules! log {
            ($level:expr, $message:literal) => {
                tracing::event!(
                    target: "oauth_dcr::events",
                    $level,
                    operation = event.operation.as_str(),
                    client_id = event.client_id.as_deref(),
                    refused = event.refused.as_ref().map(ErrorCode::as_str),
                    changed = changed.as_str(),
                    origin = origin,
                    initial_token_subject = event.provenance.initial_token_subject.as_deref(),
                    statement_issuer = event.provenance.statement_issuer.as_deref(),
                    trust_anchor = event
                        .provenance
                        .federation
                        .as_ref()
                        .map(|f| f.trust_anchor.as_str()),
                    actor = event.actor.as_deref(),
                    at = event.at.unix_timestamp(),
                    $message
                )
            };
        }
        if event.operation == Operation::TokenReuse {
            log!(tracing::Level::WARN, "registration access token reused");
        } else if event.refused.is_some() {
            log!(tracing::Level::INFO, "operation refused");
        } else {
            log!(tracing::Level::INFO, "operation done");
        }
    }
}

/// Runs a sink's future, stopping it if it panics: a failing sink never fails the request.
pub(crate) struct Guarded<'a>(pub(crate) Pin<Box<dyn Future<Output = ()> + Send + 'a>>);

impl Future for Guarded<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let future = &mut self.0;
        std::panic::catch_unwind(AssertUnwindSafe(|| future.as_mut().poll(cx)))
            .unwrap_or(Poll::Ready(()))
    }
}
