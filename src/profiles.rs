//! Deployment profiles: one-line presets of the [`ServerPolicy`] and of the registration rules a
//! policy cannot express, for OpenID Connect Dynamic Registration, FAPI 2.0, UK Open Banking and
//! Model Context Protocol clients.
//!
//! A profile is data (a policy) plus, where needed, a [`RegistrationHook`]: the hook runs after
//! validation like any host hook, and whatever it adjusts is validated again.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use time::Duration;

use crate::error::{ErrorCode, RegistrationError};
use crate::events::{HookContext, RegistrationHook, StatementInfo};
use crate::fetch::Fetcher;
use crate::metadata::{
    ApplicationType, AuthMethod, ClientMetadata, GrantType, JoseAlgorithm, ResponseType,
    SubjectType,
};
use crate::policy::{JoseSupport, ScopePolicy, ServerPolicy};
use crate::registrar::Registrar;
use crate::statements::{
    JwtRules, KeySource, MemoryReplayGuard, ReplayGuard, SignedRequests, SoftwareStatements,
    StaticKeySource, STATEMENT_JWKS_CLAIMS,
};
use crate::store::ClientStore;

/// The signing algorithms FAPI 2.0 allows (FAPI 2.0 Security Profile: PS256, ES256, EdDSA with
/// Ed25519; never RS256, `none` or HMAC).
const FAPI_ALGORITHMS: [&str; 3] = ["PS256", "ES256", "EdDSA"];

/// The signing algorithms UK Open Banking allows: the Directory requires ES256 or PS256 (FAPI 1.0
/// Part 2 §8.6).
const OPEN_BANKING_ALGORITHMS: [&str; 2] = ["PS256", "ES256"];

/// The scopes of the UK Open Banking Read/Write APIs, with `openid`.
const OPEN_BANKING_SCOPES: [&str; 4] = ["openid", "accounts", "payments", "fundsconfirmations"];

/// How old a software statement UK Open Banking accepts by default (its `iat`).
const OPEN_BANKING_STATEMENT_MAX_AGE: Duration = Duration::hours(24);

