//! The verify stage: a signed body's signature, then the software statement (the client's own on
//! update) verified and its members merged over the body's with precedence (RFC 7591 §3.1.1).
//!
//! Input: the [`RegistrationRequest`] as sent. Output: a [`Verified`] request whose metadata is
//! what the client asserts plus what a verified statement vouches for, with the provenance.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::{ErrorCode, RegistrationError};
use crate::events::StatementInfo;
use crate::policy::RequestLimits;
use crate::request::{self, Body, RegistrationRequest};
use crate::statements::{self, Jwks, KeySource, SignedRequests, SoftwareStatements};

use super::internal;

/// What verifies requests: the registrar's statement and signed-body configuration, its limits
/// and the time.
pub(crate) struct Verifiers<'a> {
    pub(crate) statements: Option<&'a SoftwareStatements>,
    pub(crate) signed_requests: Option<&'a SignedRequests>,
    pub(crate) limits: &'a RequestLimits,
    pub(crate) now: OffsetDateTime,
}

/// A request whose signed body and software statement verified.
#[derive(Debug)]
pub(crate) struct Verified {
    /// The request, its metadata merged with the statement's (boxed: it is large, and lives
    /// through every stage after this one).
    pub(crate) request: Box<RegistrationRequest>,
    /// The statement that binds the client, if any.
    pub(crate) statement: Option<VerifiedStatement>,
}

/// A software statement that verified (now, or when the client's record stored it).
#[derive(Debug, Clone)]
pub(crate) struct VerifiedStatement {
    pub(crate) raw: String,
    pub(crate) info: StatementInfo,
    /// Members the statement asserted (they override the body, RFC 7591 §3.1.1).
    pub(crate) asserted: BTreeSet<String>,
}

/// A statement that verified inside a signed body (signature and claims), its `jti` not yet
/// spent: the statement stage spends it once the body has verified too, without verifying the
/// statement a second time.
struct Unspent {
    raw: String,
    claims: Map<String, Value>,
    until: Option<OffsetDateTime>,
}

/// The keys a verified statement names for the body it travels in.
enum NamedKeys {
    /// Its `jwks` claim.
    Set(Jwks),
    /// The key set at this URL, from this fetching, caching source.
    At(String, Arc<dyn KeySource>),
}

/// Verifies `request`: unwraps a signed body, then verifies and merges a software statement.
/// `kept` is the statement of the client being changed (update, re-registration of an instance),
/// if it has one: it binds the request as it bound the registration.
pub(crate) async fn verify(
    mut request: Box<RegistrationRequest>,
    kept: Option<&str>,
    with: &Verifiers<'_>,
) -> Result<Verified, RegistrationError> {
    let mut unspent = None;
    match std::mem::take(&mut request.body) {
        Body::Signed(raw) => {
            // Boxed: the signed path's state stays out of every plain request's future.
            let (members, claims, statement) = Box::pin(signed_body(&raw, kept, with)).await?;
            *request = RegistrationRequest::from_members(members);
            request.body = Body::Verified(claims);
            unspent = statement;
        }
        Body::Plain => {
            if with.signed_requests.is_some_and(|s| s.required) {
                return Err(RegistrationError::invalid_request(
                    "this server requires a signed request body (application/jwt)",
                ));
            }
        }
        verified @ Body::Verified(_) => request.body = verified,
        Body::Unreadable(why) => return Err(why.into()),
    }
    let statement = statement(&mut request, kept, unspent, with).await?;
    Ok(Verified { request, statement })
}

