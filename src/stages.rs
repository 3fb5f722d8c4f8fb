//! The stages registration and update share, in order: body (plain or signed) → software
//! statement (the client's own, on update) → typed metadata → validation → what binds the
//! client (the initial token's restrictions, the host's hook, the policy's limits).
//!
//! RFC 7592 §2.2: an update is validated "in the same way as the registration request". Every
//! rule about what a client may be lives here, once, and a [`Target`] says whether it is a new
//! client or a stored one that changes.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::access::{Admission, InitialAccessGrant};
use crate::error::{ErrorCode, RegistrationError};
use crate::events::{HookContext, Operation, StatementInfo};
use crate::metadata::ClientMetadata;
use crate::registrar::{internal, BodyFormat, Registrar, RequestContext};
use crate::request::{self, ParsedRequest};
use crate::secret::SecretHash;
use crate::statements::{self, Jwks, SoftwareStatements};
use crate::store::{Capability, ClientRecord};

/// A parsed request with its verified software statement.
#[derive(Debug)]
pub(crate) struct Intake {
    pub(crate) parsed: ParsedRequest,
    pub(crate) statement: Option<VerifiedStatement>,
    /// The JWT claims (`iss`, `aud`, `jti`, …) of a verified signed request body.
    pub(crate) request_claims: Option<Map<String, Value>>,
}

/// The keys a verified statement names for the body it travels in.
enum NamedKeys {
    /// Its `jwks` claim.
    Set(Jwks),
    /// The key set at this URL, from this fetching, caching source.
    At(String, std::sync::Arc<dyn statements::KeySource>),
}

/// A software statement that verified (now, or when the client's record stored it).
#[derive(Debug, Clone)]
pub(crate) struct VerifiedStatement {
    pub(crate) raw: String,
    pub(crate) info: StatementInfo,
    /// Members the statement asserted (they override the body, RFC 7591 §3.1.1).
    pub(crate) asserted: BTreeSet<String>,
}

/// What a request would make: a new client, or a change to a stored one. It says which rules
/// bind the client beyond validation.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// A registration admitted with this initial access token (if any). An idempotent
    /// re-registration finds the client it replaces in [`Registrar::accept`].
    Register(&'a Admission<'a>),
    /// An update of this stored client: the grant it registered with still binds it.
    Update(&'a ClientRecord),
}

impl<'a> Target<'a> {
    /// The initial token grant whose restrictions bind the client: the one presented to
    /// register, or the one the client registered with.
    fn grant(self) -> Option<&'a InitialAccessGrant> {
        match self {
            Self::Register(admission) => admission.grant.as_ref(),
            Self::Update(record) => record.initial_grant.as_ref(),
        }
    }

    fn operation(self) -> Operation {
        match self {
            Self::Register(_) => Operation::Register,
            Self::Update(_) => Operation::Update,
        }
    }

    fn client_id(self) -> Option<&'a str> {
        match self {
            Self::Register(_) => None,
            Self::Update(record) => Some(&record.client_id),
        }
    }
}

/// Metadata that met every rule, and for an idempotent registration its instance and the client
/// that instance already has.
#[derive(Debug)]
pub(crate) struct Accepted {
    pub(crate) metadata: ClientMetadata,
    pub(crate) instance: Option<SecretHash>,
    pub(crate) existing: Option<ClientRecord>,
}

impl Registrar {
    /// Body bytes to a parsed request: unwraps a signed body, verifies and merges a software
    /// statement, and type-checks the members. `kept` is the statement of the client being
    /// updated, if it has one: it binds the update as it bound the registration.
    pub(crate) async fn intake(
        &self,
        body: &[u8],
        context: &RequestContext,
        kept: Option<&str>,
    ) -> Result<Intake, RegistrationError> {
        let mut request_claims = None;
        let mut map = match context.body_format {
            BodyFormat::Jwt => {
                let (metadata, claims) = self.signed_body(body, kept).await?;
                request_claims = Some(claims);
                metadata
            }
            BodyFormat::Json => {
                if self.signed_requests.as_ref().is_some_and(|s| s.required) {
                    return Err(RegistrationError::invalid_request(
                        "this server requires a signed request body (application/jwt)",
                    ));
                }
                if self.statements.is_none() && kept.is_none() {
                    // Nothing to merge into the members: read them straight into metadata
                    // (a `software_statement` is then ignored, RFC 7591 §3.1.1).
                    return Ok(Intake {
                        parsed: request::parse(body, &self.policy)?,
                        statement: None,
                        request_claims: None,
                    });
                }
                request::parse_object(body, &self.policy.limits)?
            }
        };
        let statement = self.statement(&mut map, kept).await?;
        let parsed = request::from_object(map, &self.policy);
        Ok(Intake {
            parsed,
            statement,
            request_claims,
        })
    }