/// A deployment profile: a [`ServerPolicy`] preset and the rules a policy cannot express.
///
/// | | `OidcDynamic` | `Fapi2` | `UkOpenBanking` | `Mcp` |
/// |---|---|---|---|---|
/// | clients | any | confidential | confidential (`web`, `mobile`) | public (default) or confidential |
/// | authentication | all methods | `private_key_jwt`, mTLS | `private_key_jwt`, `tls_client_auth` | `none` (default), `client_secret_basic`, `client_secret_post`, `private_key_jwt` |
/// | response types | `code`, `id_token`, hybrids | `code` | `code`, `code id_token` (no `implicit` needed) | `code` |
/// | redirect URIs | the crate's rules (web: https; native: loopback `http` IP literals, reverse-DNS private-use schemes, claimed https) | the crate's rules, native apps included | https, ⊆ statement (all of it when omitted) | loopback on any port, `localhost` |
/// | signing algorithms | RS256, PS256, ES256, EdDSA (`none` for ID tokens without a front-channel ID token, and for request objects) | PS256, ES256, EdDSA | PS256, ES256 | defaults |
/// | also | pairwise subjects | sender-constrained tokens recorded (DPoP or certificate-bound, set from the authentication), PAR forced | signed body, statement | never-used clients reaped after 24 h; metadata documents once a fetcher is attached |
///
/// ```
/// use std::sync::Arc;
/// use oauth_dcr::{MemoryStore, RegistrationRequest, RequestContext};
/// use oauth_dcr::profiles::Profile;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let registrar = Profile::Mcp.registrar("https://as.example/register", Arc::new(MemoryStore::new()));
/// let body = br#"{"client_name":"Agent","redirect_uris":["http://127.0.0.1:53682/callback"]}"#;
/// let request = RegistrationRequest::from_json(body, &registrar.policy().limits)?;
/// let client = registrar.register(request, &RequestContext::new()).await?;
/// assert!(client.client_secret.is_none()); // a public client
/// # Ok::<(), oauth_dcr::RegistrationError>(())
/// # }).unwrap();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Profile {
    /// OpenID Connect Dynamic Client Registration 1.0 as the OpenID certification tests exercise
    /// it: response types `code`, `id_token`, `id_token token`, `code id_token`, `code token` and
    /// `code id_token token`, with the `implicit` grant allowed where a response type needs it;
    /// `public` and `pairwise` subjects; every authentication method; `none` as the ID token
    /// algorithm only when no ID token comes from the authorization endpoint; `none` as the
    /// request object algorithm (OIDC Registration §2: unsigned request objects); the
    /// `client_credentials` grant for confidential clients; the OIDC defaults (`web`,
    /// `client_secret_basic`, RS256 ID tokens) written into the registration.
    ///
    /// Add [`Registrar::with_sector_identifier_check`] so that `sector_identifier_uri` documents
    /// are fetched and checked (OIDC Registration §5, the certification's
    /// `oidcc-registration-sector-bad`).
    OidcDynamic,
    /// FAPI 2.0 Security Profile (final): confidential clients only, authenticating with
    /// `private_key_jwt`, `tls_client_auth` or `self_signed_tls_client_auth` (§5.3.2.1: no
    /// `none`, no `client_secret_*`); `require_pushed_authorization_requests` forced to true;
    /// PS256, ES256 or EdDSA for every signing algorithm, introspection responses included
    /// (§5.4.1); client keys of at least 2048 bits (RSA) or 224 bits (EC) (§5.4.1); the `code`
    /// response type, no implicit, no password grant.
    ///
    /// Redirect URIs follow the crate's ordinary rules: web clients register https URIs; native
    /// apps may also register loopback `http` IP literals (any port at request time) and
    /// reverse-DNS private-use schemes (RFC 8252 §7.1, §7.3), which the final profile no longer
    /// forbids.
    ///
    /// Sender-constrained access tokens (§5.3.2.1 item 4) are the server's duty, so the profile
    /// does not refuse a client that omits the flag: it records the binding the client's
    /// authentication implies. mTLS clients get `tls_client_certificate_bound_access_tokens:
    /// true`; others (`private_key_jwt`) get `dpop_bound_access_tokens: true`; a client that
    /// declined that one (`false`) gets the other; a flag the client set to `true` is kept. Your
    /// token endpoint binds the tokens accordingly.
    ///
    /// PKCE with S256 and the use of PAR are enforced at the authorization and PAR endpoints,
    /// not at registration.
    Fapi2,
    /// UK Open Banking (DCR v3.3 and the Directory's SSA specification): a signed request body
    /// (`application/jwt` or `application/jose`, PS256 or ES256) with `iss` (the statement's
    /// `software_id`), `iat`, `exp`, `aud` (the authorization server's issuer or the ASPSP's
    /// organisation identifier) and a `jti` accepted once, signed with a key of the software
    /// statement's key set (`software_jwks_endpoint`); a software statement (PS256 or ES256,
    /// from the directory, at most 24 hours old by default) required; redirect URIs a subset of
    /// the statement's `software_redirect_uris`, all of them when `redirect_uris` is omitted;
    /// `jwks_uri` the statement's `software_jwks_endpoint` (filled in when omitted), no `jwks`
    /// by value; keys never from JWS headers; `web` or `mobile` clients with https redirects,
    /// authenticating with `private_key_jwt` (with `token_endpoint_auth_signing_alg`) or
    /// `tls_client_auth` (with `tls_client_auth_subject_dn`); PS256 or ES256 for every signing
    /// algorithm, PS256 ID tokens by default; `code id_token` registered with
    /// `authorization_code` alone ([`ServerPolicy::hybrid_needs_implicit_grant`] is off); the
    /// scopes `openid`, `accounts`, `payments` and `fundsconfirmations`.
    ///
    /// `application_type: "mobile"` is kept as sent and held to the web rules (https redirect
    /// URIs, no loopback, no private-use schemes): v3.3's mobile apps receive their redirects
    /// through claimed https links.
    ///
    /// Not supported: the CIBA grant (`urn:openid:params:grant-type:ciba`) and its
    /// `backchannel_*` members (v3.3 lists them). The grant is refused as unsupported, and the
    /// members are dropped unless the host accepts them as extensions.
    ///
    /// It needs keys and the issuer: build its registrar with [`OpenBanking::registrar`].
    /// `Profile::UkOpenBanking.registrar` alone refuses every registration.
    ///
    /// Management with the client's own `client_credentials` access token: chain
    /// [`Registrar::manage_with_host_tokens`]: the profile issues no registration access token
    /// ([`ServerPolicy::registration_access_tokens`] is `false`), so without that clients cannot
    /// manage their registration. The request's `iss` must be the statement's `software_id`.
    UkOpenBanking,
    /// Model Context Protocol clients: public clients by default (`none`, no secret issued) and
    /// confidential ones (`client_secret_basic`, `client_secret_post`, `private_key_jwt`), as the
    /// MCP authorization specification has the server support both; loopback redirect URIs
    /// `http://127.0.0.1`, `http://[::1]` and `http://localhost` on any port;
    /// `application_type` `native` when omitted; grant types `authorization_code` and
    /// `refresh_token`, response type `code`; clients never reported as used reaped 24 hours
    /// after registration ([`ServerPolicy::unused_client_ttl`]).
    ///
    /// Client ID Metadata Documents are enabled ([`ServerPolicy::metadata_documents`]): attach
    /// a fetcher with [`Registrar::with_metadata_documents`] and URL client ids resolve
    /// ([`Registrar::resolve_client_id`]), and [`Registrar::discovery_metadata`] advertises them.
    ///
    /// Report uses with [`Registrar::record_use`] from your token endpoint before running
    /// [`Registrar::reap`], or clients in use are reaped too; agents that register on every
    /// start can also turn on [`ServerPolicy::idempotent_registration`]. PKCE is expected of
    /// these clients and enforced at the authorization endpoint, not at registration. A redirect
    /// URI on loopback, `localhost` included, matches on any port
    /// ([`RedirectUri::matches`](crate::RedirectUri::matches)).
    Mcp,
}