/// Verifies an `application/jwt` body and returns its metadata members, its JWT claims and the
/// statement it carries, verified but not yet spent.
async fn signed_body(
    raw: &str,
    kept: Option<&str>,
    with: &Verifiers<'_>,
) -> Result<(Map<String, Value>, Map<String, Value>, Option<Unspent>), RegistrationError> {
    let Some(config) = with.signed_requests else {
        return Err(RegistrationError::invalid_request(
            "this server does not accept signed request bodies",
        ));
    };
    let fail = |e: statements::JwtError| {
        e.into_error(
            ErrorCode::InvalidRequest,
            ErrorCode::InvalidRequest,
            "signed request",
        )
    };
    let (limits, now) = (with.limits, with.now);
    let replay = config.replay.as_deref();
    // Keys a verified software statement inside the body names take precedence.
    let (named, statement) = statement_keys(raw, kept, with).await?;
    let named = match named {
        Some(NamedKeys::Set(keys)) => {
            statements::verify_with_keys(raw, &config.rules, &keys, replay, limits, now).await
        }
        Some(NamedKeys::At(url, sets)) => {
            statements::verify_with_named_source(
                raw,
                &config.rules,
                sets.as_ref(),
                &url,
                replay,
                limits,
                now,
            )
            .await
        }
        None => {
            statements::verify_body_from_source(
                raw,
                &config.rules,
                config.keys.as_ref(),
                replay,
                limits,
                now,
            )
            .await
        }
    };
    let decoded = named.map_err(fail)?;
    let (registered, metadata) = decoded
        .claims
        .into_iter()
        .partition(|(k, _)| statements::is_registered_claim(k));
    Ok((metadata, registered, statement))
}

/// The keys a software statement carried inside a signed body names, once that statement
/// verifies: its `jwks`, or, when the registrar fetches them
/// ([`SignedRequests::keys_from_statement_endpoints`](crate::statements::SignedRequests::keys_from_statement_endpoints)),
/// the key set at its `software_jwks_endpoint` / `software_jwks_uri`. The body itself is not
/// trusted here: only the statement's own signature is.
///
/// On update, a body that omits the statement or sends the client's own back names the
/// keys of the client's stored statement (as the statement stage keeps it). A body without
/// a statement where one is required is refused here, before its signature is checked with
/// keys no statement names, and so is a statement that does not verify.
async fn statement_keys(
    raw: &str,
    kept: Option<&str>,
    with: &Verifiers<'_>,
) -> Result<(Option<NamedKeys>, Option<Unspent>), RegistrationError> {
    let Some(config) = with.statements else {
        return Ok((None, None));
    };
    let limits = with.limits;
    let sent = raw
        .split('.')
        .nth(1)
        .and_then(|p| base64_json(p, limits))
        .and_then(|m| m.get("software_statement")?.as_str().map(str::to_owned));
    let (claims, unspent) = match (sent, kept) {
        (Some(sent), Some(kept)) if sent == kept => (stored_claims(kept)?, None),
        (None, Some(kept)) => (stored_claims(kept)?, None),
        (Some(inner), _) => {
            // Verified without spending its `jti`: the statement stage spends it once the body
            // has verified too. A statement that does not verify is refused as the statement
            // stage would refuse it.
            let (decoded, until) = statements::verify_unspent(
                &inner,
                &config.rules,
                config.keys.as_ref(),
                limits,
                with.now,
            )
            .await
            .map_err(statement_error)?;
            let claims = decoded.claims;
            let unspent = Unspent {
                raw: inner,
                claims: claims.clone(),
                until,
            };
            (claims, Some(unspent))
        }
        (None, None) if config.required => {
            return Err(RegistrationError::rejected(
                ErrorCode::InvalidSoftwareStatement,
                "a software statement is required",
            ))
        }
        (None, None) => return Ok((None, None)),
    };
    Ok((keys_named_by(&claims, with.signed_requests), unspent))
}

/// A statement's verification failure as the client sees it.
fn statement_error(e: statements::JwtError) -> RegistrationError {
    e.into_error(
        ErrorCode::InvalidSoftwareStatement,
        ErrorCode::UnapprovedSoftwareStatement,
        "software statement",
    )
}

/// The keys a statement's claims name: its `jwks`, or the key set at its
/// `software_jwks_endpoint` / `software_jwks_uri` when the registrar fetches those.
fn keys_named_by(
    claims: &Map<String, Value>,
    signed: Option<&SignedRequests>,
) -> Option<NamedKeys> {
    if let Some(jwks) = claims.get("jwks") {
        let Value::Object(jwks) = jwks else {
            return None;
        };
        return Jwks::from_object(jwks.clone()).ok().map(NamedKeys::Set);
    }
    let sets = signed.and_then(|s| s.statement_key_sets.clone())?;
    let url = statements::STATEMENT_JWKS_CLAIMS
        .iter()
        .find_map(|c| claims.get(*c)?.as_str())?;
    Some(NamedKeys::At(url.to_owned(), sets))
}

