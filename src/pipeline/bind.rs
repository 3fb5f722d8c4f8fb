//! The bind stage: what binds a client beyond the policy's rules, on every path that makes or
//! changes one — the restrictions of the initial access token it registered with, the software
//! statement it registered with (on re-registration), the host's hook, the
//! `sector_identifier_uri` document and the policy's limits.
//!
//! Input: [`ValidatedMetadata`] and what binds the client ([`Target`]). Output: [`Admitted`]
//! metadata, and for an idempotent re-registration the client it replaces.

use crate::error::{ErrorCode, RegistrationError, Violation, Violations};
use crate::events::{HookContext, Operation, RegistrationHook};
use crate::fetch::{FetchLimits, Fetcher};
use crate::initial_tokens::InitialAccessGrant;
use crate::metadata::ClientMetadata;
use crate::policy::ServerPolicy;
use crate::request::RequestContext;
use crate::secret::SecretHash;
use crate::store::{Capability, ClientRecord, ClientStore};
use crate::validate::{validate_metadata, ValidatedMetadata};

use super::verify::{same_software, stored_claims, Verified, VerifiedStatement};

/// What binds a client besides its metadata: the registrar's policy, store, hook and
/// sector-identifier fetcher.
pub(crate) struct Binders<'a> {
    pub(crate) policy: &'a ServerPolicy,
    pub(crate) store: &'a dyn ClientStore,
    pub(crate) hook: Option<&'a dyn RegistrationHook>,
    pub(crate) sector_fetcher: Option<&'a dyn Fetcher>,
}

/// What a request would make: a new client, or a change to a stored one.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// A registration admitted with this initial access token grant (if any). An idempotent
    /// re-registration finds the client it replaces here.
    Register(Option<&'a InitialAccessGrant>),
    /// An update of this stored client: the grant it registered with still binds it.
    Update(&'a ClientRecord),
    /// An explicit registration through a federation trust chain, under the entity identifier
    /// `client_id`, replacing the client registered under it before (if any). No initial
    /// token: the chain admitted it.
    Federated {
        client_id: &'a str,
        existing: Option<&'a ClientRecord>,
    },
}

impl<'a> Target<'a> {
    /// The initial token grant whose restrictions bind the client: the one presented to
    /// register, or the one the client registered with.
    fn grant(self) -> Option<&'a InitialAccessGrant> {
        match self {
            Self::Register(grant) => grant,
            Self::Update(record) => record.initial_grant.as_ref(),
            Self::Federated { .. } => None,
        }
    }

    fn operation(self) -> Operation {
        match self {
            Self::Register(_) | Self::Federated { .. } => Operation::Register,
            Self::Update(_) => Operation::Update,
        }
    }

    fn client_id(self) -> Option<&'a str> {
        match self {
            Self::Register(_) => None,
            Self::Update(record) => Some(&record.client_id),
            Self::Federated { client_id, .. } => Some(client_id),
        }
    }
}

/// Metadata that met every rule and everything that binds the client; for an idempotent
/// registration its instance and the client that instance already has.
#[derive(Debug)]
pub(crate) struct Admitted {
    pub(crate) metadata: Box<ValidatedMetadata>,
    pub(crate) instance: Option<SecretHash>,
    pub(crate) existing: Option<Box<ClientRecord>>,
}

/// Binds validated metadata: the initial token's restrictions, the host's hook (whatever it
/// changes is validated and restricted again), the `sector_identifier_uri` document and the
/// policy's limits. Registration, update, statements, signed bodies and idempotent
/// re-registration all pass here.
pub(crate) async fn bind(
    mut metadata: Box<ValidatedMetadata>,
    verified: &Verified,
    target: Target<'_>,
    context: &RequestContext,
    with: &Binders<'_>,
) -> Result<Admitted, RegistrationError> {
    let grant = target.grant();
    restrict(grant, &metadata)?;
    if let Some(hook) = with.hook {
        let hook_context = HookContext {
            operation: target.operation(),
            client_id: target.client_id(),
            request: context,
            initial_token: grant,
            statement: verified.statement.as_ref().map(|s| &s.info),
            signed_request: verified.request.signed_claims(),
        };
        hook.check(&mut metadata.0, &hook_context).await?;
        // Whatever the hook changed must still meet every rule.
        let changed = std::mem::take(&mut metadata.0);
        *metadata = validate_metadata(with.policy, changed, Vec::new())
            .map_err(RegistrationError::InvalidMetadata)?;
        restrict(grant, &metadata)?;
    }
    check_sector_identifier(with.sector_fetcher, &metadata).await?;
    let (instance, existing) = match target {
        Target::Register(_) => {
            let instance = instance_of(
                with.policy,
                &metadata,
                verified.request.instance_key.as_deref(),
            );
            let existing = match &instance {
                Some(instance) => with
                    .store
                    .as_instance_index()
                    .ok_or_else(|| {
                        Capability::InstanceIndex.missing("ServerPolicy::idempotent_registration")
                    })?
                    .find_by_instance(instance)
                    .await?
                    .map(Box::new),
                None => None,
            };
            (instance, existing)
        }
        Target::Update(_) | Target::Federated { .. } => (None, None),
    };
    if let Some(existing) = &existing {
        bind_reregistration(existing, verified.statement.as_ref(), &metadata)?;
    }
    let current = match target {
        Target::Update(record) => Some(record),
        Target::Federated { existing, .. } => existing,
        Target::Register(_) => existing.as_deref(),
    };
    check_client_limits(with.policy, with.store, &metadata, current).await?;
    Ok(Admitted {
        metadata,
        instance,
        existing,
    })
}

/// The instance hash of an idempotent registration, when the policy enables them and the
/// request carries both a `software_id` and an `instance_key`.
fn instance_of(
    policy: &ServerPolicy,
    metadata: &ClientMetadata,
    key: Option<&str>,
) -> Option<SecretHash> {
    let software_id = metadata.software_id.as_deref()?;
    let key = key.filter(|_| policy.idempotent_registration)?;
    Some(SecretHash::of(&format!("{software_id}\0{key}")))
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

/// OIDC Registration §5: the document at `sector_identifier_uri` is a JSON array that must
/// contain every registered redirect URI.
pub(crate) async fn check_sector_identifier(
    fetcher: Option<&dyn Fetcher>,
    metadata: &ClientMetadata,
) -> Result<(), RegistrationError> {
    let (Some(fetcher), Some(uri)) = (fetcher, &metadata.sector_identifier_uri) else {
        return Ok(());
    };
    let refuse = |why: String| {
        RegistrationError::InvalidMetadata(Violations::one(Violation::metadata(
            "sector_identifier_uri",
            format!("sector_identifier_uri: {why}"),
        )))
    };
    let fetched = fetcher
        .fetch(uri, FetchLimits::default())
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
    policy: &ServerPolicy,
    store: &dyn ClientStore,
    metadata: &ClientMetadata,
    current: Option<&ClientRecord>,
) -> Result<(), RegistrationError> {
    if let (Some(max), None) = (policy.max_clients, current) {
        let counts = store
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
    let moves_in = current.is_none_or(|c| c.metadata.software_id.as_deref() != Some(software_id));
    if let (Some(max), true) = (policy.max_clients_per_software_id, moves_in) {
        let counts = store.as_client_count().ok_or_else(|| {
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