impl Profile {
    /// The profile's policy for the given registration endpoint URL; adjust its fields further
    /// if you need to.
    ///
    /// ```
    /// use oauth_dcr::AuthMethod;
    /// use oauth_dcr::profiles::Profile;
    ///
    /// let mut policy = Profile::Fapi2.policy("https://as.example/register");
    /// assert!(!policy.token_endpoint_auth_methods_supported.contains(&AuthMethod::None));
    /// policy.max_clients_per_software_id = Some(1);
    /// ```
    pub fn policy(self, registration_endpoint: impl Into<String>) -> ServerPolicy {
        let mut policy = ServerPolicy::new(registration_endpoint);
        match self {
            Self::OidcDynamic => oidc_dynamic(&mut policy),
            Self::Fapi2 => fapi2(&mut policy),
            Self::UkOpenBanking => uk_open_banking(&mut policy),
            Self::Mcp => mcp(&mut policy),
        }
        policy
    }

    /// JWT rules for software statements and signed request bodies under this profile: the
    /// profile's signing algorithms, the crate's defaults otherwise.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use oauth_dcr::profiles::Profile;
    /// use oauth_dcr::statements::{SoftwareStatements, StaticKeySource};
    ///
    /// let statements = SoftwareStatements::new(Arc::new(StaticKeySource::new()))
    ///     .rules(Profile::Fapi2.jwt_rules());
    /// assert_eq!(Profile::Fapi2.jwt_rules().algorithms, ["PS256", "ES256", "EdDSA"]);
    /// ```
    pub fn jwt_rules(self) -> JwtRules {
        let mut rules = JwtRules::default();
        let algorithms: &[&str] = match self {
            Self::Fapi2 => &FAPI_ALGORITHMS,
            Self::UkOpenBanking => &OPEN_BANKING_ALGORITHMS,
            Self::OidcDynamic | Self::Mcp => return rules,
        };
        rules.algorithms = algorithms.iter().map(|a| (*a).to_owned()).collect();
        rules
    }

    /// The profile's own rules as a hook (for `OidcDynamic` and `Mcp`, which need none, a hook
    /// that accepts everything).
    ///
    /// [`Registrar::with_hook`] replaces the hook [`registrar`](Self::registrar) installed: to
    /// add rules of your own, call this hook from yours first.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use oauth_dcr::{ClientMetadata, RegistrationError};
    /// use oauth_dcr::events::{HookContext, RegistrationHook};
    /// use oauth_dcr::profiles::Profile;
    ///
    /// struct PartnersOnly(Arc<dyn RegistrationHook>);
    ///
    /// #[async_trait::async_trait]
    /// impl RegistrationHook for PartnersOnly {
    ///     async fn check(&self, metadata: &mut ClientMetadata, context: &HookContext<'_>) -> Result<(), RegistrationError> {
    ///         self.0.check(metadata, context).await?; // the profile's rules first
    ///         if metadata.software_id.is_none() {
    ///             return Err(RegistrationError::refused("software_id is required"));
    ///         }
    ///         Ok(())
    ///     }
    /// }
    ///
    /// let hook = Arc::new(PartnersOnly(Profile::Fapi2.hook()));
    /// ```
    pub fn hook(self) -> Arc<dyn RegistrationHook> {
        Arc::new(ProfileRules(self))
    }