/// The software statement that binds the request, its asserted members merged over the
/// request's (RFC 7591 §3.1.1: statement values take precedence).
///
/// On update (`kept` is the client's statement): a request that omits `software_statement` or
/// sends the client's own back unchanged keeps it, without verifying it again (it was verified
/// when stored, and its `jti` spent then; RFC 7592 §2.2 has the client send back what it read).
/// Any other statement is verified fully and must come from the same issuer and name the same
/// `software_id`; it then replaces the client's.
async fn statement(
    request: &mut RegistrationRequest,
    kept: Option<&str>,
    unspent: Option<Unspent>,
    with: &Verifiers<'_>,
) -> Result<Option<VerifiedStatement>, RegistrationError> {
    let sent = request.software_statement.take();
    let not_a_string = std::mem::take(&mut request.statement_not_a_string);
    let Some(config) = with.statements else {
        // RFC 7591 §3.1.1: a server that does not support statements MAY ignore them. A
        // statement stored with the client while it did still binds the client.
        return kept
            .map(|raw| kept_statement(request, raw, &[]))
            .transpose();
    };
    if not_a_string {
        return Err(RegistrationError::rejected(
            ErrorCode::InvalidSoftwareStatement,
            "software_statement must be a string",
        ));
    }
    let fills = config.fills.as_slice();
    let raw = match (sent, kept) {
        (None, Some(kept)) => return kept_statement(request, kept, fills).map(Some),
        (Some(sent), Some(kept)) if sent == kept => {
            return kept_statement(request, kept, fills).map(Some)
        }
        (None, None) if config.required => {
            return Err(RegistrationError::rejected(
                ErrorCode::InvalidSoftwareStatement,
                "a software statement is required",
            ))
        }
        (None, None) => return Ok(None),
        (Some(sent), _) => sent,
    };
    let replay = config.replay.as_deref();
    let claims = match unspent {
        // Verified with the signed body it travels in: only its `jti` is left to spend.
        Some(unspent) if unspent.raw == raw => {
            Box::pin(statements::spend(
                &unspent.claims,
                unspent.until,
                replay,
                with.now,
            ))
            .await
            .map_err(statement_error)?;
            unspent.claims
        }
        _ => {
            Box::pin(statements::verify_from_source(
                &raw,
                &config.rules,
                config.keys.as_ref(),
                replay,
                with.limits,
                with.now,
            ))
            .await
            .map_err(statement_error)?
            .claims
        }
    };
    if let Some(kept) = kept {
        same_software(&stored_claims(kept)?, &claims)?;
    }
    Ok(Some(merged(request, raw, claims, fills)))
}

/// The client's own statement, kept: its claims merged again over the body's members.
fn kept_statement(
    request: &mut RegistrationRequest,
    raw: &str,
    fills: &[(String, Vec<String>)],
) -> Result<VerifiedStatement, RegistrationError> {
    let claims = stored_claims(raw)?;
    Ok(merged(request, raw.to_owned(), claims, fills))
}

/// The claims of a statement the store holds. It verified when it was stored; the store is
/// trusted, so its payload is read without checking the signature again.
pub(crate) fn stored_claims(raw: &str) -> Result<Map<String, Value>, RegistrationError> {
    raw.split('.')
        .nth(1)
        .and_then(base64url)
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| {
            internal(std::io::Error::other(
                "the stored software statement does not decode",
            ))
        })
}