    /// Verifies an `application/jwt` body and returns its metadata claims and its JWT claims.
    /// `kept` is the statement of the client being updated, if it has one.
    async fn signed_body(
        &self,
        body: &[u8],
        kept: Option<&str>,
    ) -> Result<(Map<String, Value>, Map<String, Value>), RegistrationError> {
        let Some(config) = &self.signed_requests else {
            return Err(RegistrationError::invalid_request(
                "this server does not accept signed request bodies",
            ));
        };
        let raw = std::str::from_utf8(body)
            .map_err(|_| RegistrationError::invalid_request("the signed body is not UTF-8"))?
            .trim();
        let fail = |e: statements::JwtError| {
            e.into_error(
                ErrorCode::InvalidRequest,
                ErrorCode::InvalidRequest,
                "signed request",
            )
        };
        let limits = &self.policy.limits;
        let now = self.now();
        let replay = config.replay.as_deref();
        // Keys a verified software statement inside the body names take precedence.
        let named = match self.statement_keys(raw, kept).await? {
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
        Ok((metadata, registered))
    }

    /// The keys a software statement carried inside a signed body names, once that statement
    /// verifies: its `jwks`, or, when the registrar fetches them
    /// ([`SignedRequests::keys_from_statement_endpoints`](crate::SignedRequests::keys_from_statement_endpoints)),
    /// the key set at its `software_jwks_endpoint` / `software_jwks_uri`. The body itself is not
    /// trusted here: only the statement's own signature is.
    ///
    /// On update, a body that omits the statement or sends the client's own back names the
    /// keys of the client's stored statement (as the statement stage keeps it). A body without
    /// a statement where one is required is refused here, before its signature is checked with
    /// keys no statement names, and so is a statement that does not verify.
    async fn statement_keys(
        &self,
        raw: &str,
        kept: Option<&str>,
    ) -> Result<Option<NamedKeys>, RegistrationError> {
        let Some(config) = &self.statements else {
            return Ok(None);
        };
        let limits = &self.policy.limits;
        let sent = raw
            .split('.')
            .nth(1)
            .and_then(|p| base64_json(p, limits))
            .and_then(|m| m.get("software_statement")?.as_str().map(str::to_owned));
        let claims = match (sent, kept) {
            (Some(sent), Some(kept)) if sent == kept => stored_claims(kept)?,
            (None, Some(kept)) => stored_claims(kept)?,
            (Some(inner), _) => {
                // Verified without the replay guard: the statement is checked again, with it,
                // when merged. A statement that does not verify is refused as the statement
                // stage would refuse it.
                statements::verify_from_source(
                    &inner,
                    &config.rules,
                    config.keys.as_ref(),
                    None,
                    limits,
                    self.now(),
                )
                .await
                .map_err(|e| {
                    e.into_error(
                        ErrorCode::InvalidSoftwareStatement,
                        ErrorCode::UnapprovedSoftwareStatement,
                        "software statement",
                    )
                })?
                .claims
            }
            (None, None) if config.required => {
                return Err(RegistrationError::rejected(
                    ErrorCode::InvalidSoftwareStatement,
                    "a software statement is required",
                ))
            }
            (None, None) => return Ok(None),
        };
        Ok(self.keys_named_by(&claims))
    }

    /// The keys a statement's claims name: its `jwks`, or the key set at its
    /// `software_jwks_endpoint` / `software_jwks_uri` when the registrar fetches those.
    fn keys_named_by(&self, claims: &Map<String, Value>) -> Option<NamedKeys> {
        if let Some(jwks) = claims.get("jwks") {
            let bytes = serde_json::to_vec(jwks).unwrap_or_default();
            return Jwks::from_json(&bytes).ok().map(NamedKeys::Set);
        }
        let sets = self
            .signed_requests
            .as_ref()
            .and_then(|s| s.statement_key_sets.clone())?;
        let url = statements::STATEMENT_JWKS_CLAIMS
            .iter()
            .find_map(|c| claims.get(*c)?.as_str())?;
        Some(NamedKeys::At(url.to_owned(), sets))
    }

    /// The software statement that binds the request, its asserted members merged over the
    /// body's (RFC 7591 §3.1.1: statement values take precedence).
    ///
    /// On update (`kept` is the client's statement): a body that omits `software_statement` or
    /// sends the client's own back unchanged keeps it, without verifying it again (it was
    /// verified when stored, and its `jti` spent then; RFC 7592 §2.2 has the client send back
    /// what it read). Any other statement is verified fully and must come from the same issuer
    /// and name the same `software_id`; it then replaces the client's.
    async fn statement(
        &self,
        map: &mut Map<String, Value>,
        kept: Option<&str>,
    ) -> Result<Option<VerifiedStatement>, RegistrationError> {
        let member = map.remove("software_statement").filter(|v| !v.is_null());
        let Some(config) = &self.statements else {
            // RFC 7591 §3.1.1: a server that does not support statements MAY ignore them. A
            // statement stored with the client while it did still binds the client.
            return kept.map(|raw| kept_statement(map, raw, &[])).transpose();
        };
        let fills = config.fills.as_slice();
        let sent = match member {
            None => None,
            Some(Value::String(raw)) => Some(raw),
            Some(_) => {
                return Err(RegistrationError::rejected(
                    ErrorCode::InvalidSoftwareStatement,
                    "software_statement must be a string",
                ))
            }
        };
        let raw = match (sent, kept) {
            (None, Some(kept)) => return kept_statement(map, kept, fills).map(Some),
            (Some(sent), Some(kept)) if sent == kept => {
                return kept_statement(map, kept, fills).map(Some)
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
        let claims = self.verify_statement(config, &raw).await?;
        if let Some(kept) = kept {
            same_software(&stored_claims(kept)?, &claims)?;
        }
        Ok(Some(merged(map, raw, claims, fills)))
    }

    /// Verifies a software statement presented now: keys, claims and the replay guard.
    async fn verify_statement(
        &self,
        config: &SoftwareStatements,
        raw: &str,
    ) -> Result<Map<String, Value>, RegistrationError> {
        let decoded = statements::verify_from_source(
            raw,
            &config.rules,
            config.keys.as_ref(),
            config.replay.as_deref(),
            &self.policy.limits,
            self.now(),
        )
        .await
        .map_err(|e| {
            e.into_error(
                ErrorCode::InvalidSoftwareStatement,
                ErrorCode::UnapprovedSoftwareStatement,
                "software statement",
            )
        })?;
        Ok(decoded.claims)
    }

    /// Validation, then what binds the client: the initial token's restrictions, the host's
    /// hook, the `sector_identifier_uri` document and the policy's limits. Registration, update,
    /// statements, signed bodies and idempotent re-registration all pass here.
    pub(crate) async fn accept(
        &self,
        intake: &mut Intake,
        context: &RequestContext,
        target: Target<'_>,
    ) -> Result<Accepted, RegistrationError> {
        let mut metadata = std::mem::take(&mut intake.parsed.metadata);
        let violations = std::mem::take(&mut intake.parsed.violations);
        self.validated_metadata(&mut metadata, violations)?;
        let grant = target.grant();
        restrict(grant, &metadata)?;
        if let Some(hook) = &self.hook {
            let hook_context = HookContext {
                operation: target.operation(),
                client_id: target.client_id(),
                request: context,
                initial_token: grant,
                statement: intake.statement.as_ref().map(|s| &s.info),
                signed_request: intake.request_claims.as_ref(),
            };
            hook.check(&mut metadata, &hook_context).await?;
            // Whatever the hook changed must still meet every rule.
            self.validated_metadata(&mut metadata, Vec::new())?;
            restrict(grant, &metadata)?;
        }
        self.check_sector_identifier(&metadata).await?;
        let (instance, existing) = match target {
            Target::Register(_) => {
                let instance = self.instance_of(&metadata, intake.parsed.instance_key.as_deref());
                let existing = match &instance {
                    Some(instance) => {
                        self.store
                            .as_instance_index()
                            .ok_or_else(|| {
                                Capability::InstanceIndex
                                    .missing("ServerPolicy::idempotent_registration")
                            })?
                            .find_by_instance(instance)
                            .await?
                    }
                    None => None,
                };
                (instance, existing)
            }
            Target::Update(_) => (None, None),
        };
        if let Some(existing) = &existing {
            bind_reregistration(existing, intake.statement.as_ref(), &metadata)?;
        }
        let current = match target {
            Target::Update(record) => Some(record),
            Target::Register(_) => existing.as_ref(),
        };
        self.check_client_limits(&metadata, current).await?;
        Ok(Accepted {
            metadata,
            instance,
            existing,
        })
    }

    /// The instance hash of an idempotent registration, when the policy enables them and the
    /// request carries both a `software_id` and an `instance_key`.
    fn instance_of(&self, metadata: &ClientMetadata, key: Option<&str>) -> Option<SecretHash> {
        let software_id = metadata.software_id.as_deref()?;
        let key = key.filter(|_| self.policy.idempotent_registration)?;
        Some(SecretHash::of(&format!("{software_id}\0{key}")))
    }
}

/// The initial token's restrictions (the registration's grant, or the one the client registered
/// with).
fn restrict(
    grant: Option<&InitialAccessGrant>,
    metadata: &ClientMetadata,
) -> Result<(), RegistrationError> {
    grant.map_or(Ok(()), |g| g.restrict(metadata))
}

/// An idempotent re-registration replaces a client, so what bound that client binds its
/// replacement as it would bind an update: the restrictions of the initial token it registered
/// with, and its software statement. A re-registration of a client that has a statement must
/// present one from the same issuer for the same software (a fresh one: the stored statement's
/// `jti` is spent), otherwise it could launder the client out of its statement's assertions.
fn bind_reregistration(
    existing: &ClientRecord,
    statement: Option<&VerifiedStatement>,
    metadata: &ClientMetadata,
) -> Result<(), RegistrationError> {
    restrict(existing.initial_grant.as_ref(), metadata)?;
    let Some(stored) = existing.software_statement.as_deref() else {
        return Ok(());
    };
    match statement {
        Some(sent) => same_software(&stored_claims(stored)?, &sent.info.claims),
        None => Err(RegistrationError::rejected(
            ErrorCode::UnapprovedSoftwareStatement,
            "this instance's client was registered with a software statement: register it again \
             with a statement from the same issuer for the same software",
        )),
    }
}

/// The client's own statement, kept: its claims merged again over the body's members.
fn kept_statement(
    map: &mut Map<String, Value>,
    raw: &str,
    fills: &[(String, Vec<String>)],
) -> Result<VerifiedStatement, RegistrationError> {
    let claims = stored_claims(raw)?;
    Ok(merged(map, raw.to_owned(), claims, fills))
}

/// The claims of a statement the store holds. It verified when it was stored; the store is
/// trusted, so its payload is read without checking the signature again.
fn stored_claims(raw: &str) -> Result<Map<String, Value>, RegistrationError> {
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
fn same_software(
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

/// Merges a statement's metadata claims over the body's members (RFC 7591 §3.1.1: "the software
/// statement values take precedence") and records what it asserted.
///
/// A statement that asserts a member in any language (`client_name`, `client_name#de`, …) also
/// removes every language-tagged variant of that member from the body: otherwise a body's
/// `client_name#en` would be shown to English speakers as if the statement vouched for it.
/// Server-owned members are never taken from a statement. Then the `fills` the host configured
/// ([`SoftwareStatements::fill_from`]) supply members the request omits, before validation sees
/// the request.
fn merged(
    map: &mut Map<String, Value>,
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
    let bases: BTreeSet<&str> = asserted.iter().map(|k| base_name(k)).collect();
    map.retain(|k, _| !bases.contains(base_name(k)));
    for name in &asserted {
        if let Some(value) = claims.get(name) {
            map.insert(name.clone(), value.clone());
        }
    }
    for (member, sources) in fills {
        if fill(map, member, sources, &claims) {
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
    map: &mut Map<String, Value>,
    member: &str,
    sources: &[String],
    claims: &Map<String, Value>,
) -> bool {
    let present = |name: &str| map.get(name).is_some_and(|v| !v.is_null());
    if present(member)
        || (member == "jwks_uri" && present("jwks"))
        || request::SERVER_OWNED.contains(&member)
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
    map.insert(member.to_owned(), value.clone());
    true
}

/// A member's name without its language tag (`client_name#en` → `client_name`).
fn base_name(member: &str) -> &str {
    member.split_once('#').map_or(member, |(base, _)| base)
}

fn base64_json(part: &str, limits: &crate::RequestLimits) -> Option<Map<String, Value>> {
    request::parse_object(&base64url(part)?, limits).ok()
}

/// A base64url part of a compact JWS (RFC 7515 §2: no padding), decoded.
fn base64url(part: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()
}

impl Registrar {
    /// OIDC Registration §5: the document at `sector_identifier_uri` is a JSON array that must
    /// contain every registered redirect URI.
    pub(crate) async fn check_sector_identifier(
        &self,
        metadata: &ClientMetadata,
    ) -> Result<(), RegistrationError> {
        let (Some(fetcher), Some(uri)) = (&self.sector_fetcher, &metadata.sector_identifier_uri)
        else {
            return Ok(());
        };
        let refuse = |why: String| {
            RegistrationError::InvalidMetadata(crate::error::Violations::one(
                crate::error::Violation::metadata(
                    "sector_identifier_uri",
                    format!("sector_identifier_uri: {why}"),
                ),
            ))
        };
        let fetched = fetcher
            .fetch(uri, crate::fetch::FetchLimits::default())
            .await
            .map_err(|_| refuse(format!("`{uri}` could not be fetched")))?;
        let listed: Vec<String> = serde_json::from_slice(&fetched.body)
            .map_err(|_| refuse(format!("`{uri}` is not a JSON array of URIs")))?;
        for redirect in metadata.redirect_uris.iter().flatten() {
            if !listed.iter().any(|l| l == redirect.as_str()) {
                return Err(refuse(format!(
                    "`{uri}` does not list the redirect URI `{redirect}`"
                )));
            }
        }
        Ok(())
    }

    /// The policy's limits on the number of clients (RFC 7591 §5 lets a server refuse
    /// registrations it considers abusive), for a request that gives `current` this `metadata`
    /// (`current` is `None` for a new client). A client never counts against itself: an update
    /// or an idempotent re-registration is not a new client, and counts against a `software_id`
    /// only when it moves to it.
    async fn check_client_limits(
        &self,
        metadata: &ClientMetadata,
        current: Option<&ClientRecord>,
    ) -> Result<(), RegistrationError> {
        if let (Some(max), None) = (self.policy.max_clients, current) {
            let counts = self
                .store
                .as_client_count()
                .ok_or_else(|| Capability::ClientCount.missing("ServerPolicy::max_clients"))?;
            if counts.count(None).await? >= max {
                return Err(RegistrationError::refused(
                    "this server accepts no more client registrations",
                ));
            }
        }
        let Some(software_id) = metadata.software_id.as_deref() else {
            return Ok(());
        };
        let moves_in =
            current.is_none_or(|c| c.metadata.software_id.as_deref() != Some(software_id));
        if let (Some(max), true) = (self.policy.max_clients_per_software_id, moves_in) {
            let counts = self.store.as_client_count().ok_or_else(|| {
                Capability::ClientCount.missing("ServerPolicy::max_clients_per_software_id")
            })?;
            if counts.count(Some(software_id)).await? >= max {
                return Err(RegistrationError::refused(format!(
                    "software_id `{software_id}` has reached its maximum number of registrations"
                )));
            }
        }
        Ok(())
    }
}