    /// A registrar over `store` with the profile's policy and, where it has rules of its own, its
    /// hook. The other builder methods ([`Registrar::with_clock`], event sinks, initial access
    /// tokens, …) still apply.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use oauth_dcr::MemoryStore;
    /// use oauth_dcr::profiles::Profile;
    ///
    /// let registrar = Profile::OidcDynamic.registrar("https://as.example/register", Arc::new(MemoryStore::new()));
    /// assert_eq!(registrar.policy().response_types_supported.len(), 6);
    /// ```
    ///
    /// # Panics
    /// As [`Registrar::new`]: when the profile's policy needs a capability `store` does not
    /// declare ([`Profile::Mcp`] sets an unused-client TTL, which needs a
    /// [`UsageLog`](crate::store::UsageLog)).
    pub fn registrar(
        self,
        registration_endpoint: impl Into<String>,
        store: Arc<dyn ClientStore>,
    ) -> Registrar {
        let registrar = Registrar::new(self.policy(registration_endpoint), store);
        match self {
            Self::Fapi2 | Self::UkOpenBanking => registrar.with_hook(self.hook()),
            Self::OidcDynamic | Self::Mcp => registrar,
        }
    }
}

fn oidc_dynamic(policy: &mut ServerPolicy) {
    policy.grant_types_supported = vec![
        GrantType::AuthorizationCode,
        GrantType::Implicit,
        GrantType::RefreshToken,
        GrantType::ClientCredentials,
    ];
    policy.response_types_supported = [
        "code",
        "id_token",
        "id_token token",
        "code id_token",
        "code token",
        "code id_token token",
    ]
    .map(ResponseType::new)
    .to_vec();
    policy.subject_types_supported = vec![SubjectType::Public, SubjectType::Pairwise];
    // OIDC Registration §2: `none` is allowed when no ID token comes from the authorization
    // endpoint; validation refuses it with response types that return one.
    policy
        .jose
        .id_token_signing
        .push(JoseAlgorithm::from("none"));
    // OIDC Registration §2: `request_object_signing_alg` "MAY be `none`" (the certification's
    // dynamic plan registers unsigned request objects); an unsigned one is only as trustworthy as
    // the authorization request it replaces.
    policy
        .jose
        .request_object_signing
        .push(JoseAlgorithm::from("none"));
    // OIDC Registration §2: "The default, if omitted, is RS256."
    policy.defaults.id_token_signed_response_alg = Some(JoseAlgorithm::from("RS256"));
}

fn fapi2(policy: &mut ServerPolicy) {
    policy.grant_types_supported = vec![
        GrantType::AuthorizationCode,
        GrantType::ClientCredentials,
        GrantType::RefreshToken,
    ];
    policy.response_types_supported = vec![ResponseType::code()];
    policy.token_endpoint_auth_methods_supported = vec![
        AuthMethod::PrivateKeyJwt,
        AuthMethod::TlsClientAuth,
        AuthMethod::SelfSignedTlsClientAuth,
    ];
    policy.defaults.token_endpoint_auth_method = AuthMethod::PrivateKeyJwt;
    only_signing(&mut policy.jose, &FAPI_ALGORITHMS);
    policy.defaults.id_token_signed_response_alg = Some(JoseAlgorithm::from("PS256"));
}

fn uk_open_banking(policy: &mut ServerPolicy) {
    // Clients manage their registration with their own access token
    // (`Registrar::manage_with_host_tokens`), not a registration access token.
    policy.registration_access_tokens = false;
    // DCR v3.3 lists `code id_token` with the grant types `authorization_code`,
    // `client_credentials` and `refresh_token`, never `implicit`: the hybrid's ID token is a
    // detached signature, and no access token comes from the authorization endpoint.
    policy.grant_types_supported = vec![
        GrantType::AuthorizationCode,
        GrantType::ClientCredentials,
        GrantType::RefreshToken,
    ];
    policy.response_types_supported =
        vec![ResponseType::code(), ResponseType::new("code id_token")];
    policy.hybrid_needs_implicit_grant = false;
    policy.scope = ScopePolicy::reject_outside(OPEN_BANKING_SCOPES);
    policy.token_endpoint_auth_methods_supported =
        vec![AuthMethod::PrivateKeyJwt, AuthMethod::TlsClientAuth];
    policy.defaults.token_endpoint_auth_method = AuthMethod::PrivateKeyJwt;
    // DCR v3.3: `web` or `mobile`. `mobile` is not an OIDC value: it is kept as sent, and
    // validation holds every application type other than `native` to the web rules (https
    // redirect URIs only), which is what mobile apps with claimed https links register.
    policy.application_types_supported =
        vec![ApplicationType::Web, ApplicationType::from("mobile")];
    only_signing(&mut policy.jose, &OPEN_BANKING_ALGORITHMS);
    policy.defaults.id_token_signed_response_alg = Some(JoseAlgorithm::from("PS256"));
}

