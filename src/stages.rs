//! The stages registration and update share, in order: body (plain or signed) → software
//! statement → typed metadata → validation → the policy's limits and the token's restrictions →
//! the host's hook.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use crate::access::Admission;
use crate::error::{ErrorCode, RegistrationError};
use crate::events::{HookContext, Operation, StatementInfo};
use crate::metadata::ClientMetadata;
use crate::registrar::{BodyFormat, Registrar, RequestContext};
use crate::request::{self, ParsedRequest};
use crate::statements::{self, Jwks};

/// A parsed request with its verified software statement.
#[derive(Debug)]
pub(crate) struct Intake {
    pub(crate) parsed: ParsedRequest,
    pub(crate) statement: Option<VerifiedStatement>,
    /// The JWT claims (`iss`, `aud`, `jti`, …) of a verified signed request body.
    pub(crate) request_claims: Option<Map<String, Value>>,
}

/// A software statement that verified.
#[derive(Debug, Clone)]
pub(crate) struct VerifiedStatement {
    pub(crate) raw: String,
    pub(crate) info: StatementInfo,
    /// Members the statement asserted (they override the body, RFC 7591 §3.1.1).
    pub(crate) asserted: BTreeSet<String>,
}

impl Registrar {
    /// Body bytes to a parsed request: unwraps a signed body, verifies and merges a software
    /// statement, and type-checks the members.
    pub(crate) async fn intake(
        &self,
        body: &[u8],
        context: &RequestContext,
    ) -> Result<Intake, RegistrationError> {
        let mut request_claims = None;
        let mut map = match context.body_format {
            BodyFormat::Jwt => {
                let (metadata, claims) = self.signed_body(body).await?;
                request_claims = Some(claims);
                metadata
            }
            BodyFormat::Json => {
                if self.signed_requests.as_ref().is_some_and(|s| s.required) {
                    return Err(RegistrationError::invalid_request(
                        "this server requires a signed request body (application/jwt)",
                    ));
                }
                if self.statements.is_none() {
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
        let statement = self.statement(&mut map).await?;
        let parsed = request::from_object(map, &self.policy);
        Ok(Intake {
            parsed,
            statement,
            request_claims,
        })
    }

    /// Verifies an `application/jwt` body and returns its metadata claims and its JWT claims.
    async fn signed_body(
        &self,
        body: &[u8],
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
        let named = match self.statement_keys(raw).await? {
            Some(keys) => {
                statements::verify_with_keys(raw, &config.rules, &keys, replay, limits, now).await
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

    /// The `jwks` of a software statement carried inside a signed body, once that statement
    /// verifies. The body itself is not trusted here: only the statement's own signature is.
    async fn statement_keys(&self, raw: &str) -> Result<Option<Jwks>, RegistrationError> {
        let Some(config) = &self.statements else {
            return Ok(None);
        };
        let limits = &self.policy.limits;
        let Some(inner) = raw
            .split('.')
            .nth(1)
            .and_then(|p| base64_json(p, limits))
            .and_then(|m| m.get("software_statement")?.as_str().map(str::to_owned))
        else {
            return Ok(None);
        };
        // Verified without the replay guard: the statement is checked again, with it, when
        // merged.
        let verified = statements::verify_from_source(
            &inner,
            &config.rules,
            config.keys.as_ref(),
            None,
            limits,
            self.now(),
        )
        .await;
        let Ok(decoded) = verified else {
            return Ok(None);
        };
        let Some(jwks) = decoded.claims.get("jwks") else {
            return Ok(None);
        };
        let bytes = serde_json::to_vec(jwks).unwrap_or_default();
        Ok(Jwks::from_json(&bytes).ok())
    }

    /// Verifies the `software_statement` member, if any, and merges its claims over the body's
    /// members (RFC 7591 §3.1.1: statement values take precedence).
    async fn statement(
        &self,
        map: &mut Map<String, Value>,
    ) -> Result<Option<VerifiedStatement>, RegistrationError> {
        let member = map.remove("software_statement").filter(|v| !v.is_null());
        let Some(config) = &self.statements else {
            // RFC 7591 §3.1.1: a server that does not support statements MAY ignore them.
            return Ok(None);
        };
        let raw = match member {
            None if config.required => {
                return Err(RegistrationError::rejected(
                    ErrorCode::InvalidSoftwareStatement,
                    "a software statement is required",
                ))
            }
            None => return Ok(None),
            Some(Value::String(raw)) => raw,
            Some(_) => {
                return Err(RegistrationError::rejected(
                    ErrorCode::InvalidSoftwareStatement,
                    "software_statement must be a string",
                ))
            }
        };
        let decoded = statements::verify_from_source(
            &raw,
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
        let mut asserted = BTreeSet::new();
        for (name, value) in decoded.metadata_claims() {
            asserted.insert(name.clone());
            map.insert(name.clone(), value.clone());
        }
        let issuer = decoded.issuer().unwrap_or_default().to_owned();
        let info = StatementInfo {
            issuer,
            claims: decoded.claims,
        };
        Ok(Some(VerifiedStatement {
            raw,
            info,
            asserted,
        }))
    }

    /// Validation, the policy's registration limits, the initial token's restrictions and the
    /// host's hook.
    pub(crate) async fn accept(
        &self,
        intake: &mut Intake,
        context: &RequestContext,
        admission: Option<&Admission<'_>>,
        client_id: Option<&str>,
    ) -> Result<ClientMetadata, RegistrationError> {
        let mut metadata = std::mem::take(&mut intake.parsed.metadata);
        let violations = std::mem::take(&mut intake.parsed.violations);
        self.validated_metadata(&mut metadata, violations)?;
        let grant = admission.and_then(|a| a.grant.as_ref());
        if let Some(grant) = grant {
            grant.restrict(&metadata)?;
        }
        if let Some(hook) = &self.hook {
            let hook_context = HookContext {
                operation: if client_id.is_some() {
                    Operation::Update
                } else {
                    Operation::Register
                },
                client_id,
                request: context,
                initial_token: grant,
                statement: intake.statement.as_ref().map(|s| &s.info),
                signed_request: intake.request_claims.as_ref(),
            };
            hook.check(&mut metadata, &hook_context).await?;
            // Whatever the hook changed must still meet every rule.
            self.validated_metadata(&mut metadata, Vec::new())?;
        }
        self.check_sector_identifier(&metadata).await?;
        if client_id.is_none() {
            self.check_client_limits(&metadata).await?;
        }
        Ok(metadata)
    }
}

fn base64_json(part: &str, limits: &crate::RequestLimits) -> Option<Map<String, Value>> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .ok()?;
    request::parse_object(&bytes, limits).ok()
}

impl Registrar {
    /// OIDC Registration §5: the document at `sector_identifier_uri` is a JSON array that must
    /// contain every registered redirect URI.
    async fn check_sector_identifier(
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
            .map_err(|e| refuse(format!("`{uri}` could not be fetched ({e})")))?;
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
    /// registrations it considers abusive).
    async fn check_client_limits(
        &self,
        metadata: &ClientMetadata,
    ) -> Result<(), RegistrationError> {
        if let Some(max) = self.policy.max_clients {
            if self.store.count(None).await? >= max {
                return Err(RegistrationError::refused(
                    "this server accepts no more client registrations",
                ));
            }
        }
        if let (Some(max), Some(software_id)) = (
            self.policy.max_clients_per_software_id,
            metadata.software_id.as_deref(),
        ) {
            if self.store.count(Some(software_id)).await? >= max {
                return Err(RegistrationError::refused(format!(
                    "software_id `{software_id}` has reached its maximum number of registrations"
                )));
            }
        }
        Ok(())
    }
}
