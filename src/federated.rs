//! Explicit registration through an OpenID Federation trust chain (OpenID Federation 1.0
//! §12.2): the chain admits the client, and its resolved metadata goes through the same stages
//! as every registration.

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::{ErrorCode, RegistrationError};
use crate::events::Operation;
use crate::federation::chain::{verify_chain, ChainError, TrustChain};
use crate::federation::resolve::resolve_chain;
use crate::federation::response::{registration_response, Registered};
use crate::federation::{ExplicitRegistration, FederatedRegistration, VerifiedChains};
use crate::pipeline::bind::{bind, Admitted, Target};
use crate::pipeline::issue::NewCredentials;
use crate::pipeline::respond::respond;
use crate::pipeline::verify::verify;
use crate::pipeline::{internal, validated, Stored};
use crate::registrar::Registrar;
use crate::request::{RegistrationRequest, RequestContext};
use crate::store::{ClientRecord, FederationProvenance, Origin, StoreError, StoredSecret};
use crate::trace::traced;

/// Response members that a federation registration does not provision (OpenID Federation 1.0
/// §12.2.2: the client updates its registration by registering again).
const NOT_PROVISIONED: [&str; 3] = [
    "registration_access_token",
    "registration_client_uri",
    "registration_access_token_expires_in",
];

impl Registrar {
    /// Registers a client through the OpenID Federation trust chain it sent
    /// (`application/trust-chain+json`: its Entity Configuration, addressed to this server, then
    /// the statements up to a trust anchor), with [`with_explicit_registration`](Self::with_explicit_registration).
    ///
    /// The chain is verified ([`verify_chain`]), its resolved `openid_relying_party` metadata goes
    /// through the same validation, policy, hook and limits as any registration (the trust chain
    /// admits the client: no initial access token is asked for), and the client
    /// is stored under its entity identifier with the chain's provenance, until the chain
    /// expires at the latest. Registering again replaces the registration. The client gets a
    /// secret only if its authentication method uses one (valid as long as the registration), and
    /// no registration access token. The answer to send is the signed
    /// [`FederatedRegistration::response`].
    ///
    /// # Errors
    /// 403 `access_denied` when explicit registration or registration is off; 400
    /// `invalid_trust_chain` for a chain that does not verify or whose policies are broken, 400
    /// `invalid_metadata` for metadata the chain's policy refuses, 400 `invalid_request` for an
    /// Entity Configuration not addressed to this server; then as
    /// [`register`](Self::register) for the metadata; 500 when the store or the signing key
    /// fails.
    pub async fn register_federated(
        &self,
        trust_chain: &[String],
        context: &RequestContext,
    ) -> Result<FederatedRegistration, RegistrationError> {
        let federation = self.federation.as_deref().ok_or_else(|| {
            RegistrationError::rejected(
                ErrorCode::AccessDenied,
                "explicit federation registration is not enabled on this server",
            )
        })?;
        if !self.policy.registration_enabled {
            return Err(RegistrationError::rejected(
                ErrorCode::AccessDenied,
                "client registration is disabled on this server",
            ));
        }
        let now = self.now();
        let admitted = traced(Operation::Register, None, async {
            let stored = self
                .register_through(federation, trust_chain, now, context)
                .await;
            let (stored, chain, expires_at) = match stored {
                Ok((stored, chain, expires_at)) => (Ok(stored), Some(chain), expires_at),
                Err(e) => (Err(e), None, now),
            };
            let stored = self.settle(Operation::Register, None, stored).await?;
            Ok::<_, RegistrationError>((stored, chain, expires_at))
        })
        .await?;
        let (stored, Some(chain), expires_at) = admitted else {
            return Err(internal(std::io::Error::other(
                "a stored federation registration without its chain",
            )));
        };
        let registered = respond(&self.policy, stored);
        let mut metadata: Map<String, Value> = match serde_json::from_slice(&registered.to_json()) {
            Ok(Value::Object(members)) => members,
            _ => {
                return Err(internal(std::io::Error::other(
                    "the response is not an object",
                )))
            }
        };
        for member in NOT_PROVISIONED {
            metadata.remove(member);
        }
        let statement = Registered {
            server: &federation.entity_id,
            chain: &chain,
            metadata: &metadata,
            expires_at,
            now,
        };
        let response = registration_response(federation.signer.as_ref(), &statement)
            .await
            .map_err(internal)?;
        Ok(FederatedRegistration {
            client_id: registered.client_id,
            trust_anchor: chain.trust_anchor,
            expires_at,
            response,
        })
    }