fn mcp(policy: &mut ServerPolicy) {
    policy.grant_types_supported = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    policy.response_types_supported = vec![ResponseType::code()];
    // MCP authorization ("Client Registration"; 2025-06-18 §2.4, 2025-11-25 §"Dynamic Client
    // Registration"): the authorization server supports public and confidential clients; the
    // official SDKs' example clients register `client_secret_post`. Public (`none`) is the
    // default for clients that name no method.
    policy.token_endpoint_auth_methods_supported = vec![
        AuthMethod::None,
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::PrivateKeyJwt,
    ];
    policy.defaults.token_endpoint_auth_method = AuthMethod::None;
    // MCP clients are mostly desktop and command-line apps that register loopback redirect URIs
    // without naming their application type (RFC 8252 §8.4: record them as native).
    policy.defaults.application_type = ApplicationType::Native;
    policy.redirect.allow_localhost = true;
    policy.unused_client_ttl = Some(Duration::hours(24));
    // MCP prefers Client ID Metadata Documents (2025-11-25): enabled here, resolved once the
    // host attaches a fetcher (`Registrar::with_metadata_documents`); until then URL client ids
    // answer 403 and discovery does not advertise them.
    policy.metadata_documents = Some(crate::documents::DocumentPolicy::default());
}

/// Restricts every signing algorithm list to `algorithms`; encryption keeps its defaults.
fn only_signing(jose: &mut JoseSupport, algorithms: &[&str]) {
    let list: Vec<JoseAlgorithm> = algorithms.iter().map(|a| JoseAlgorithm::from(*a)).collect();
    for supported in [
        &mut jose.id_token_signing,
        &mut jose.userinfo_signing,
        &mut jose.request_object_signing,
        &mut jose.token_endpoint_auth_signing,
        &mut jose.authorization_signing,
        &mut jose.introspection_signing,
    ] {
        supported.clone_from(&list);
    }
}

/// The rules of a profile that its policy cannot express.
#[derive(Debug)]
struct ProfileRules(Profile);

#[async_trait]
impl RegistrationHook for ProfileRules {
    async fn check(
        &self,
        metadata: &mut ClientMetadata,
        context: &HookContext<'_>,
    ) -> Result<(), RegistrationError> {
        match self.0 {
            Profile::Fapi2 => fapi2_rules(metadata),
            Profile::UkOpenBanking => open_banking_rules(metadata, context),
            Profile::OidcDynamic | Profile::Mcp => Ok(()),
        }
    }
}

fn fapi2_rules(metadata: &mut ClientMetadata) -> Result<(), RegistrationError> {
    // Redirect URIs: the ordinary rules, already applied by validation. The final FAPI 2.0
    // Security Profile dropped the https-only rule its drafts had (FAPI issue #402): native apps
    // register loopback `http` and reverse-DNS private-use redirects as RFC 8252 §7.1 and §7.3
    // allow them.
    sender_constraint(metadata);
    // FAPI 2.0 requires pushed authorization requests of every client; RFC 7591 §3.2.1 lets the
    // server replace a requested value, and the response shows the one registered.
    metadata.require_pushed_authorization_requests = Some(true);
    Ok(())
}

