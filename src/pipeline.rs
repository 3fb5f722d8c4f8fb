//! The stages every operation is composed of, each in a module named after it, each taking
//! typed input and returning typed output:
//!
//! ```text
//! RegistrationRequest ─verify─► Verified ─validate─► ValidatedMetadata ─bind─► Admitted
//!                     ─issue──► credentials ─persist─► Stored ─respond─► RegistrationResponse
//! ```
//!
//! - [`admit`]: registration switched on, the initial access token (RFC 7591 §3);
//! - [`authorize`]: the registration access token of a management call (RFC 7592 §2), its
//!   rotation, reuse detection and grace window;
//! - [`verify`]: a signed body's signature, the software statement merged with precedence;
//! - [`validate`](crate::validate()): the pure rules of the [`ServerPolicy`](crate::ServerPolicy);
//! - [`bind`]: what binds a client beyond them (the initial token's restrictions, its statement
//!   on re-registration, the host's hook, the sector identifier document, the limits);
//! - [`issue`]: identifier, secret, registration access token and their stored forms;
//! - [`persist`]: create, or compare-and-set update;
//! - [`respond`]: the client information response, built from what was stored.
//!
//! `register` and `update` (in `register.rs` and `update.rs`) are each one short sequence of
//! these calls: a rule added to a stage holds on both by construction.

pub(crate) mod admit;
pub(crate) mod authorize;
pub(crate) mod bind;
pub(crate) mod issue;
pub(crate) mod persist;
pub(crate) mod respond;
pub(crate) mod verify;

use time::OffsetDateTime;

use crate::error::RegistrationError;
use crate::metadata::ClientMetadata;
use crate::policy::ServerPolicy;
use crate::secret::{ClientSecret, RegistrationAccessToken};
use crate::store::ClientRecord;
use crate::validate::{validate_request, ValidatedMetadata};

use verify::{Verified, VerifiedStatement};

/// What an operation stored: the response and the event are built from it. (Its record is
/// boxed, and so is the metadata before an update: both are large and move from stage to stage.)
#[derive(Debug)]
pub(crate) struct Stored {
    /// The client as stored.
    pub(crate) record: Box<ClientRecord>,
    /// Its metadata before the operation, kept only for the event sinks (`None` for a new
    /// client, one that did not change, or a registrar without sinks).
    pub(crate) before: Option<Box<ClientMetadata>>,
    /// Whether the operation changed the metadata (registration, update).
    pub(crate) changed: bool,
    /// The client secret to show (new, or retrievable).
    pub(crate) secret: Option<ClientSecret>,
    /// The registration access token to show.
    pub(crate) token: Option<RegistrationAccessToken>,
    /// When the operation issued what it stored (the response's `expires_in` counts from it).
    pub(crate) at: OffsetDateTime,
}

/// Records the statement that binds the client (kept, or replaced by one from the same issuer
/// for the same software) and what it asserts; a client without one has no statement
/// provenance.
pub(crate) fn record_statement(record: &mut ClientRecord, statement: Option<VerifiedStatement>) {
    match statement {
        Some(statement) => {
            record.software_statement = Some(statement.raw);
            record.statement_issuer = Some(statement.info.issuer);
            record.statement_asserted = statement.asserted;
        }
        None => {
            record.software_statement = None;
            record.statement_issuer = None;
            record.statement_asserted.clear();
        }
    }
}

/// The validate stage on a verified request: the request's metadata, taken out of it, against
/// the policy's rules, with the violations found while reading it.
///
/// Boxed, as every large value the stages hand on: an operation's future holds each value it
/// keeps across an await, and a future is copied whole whenever it moves.
pub(crate) fn validated(
    policy: &ServerPolicy,
    verified: &mut Verified,
) -> Result<Box<ValidatedMetadata>, RegistrationError> {
    let metadata = std::mem::take(&mut verified.request.metadata);
    let violations = std::mem::take(&mut verified.request.violations);
    validate_request(policy, metadata, violations)
        .map(Box::new)
        .map_err(RegistrationError::InvalidMetadata)
}

/// A failure of the random source, a key source or an invariant: 500 without details, the
/// cause kept for the host's logs.
pub(crate) fn internal(e: impl std::error::Error + Send + Sync + 'static) -> RegistrationError {
    RegistrationError::Internal(Box::new(e))
}