/// RFC 7591 §2.3 / RFC 7592 §2.2: a statement that replaces the client's on update must come
/// from the same issuer and name the same software; otherwise an update could launder a client
/// into another software's identity. `unapproved_software_statement`: the statement is valid,
/// but not for this client.
pub(crate) fn same_software(
    kept: &Map<String, Value>,
    sent: &Map<String, Value>,
) -> Result<(), RegistrationError> {
    let refuse = |message: String| {
        RegistrationError::rejected(
            ErrorCode::UnapprovedSoftwareStatement,
            format!("software statement: {message}"),
        )
    };
    let null = Value::Null;
    let (kept_iss, sent_iss) = (
        kept.get("iss").unwrap_or(&null),
        sent.get("iss").unwrap_or(&null),
    );
    if kept_iss != sent_iss {
        return Err(refuse(format!(
            "the client's statement is from the issuer {kept_iss}, this one from {sent_iss}"
        )));
    }
    // The software is named by `software_id` (RFC 7591 §2.3), or by `sub` for directories that
    // name it there; a statement that names neither cannot be shown to be for the same software.
    match (software_of(kept), software_of(sent)) {
        (Some(kept_id), Some(sent_id)) if kept_id == sent_id => {}
        (Some(kept_id), Some(sent_id)) => {
            return Err(refuse(format!(
                "the client's statement names the software_id `{kept_id}`, this one `{sent_id}`"
            )))
        }
        _ => {
            return Err(refuse(
                "a statement that replaces the client's must name the same software \
                 (software_id) as the client's"
                    .to_owned(),
            ))
        }
    }
    Ok(())
}

/// The software a statement is for: its `software_id`, else its `sub`.
fn software_of(claims: &Map<String, Value>) -> Option<&str> {
    claims
        .get("software_id")
        .or_else(|| claims.get("sub"))
        .and_then(Value::as_str)
}

/// Merges a statement's metadata claims over the request's members (RFC 7591 §3.1.1: "the
/// software statement values take precedence") and records what it asserted.
///
/// A statement that asserts a member in any language (`client_name`, `client_name#de`, …) also
/// removes every language-tagged variant of that member from the request: otherwise a body's
/// `client_name#en` would be shown to English speakers as if the statement vouched for it.
/// Server-owned members are never taken from a statement. Then the `fills` the host configured
/// ([`SoftwareStatements::fill_from`]) supply members the request omits, before validation sees
/// the request. Only the asserted members are read; what the request sent wrongly for one of
/// them is no longer its problem.
fn merged(
    request: &mut RegistrationRequest,
    raw: String,
    claims: Map<String, Value>,
    fills: &[(String, Vec<String>)],
) -> VerifiedStatement {
    let mut asserted: BTreeSet<String> = claims
        .keys()
        .filter(|k| {
            !statements::is_registered_claim(k)
                && !request::SERVER_OWNED.contains(&k.as_str())
                && *k != "software_statement"
        })
        .cloned()
        .collect();
    let bases: BTreeSet<&str> = asserted.iter().map(|k| request::base_name(k)).collect();
    for base in bases {
        request.drop_member(base);
    }
    asserted.retain(|name| {
        claims
            .get(name)
            .is_some_and(|value| request.set_member(name, value.clone()))
    });
    for (member, sources) in fills {
        if fill(request, member, sources, &claims) {
            asserted.insert(member.clone());
        }
    }
    let issuer = claims
        .get("iss")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    VerifiedStatement {
        raw,
        info: StatementInfo { issuer, claims },
        asserted,
    }
}

/// Fills `member` from the first of `sources` the statement carries, when the request omits it;
/// `jwks_uri` never beside a `jwks` (RFC 7591 §2). Server-owned members are never filled.
fn fill(
    request: &mut RegistrationRequest,
    member: &str,
    sources: &[String],
    claims: &Map<String, Value>,
) -> bool {
    if request.has_member(member)
        || (member == "jwks_uri" && request.has_member("jwks"))
        || statements::is_registered_claim(member)
    {
        return false;
    }
    let Some(value) = sources
        .iter()
        .find_map(|c| claims.get(c).filter(|v| !v.is_null()))
    else {
        return false;
    };
    request.set_member(member, value.clone())
}

fn base64_json(part: &str, limits: &RequestLimits) -> Option<Map<String, Value>> {
    request::parse_object(&base64url(part)?, limits).ok()
}

/// A base64url part of a compact JWS (RFC 7515 §2: no padding), decoded.
fn base64url(part: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()
}