/// FAPI 2.0 §5.3.2.1 item 4: the authorization server "shall only issue sender-constrained
/// access tokens". That is the server's duty, not a rule about what a client may register: a
/// client that names no binding gets the one its authentication implies (RFC 7591 §3.2.1 lets
/// the server replace requested values; the response shows what was registered).
///
/// - a flag already `true` is kept: the client chose its binding;
/// - mTLS clients (`tls_client_auth`, `self_signed_tls_client_auth`) get
///   `tls_client_certificate_bound_access_tokens` (RFC 8705 §3): they hold the certificate;
/// - every other client (`private_key_jwt`) gets `dpop_bound_access_tokens` (RFC 9449): it needs
///   no client certificate, which is what a `private_key_jwt` client, often a native app, lacks;
/// - a client that declined the implied binding (`false`) gets the other one; one that declined
///   both still gets the implied one, since the server must bind its tokens either way.
fn sender_constraint(metadata: &mut ClientMetadata) {
    let dpop = metadata.dpop_bound_access_tokens;
    let certificate = metadata.tls_client_certificate_bound_access_tokens;
    if dpop == Some(true) || certificate == Some(true) {
        return;
    }
    let mtls = matches!(
        metadata.token_endpoint_auth_method,
        Some(AuthMethod::TlsClientAuth | AuthMethod::SelfSignedTlsClientAuth)
    );
    let (implied_declined, other_declined) = if mtls {
        (certificate == Some(false), dpop == Some(false))
    } else {
        (dpop == Some(false), certificate == Some(false))
    };
    let use_certificate = mtls != (implied_declined && !other_declined);
    if use_certificate {
        metadata.tls_client_certificate_bound_access_tokens = Some(true);
    } else {
        metadata.dpop_bound_access_tokens = Some(true);
    }
}

fn open_banking_rules(
    metadata: &ClientMetadata,
    context: &HookContext<'_>,
) -> Result<(), RegistrationError> {
    // The registrar refuses plain JSON itself when built by `OpenBanking`; this also holds a
    // registrar assembled by hand to the profile.
    if context.signed_request.is_none() {
        return Err(RegistrationError::invalid_request(
            "UK Open Banking requires a signed request body (application/jwt)",
        ));
    }
    let Some(statement) = context.statement else {
        return Err(RegistrationError::rejected(
            ErrorCode::InvalidSoftwareStatement,
            "a software statement is required",
        ));
    };
    // The request is the software's own: its issuer is the statement's software_id.
    let software_id = statement.claims.get("software_id").and_then(Value::as_str);
    let request_issuer = context
        .signed_request
        .and_then(|claims| claims.get("iss"))
        .and_then(Value::as_str);
    if software_id.is_none() || request_issuer != software_id {
        return Err(RegistrationError::invalid_request(
            "the signed request's iss must be the software statement's software_id",
        ));
    }
    let allowed = strings(statement, "software_redirect_uris").ok_or_else(|| {
        RegistrationError::rejected(
            ErrorCode::InvalidSoftwareStatement,
            "the software statement's software_redirect_uris must be an array of URIs",
        )
    })?;
    for uri in metadata.redirect_uris.iter().flatten() {
        // Exact string comparison (RFC 9700 §2.1), not the case-insensitive one some ecosystems
        // use.
        if !allowed.contains(&uri.as_str()) {
            return Err(RegistrationError::rejected(
                ErrorCode::InvalidRedirectUri,
                format!(
                    "redirect_uris: `{uri}` is not among the software statement's \
                     software_redirect_uris"
                ),
            ));
        }
    }
    statement_keys(metadata, statement)?;
    authentication_details(metadata)
}

/// DCR v3.3: `token_endpoint_auth_signing_alg` "MUST be specified" with `private_key_jwt`, and
/// `tls_client_auth_subject_dn` with `tls_client_auth` (the Directory identifies the client's
/// certificate by its subject).
fn authentication_details(metadata: &ClientMetadata) -> Result<(), RegistrationError> {
    match metadata.token_endpoint_auth_method {
        Some(AuthMethod::PrivateKeyJwt) if metadata.token_endpoint_auth_signing_alg.is_none() => {
            Err(RegistrationError::refused(
                "token_endpoint_auth_signing_alg is required with private_key_jwt under UK Open \
                 Banking",
            ))
        }
        Some(AuthMethod::TlsClientAuth) if metadata.tls_client_auth_subject_dn.is_none() => {
            Err(RegistrationError::refused(
                "tls_client_auth_subject_dn is required with tls_client_auth under UK Open \
                 Banking",
            ))
        }
        _ => Ok(()),
    }
}

/// The client's keys are the ones the directory published for the software: no `jwks` by value,
/// and no `jwks_uri` other than the statement's.
fn statement_keys(
    metadata: &ClientMetadata,
    statement: &StatementInfo,
) -> Result<(), RegistrationError> {
    let Some((claim, endpoint)) = STATEMENT_JWKS_CLAIMS
        .iter()
        .find_map(|c| Some((*c, statement.claims.get(*c)?.as_str()?)))
    else {
        return Ok(());
    };
    if metadata.jwks.is_some() {
        return Err(RegistrationError::refused(format!(
            "jwks: keys by value are not accepted; the client's keys are the software \
             statement's {claim}"
        )));
    }
    match &metadata.jwks_uri {
        Some(uri) if uri != endpoint => Err(RegistrationError::refused(format!(
            "jwks_uri `{uri}` must be the software statement's {claim} `{endpoint}`"
        ))),
        _ => Ok(()),
    }
}