    /// The chain verified and addressed to this server, then the stages every registration
    /// goes through: verify, validate, bind, issue, persist.
    async fn register_through(
        &self,
        federation: &ExplicitRegistration,
        trust_chain: &[String],
        now: OffsetDateTime,
        context: &RequestContext,
    ) -> Result<(Stored, TrustChain, OffsetDateTime), RegistrationError> {
        // A client that sends only its Entity Configuration: the chain is resolved by fetching
        // its superiors' statements, then verified as a sent one is. A configuration resolved
        // and verified before is known by its own digest until its chain expires.
        let sent = VerifiedChains::key(trust_chain);
        let resolved;
        let known = federation.verified.get(&sent, now);
        let trust_chain = match (trust_chain, &federation.fetcher) {
            ([_], Some(_)) if known.is_some() => trust_chain,
            ([configuration], Some(fetcher)) => {
                resolved = resolve_chain(
                    configuration,
                    &federation.anchors,
                    &federation.rules,
                    fetcher.as_ref(),
                    &federation.resolve_limits,
                )
                .await
                .map_err(|e| {
                    RegistrationError::rejected(ErrorCode::InvalidTrustChain, e.to_string())
                })?;
                resolved.as_slice()
            }
            (chain, _) => chain,
        };
        let key = VerifiedChains::key(trust_chain);
        let chain = match known.or_else(|| federation.verified.get(&key, now)) {
            Some(chain) => chain,
            None => {
                let chain = verify_chain(trust_chain, &federation.anchors, &federation.rules, now)
                    .map_err(|e| match e {
                        ChainError::InvalidChain(m) => {
                            RegistrationError::rejected(ErrorCode::InvalidTrustChain, m)
                        }
                        ChainError::InvalidMetadata(m) => {
                            RegistrationError::rejected(ErrorCode::InvalidMetadata, m)
                        }
                    })?;
                federation.verified.put(key, &chain, now);
                if sent != key {
                    federation.verified.put(sent, &chain, now);
                }
                chain
            }
        };
        // A registration lasts until the chain expires: a chain accepted within the clock-skew
        // leeway after its `exp` leaves it no time at all.
        if chain.expires_at <= now {
            return Err(RegistrationError::rejected(
                ErrorCode::InvalidTrustChain,
                "the trust chain has expired",
            ));
        }
        // OpenID Federation 1.0 §12.2.1: the request is addressed to this server.
        let addressed = match chain.subject_claims.get("aud") {
            Some(Value::String(aud)) => *aud == federation.entity_id,
            Some(Value::Array(auds)) => auds
                .iter()
                .any(|a| a.as_str() == Some(federation.entity_id.as_str())),
            _ => false,
        };
        if !addressed {
            return Err(RegistrationError::invalid_request(format!(
                "the Entity Configuration's `aud` must be this server's entity identifier, `{}`",
                federation.entity_id
            )));
        }
        let mut metadata = match chain.metadata.get("openid_relying_party") {
            Some(Value::Object(metadata)) => metadata.clone(),
            _ => {
                return Err(RegistrationError::rejected(
                    ErrorCode::InvalidMetadata,
                    "the trust chain resolves no openid_relying_party metadata",
                ))
            }
        };
        // The client's identifier is its entity identifier; the server provisions it.
        metadata.remove("client_id");
        let request =
            RegistrationRequest::from_value(&Value::Object(metadata), &self.policy.limits)?;
        let expires_at = (now.saturating_add(federation.lifetime)).min(chain.expires_at);

        let mut verified = verify(Box::new(request), None, &self.verifiers()).await?;
        let metadata = validated(&self.policy, &mut verified)?;
        let existing = self.store.get(&chain.subject).await?;
        if let Some(existing) = &existing {
            if existing.origin != Origin::Dynamic || existing.federation.is_none() {
                return Err(RegistrationError::rejected(
                    ErrorCode::InvalidClientMetadata,
                    "a client not registered through a trust chain holds this identifier",
                ));
            }
        }
        let target = Target::Federated {
            client_id: &chain.subject,
            existing: existing.as_ref(),
        };
        let Admitted { metadata, .. } =
            bind(metadata, &verified, target, context, &self.binders()).await?;
        let issuer = self.issuer();
        // No registration access token: it is drawn with the secret and dropped.
        let NewCredentials { secret, .. } = issuer.new_client(&metadata, false)?;

        let mut record = Box::new(ClientRecord::new(
            chain.subject.clone(),
            metadata.0,
            Origin::Dynamic,
            issuer.now,
        ));
        // OpenID Federation 1.0 §12.2.2: a secret does not expire before the registration does.
        record.secret = secret.as_ref().map(|(_, stored)| StoredSecret {
            expires_at: Some(expires_at),
            ..stored.clone()
        });
        record.federation = Some(FederationProvenance::new(&chain, expires_at));
        let concurrent = |e: StoreError| match e {
            StoreError::Conflict | StoreError::NotFound => RegistrationError::invalid_request(
                "this client is being registered concurrently; retry",
            ),
            other => other.into(),
        };
        match existing {
            Some(existing) => {
                record.created_at = existing.created_at;
                record.last_used = existing.last_used;
                record.version = existing.version;
                self.store.update(&record).await.map_err(concurrent)?;
            }
            None => self.store.create(&record).await.map_err(concurrent)?,
        }
        let stored = Stored {
            record,
            before: None,
            changed: true,
            secret: secret.map(|(secret, _)| secret),
            token: None,
            at: issuer.now,
        };
        Ok((stored, chain, expires_at))
    }
}