/// A statement claim that is an array of strings.
fn strings<'a>(statement: &'a StatementInfo, claim: &str) -> Option<Vec<&'a str>> {
    match statement.claims.get(claim)? {
        Value::Array(items) => items.iter().map(Value::as_str).collect(),
        _ => None,
    }
}

/// What [`Profile::UkOpenBanking`] needs besides its policy: the authorization server's issuer
/// and organisation identifier (the accepted `aud` of signed requests), the directory's keys for
/// software statements, a [`Fetcher`] for the software's key sets, and a `jti` replay guard.
///
/// A signed request is verified with the keys of the key set its verified software statement
/// names (`software_jwks_endpoint`, or `software_jwks_uri`), fetched through the fetcher and
/// cached per URL: the Directory's SSA specification says the request "MUST be signed with a
/// key in the software statement's key set". A statement with a `jwks` claim names its keys by
/// value instead. Statement `jti`s are not guarded: one statement serves several registrations.
///
/// ```
/// use std::sync::Arc;
/// use oauth_dcr::MemoryStore;
/// use oauth_dcr::profiles::OpenBanking;
/// use oauth_dcr::statements::StaticKeySource;
/// # use oauth_dcr::fetch::{FetchError, FetchLimits, Fetched, Fetcher};
/// # struct Offline;
/// # #[async_trait::async_trait]
/// # impl Fetcher for Offline {
/// #     async fn fetch(&self, _: &str, _: FetchLimits) -> Result<Fetched, FetchError> {
/// #         Err(FetchError::Timeout)
/// #     }
/// # }
/// # let fetcher: Arc<dyn Fetcher> = Arc::new(Offline); // `HttpFetcher::new()?` in production
///
/// let directory = Arc::new(StaticKeySource::new()); // .with_issuer("OpenBanking Ltd", keys)
/// let registrar = OpenBanking::new("https://as.bank.example", directory, fetcher)
///     .audience("0015800001041REAAY") // the ASPSP's organisation id in the directory
///     .registrar("https://as.bank.example/register", Arc::new(MemoryStore::new()));
/// assert!(registrar.accepts_signed_requests());
/// ```
#[derive(Clone)]
pub struct OpenBanking {
    issuer: String,
    audiences: Vec<String>,
    directory: Arc<dyn KeySource>,
    fetcher: Arc<dyn Fetcher>,
    replay: Arc<dyn ReplayGuard>,
    statement_max_age: Option<Duration>,
}

impl fmt::Debug for OpenBanking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenBanking")
            .field("issuer", &self.issuer)
            .field("audiences", &self.audiences)
            .field("statement_max_age", &self.statement_max_age)
            .finish_non_exhaustive()
    }
}

impl OpenBanking {
    /// Trusts `directory` for software statements, and fetches the software key sets the
    /// statements name through `fetcher`, for signed requests addressed to `issuer`; with an
    /// in-memory replay guard and software statements at most 24 hours old.
    pub fn new(
        issuer: impl Into<String>,
        directory: Arc<dyn KeySource>,
        fetcher: Arc<dyn Fetcher>,
    ) -> Self {
        Self {
            issuer: issuer.into(),
            audiences: Vec::new(),
            directory,
            fetcher,
            replay: Arc::new(MemoryReplayGuard::new()),
            statement_max_age: Some(OPEN_BANKING_STATEMENT_MAX_AGE),
        }
    }

    /// Accepts `audience` as the `aud` of signed requests besides the issuer: DCR v3.3 lets the
    /// TPP address the ASPSP by its organisation identifier in the directory (what the
    /// Open Banking `conformance-dcr` tool sends). Call it once per accepted value.
    #[must_use]
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audiences.push(audience.into());
        self
    }

    /// Sets how old (by `iat`) a software statement may be when it is presented; `None` accepts
    /// any age. The Directory asks for "pragmatic time ranges". Defaults to 24 hours.
    #[must_use]
    pub fn statement_max_age(mut self, max_age: Option<Duration>) -> Self {
        self.statement_max_age = max_age;
        self
    }

    /// Replaces the replay guard (replicas share one through their database).
    #[must_use]
    pub fn replay_guard(mut self, guard: Arc<dyn ReplayGuard>) -> Self {
        self.replay = guard;
        self
    }

    /// A registrar over `store` with the profile's policy and hook, statements required and
    /// signed request bodies required.
    ///
    /// Statements must carry `iat`, `software_id` and `software_redirect_uris`; request bodies
    /// `iss`, `iat`, `exp`, `aud` (the issuer or an [`audience`](Self::audience)) and a `jti` not
    /// seen before its `exp`. A request that omits `redirect_uris` registers all of the
    /// statement's `software_redirect_uris`, one that omits `jwks_uri` its
    /// `software_jwks_endpoint` (DCR v3.3). Chain [`Registrar::manage_with_host_tokens`] so that
    /// clients manage their registration with the access token your token endpoint issued them
    /// (`client_credentials`).
    pub fn registrar(
        self,
        registration_endpoint: impl Into<String>,
        store: Arc<dyn ClientStore>,
    ) -> Registrar {
        let policy = Profile::UkOpenBanking.policy(registration_endpoint);
        self.registrar_with_policy(policy, store)
    }

    /// As [`registrar`](Self::registrar), over a policy you adjusted from
    /// [`Profile::UkOpenBanking`]'s (more scopes, client limits, or, for a local walkthrough
    /// only, the `dangerously_*` switches that let a statement's `software_jwks_endpoint` on
    /// `http` loopback become the client's `jwks_uri`). The profile's own rules still run as its
    /// hook.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use oauth_dcr::MemoryStore;
    /// use oauth_dcr::policy::ScopePolicy;
    /// use oauth_dcr::profiles::{OpenBanking, Profile};
    /// use oauth_dcr::statements::StaticKeySource;
    /// # use oauth_dcr::fetch::{FetchError, FetchLimits, Fetched, Fetcher};
    /// # struct Offline;
    /// # #[async_trait::async_trait]
    /// # impl Fetcher for Offline {
    /// #     async fn fetch(&self, _: &str, _: FetchLimits) -> Result<Fetched, FetchError> {
    /// #         Err(FetchError::Timeout)
    /// #     }
    /// # }
    ///
    /// let mut policy = Profile::UkOpenBanking.policy("https://as.bank.example/register");
    /// policy.scope = ScopePolicy::reject_outside(["openid", "accounts", "payments", "eventpolling"]);
    /// let registrar = OpenBanking::new("https://as.bank.example", Arc::new(StaticKeySource::new()), Arc::new(Offline))
    ///     .registrar_with_policy(policy, Arc::new(MemoryStore::new()));
    /// assert!(registrar.policy().scope.allowed().unwrap().contains("eventpolling"));
    /// ```
    ///
    /// # Panics
    /// As [`Registrar::new`]: when `policy` needs a capability `store` does not declare (client
    /// limits need a [`ClientCount`](crate::store::ClientCount)).
    pub fn registrar_with_policy(
        self,
        policy: ServerPolicy,
        store: Arc<dyn ClientStore>,
    ) -> Registrar {
        let profile = Profile::UkOpenBanking;
        let mut statement_rules = profile.jwt_rules();
        statement_rules.required_claims = claims(&["iat", "software_id", "software_redirect_uris"]);
        statement_rules.max_age = self.statement_max_age;
        let statements = SoftwareStatements::new(self.directory)
            .rules(statement_rules)
            .fill_from("redirect_uris", ["software_redirect_uris"])
            .fill_from("jwks_uri", STATEMENT_JWKS_CLAIMS)
            .required();
        let mut request_rules = profile.jwt_rules();
        // The profile binds `iss` to the statement's `software_id`: it is required whatever
        // keys verify the request.
        request_rules.required_claims = claims(&["iss", "iat", "exp", "aud", "jti"]);
        request_rules.audience = Some(self.issuer);
        request_rules.other_audiences = self.audiences;
        // Bodies without a statement that names a key set find no keys here: the statement is
        // required, and so are its keys.
        let requests = SignedRequests::new(Arc::new(StaticKeySource::new()))
            .rules(request_rules)
            .keys_from_statement_endpoints(self.fetcher)
            .replay_guard(self.replay)
            .required();
        Registrar::new(policy, store)
            .with_hook(profile.hook())
            .with_software_statements(statements)
            .with_signed_requests(requests)
    }
}

fn claims(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}
