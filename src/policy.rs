//! [`ServerPolicy`]: what the server supports, the defaults it applies, its limits and lifetimes.
//!
//! Every field documents its default. Settings that weaken a security check carry `dangerously`
//! in their name.

use std::collections::BTreeSet;

use time::Duration;

use crate::metadata::{
    ApplicationType, AuthMethod, GrantType, JoseAlgorithm, ResponseType, SubjectType,
};

/// The server's registration policy: supported values, defaults, limits and lifetimes.
///
/// ```
/// use oauth_dcr::ServerPolicy;
/// use oauth_dcr::policy::ScopePolicy;
///
/// let mut policy = ServerPolicy::new("https://as.example/register");
/// policy.scope = ScopePolicy::narrow_to(["openid", "profile", "email"]);
/// policy.rotate_on_read = false;
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerPolicy {
    /// The registration endpoint URL; a client's `registration_client_uri` is this URL, a `/` and
    /// its `client_id`. Set by [`ServerPolicy::new`].
    pub registration_endpoint: String,
    /// Grant types clients may register. Defaults to `authorization_code`, `client_credentials`
    /// and `refresh_token` (RFC 9700 §2.1.2 and §2.4: no `implicit`, no `password`).
    pub grant_types_supported: Vec<GrantType>,
    /// Response types clients may register, compared without regard to the order of their parts.
    /// Defaults to `code`.
    pub response_types_supported: Vec<ResponseType>,
    /// Hold hybrid response types (`code id_token`, `code token`, `code id_token token`) to the
    /// OIDC Registration §2 pairing with the `implicit` grant, as for `token` and `id_token`
    /// alone. With `false` a hybrid needs `authorization_code` only, and `implicit` is not
    /// implied when `grant_types` is omitted: UK Open Banking registers `code id_token` with
    /// grant types that never list `implicit` (DCR v3.3), because the authorization server
    /// returns only the ID token, used as a detached signature, from the authorization endpoint.
    /// `token` and `id_token` without `code` still need `implicit`. Defaults to `true`.
    pub hybrid_needs_implicit_grant: bool,
    /// Token endpoint authentication methods. Defaults to `client_secret_basic`,
    /// `client_secret_post`, `client_secret_jwt`, `private_key_jwt`, `tls_client_auth`,
    /// `self_signed_tls_client_auth` and `none`.
    pub token_endpoint_auth_methods_supported: Vec<AuthMethod>,
    /// Application types. Defaults to `web` and `native`.
    pub application_types_supported: Vec<ApplicationType>,
    /// Subject identifier types. Defaults to `public`.
    pub subject_types_supported: Vec<SubjectType>,
    /// Which scopes a client may register, also advertised in discovery as `scopes_supported`.
    /// Defaults to [`ScopePolicy::standard`]: the OpenID Connect standard scopes (`openid`,
    /// `profile`, `email`, `address`, `phone`, `offline_access`), anything else refused with
    /// `invalid_client_metadata`. Declare your own with [`ScopePolicy::reject_outside`] or
    /// [`ScopePolicy::narrow_to`].
    pub scope: ScopePolicy,
    /// Supported JOSE algorithms, per use. Defaults to [`JoseSupport::default`].
    pub jose: JoseSupport,
    /// Values applied to omitted metadata. Defaults to the RFC defaults ([`Defaults::default`]).
    pub defaults: Defaults,
    /// Redirect URI rules. Defaults to [`RedirectPolicy::default`].
    pub redirect: RedirectPolicy,
    /// Allow `http` for the non-redirect URL metadata (`client_uri`, `logo_uri`, `jwks_uri`, …),
    /// for development only. Defaults to `false` (https only).
    pub dangerously_allow_http_metadata_uris: bool,
    /// Accept URLs the server itself fetches or calls (`jwks_uri`, `sector_identifier_uri`,
    /// `request_uris`, `backchannel_logout_uri`, an accepted
    /// `backchannel_client_notification_endpoint`) on IP literals outside the public ranges
    /// (loopback, private, link-local such as the `169.254.169.254` cloud metadata service,
    /// unspecified, …) and on `localhost` names, for development only: with it, a client can
    /// point the server at its own internal network. Defaults to `false` (refused with
    /// `invalid_client_metadata`).
    pub dangerously_allow_private_addresses: bool,
    /// Require `logo_uri`, `policy_uri`, `tos_uri` and `client_uri` to be on a host of one of the
    /// redirect URIs (OIDC Registration §9.1, RFC 7591 §5), and so must their language-tagged
    /// variants (`logo_uri#en`). Defaults to `false`.
    pub require_same_host_display_uris: bool,
    /// Request parsing limits. Defaults to [`RequestLimits::default`].
    pub limits: RequestLimits,
    /// Extension members (not defined by the supported specifications) that are kept, stored and
    /// returned. Anything else unknown is dropped (RFC 7591 §2). Server-owned members and common
    /// trust flags (`skip_consent`, `trusted`, …) are never kept, whatever this says.
    /// Defaults to none.
    pub accepted_extensions: BTreeSet<String>,
    /// Lifetime of issued client secrets; `None` means they never expire
    /// (`client_secret_expires_at` = 0). Defaults to `None`.
    pub client_secret_lifetime: Option<Duration>,
    /// Idempotent re-registration: a registration carrying `software_id` and `instance_key` (a
    /// random value the client instance generated once and keeps, as secret as a password)
    /// returns the client registered earlier with the same pair instead of a new one, with its
    /// metadata replaced, a fresh registration access token and, if it uses one, a fresh client
    /// secret: the pile-up of identical clients from agents that register on every start ends.
    /// Only the hash of the pair is stored. Defaults to `false`.
    pub idempotent_registration: bool,
    /// Dynamically registered clients never reported as used
    /// ([`Registrar::record_use`](crate::Registrar::record_use)) within this time after their
    /// registration are removed by [`Registrar::reap`](crate::Registrar::reap). Defaults to
    /// `None` (only dead clients are reaped).
    pub unused_client_ttl: Option<Duration>,
    /// How long the previous client secret stays valid after an update asked for a new one
    /// (`"rotate_client_secret": true`), so running instances of the client can roll over.
    /// Defaults to 1 hour.
    pub secret_rotation_overlap: Duration,
    /// Lifetime of registration access tokens; `None` means they never expire. Defaults to 30
    /// days.
    ///
    /// RFC 7592 §5 says the token SHOULD NOT expire while the client is registered. With rotation
    /// on read (the default), an active client renews its token, and its expiry, every time it
    /// reads its registration; a client that stays silent for longer than the lifetime is locked
    /// out of its registration (not deleted) until the host re-issues a token. Set `None` for the
    /// RFC's behaviour.
    pub registration_token_lifetime: Option<Duration>,
    /// Issue registration access tokens at all (RFC 7592). With `false` the client configuration
    /// endpoint accepts only the client's own host-issued access tokens
    /// ([`Registrar::manage_with_host_tokens`](crate::Registrar::manage_with_host_tokens)), as UK
    /// Open Banking style deployments do, and responses carry no `registration_access_token`.
    /// Defaults to `true`.
    pub registration_access_tokens: bool,
    /// Issue a new registration access token on every read; the old one stops working at once.
    /// Defaults to `true`.
    pub rotate_on_read: bool,
    /// Whether the registration endpoint accepts registrations. When `false` it answers 403
    /// `access_denied`. Defaults to `true`.
    pub registration_enabled: bool,
    /// Whether the client configuration endpoint (read, update, delete) works. When `false` it
    /// answers 403 `access_denied`. Defaults to `true`.
    pub management_enabled: bool,
    /// When set, every redirect URI must be on one of these hosts (an entry `.example.com` also
    /// admits its subdomains); others are refused with `invalid_redirect_uri`. Defaults to `None`.
    pub trusted_redirect_hosts: Option<BTreeSet<String>>,
    /// Most clients the store may hold; further registrations are refused. Counted before the
    /// write, so concurrent registrations may overshoot by a few. Defaults to `None`.
    pub max_clients: Option<u64>,
    /// Most clients per `software_id`. Defaults to `None`.
    pub max_clients_per_software_id: Option<u64>,
    /// Client ID Metadata Documents: when set, URL client identifiers are resolved by
    /// [`Registrar::resolve_client_id`](crate::Registrar::resolve_client_id) and discovery
    /// advertises `client_id_metadata_document_supported`. Defaults to `None`.
    pub metadata_documents: Option<DocumentPolicy>,
    /// Browser origins (`https://app.example`) allowed to call the endpoints cross-origin; the
    /// [`http`](crate::http) adapter answers CORS preflights for them. Defaults to none.
    pub allowed_origins: Vec<String>,
    /// Treat a rotated-away registration access token presented again as theft: revoke the
    /// client's current token too (the owner recovers through the host) and emit an
    /// [`Operation::TokenReuse`](crate::events::Operation::TokenReuse) event. A client that races itself
    /// (two calls with one token) and retries with the loser's token trips it too, so clients
    /// should serialise their management calls. Defaults to `true`.
    pub detect_token_reuse: bool,
    /// Lost-response grace window: a rotated-away token is accepted once more within this time
    /// after its rotation (the new token is then replaced again), so a response lost to a network
    /// blip does not lock the client out. Reuse after that, or a second use, is detected as
    /// theft; so is any later use of the token the grace use replaced (whoever holds it, the
    /// owner or a thief, the other holds the new one), which the record keeps in
    /// [`ClientRecord::retired_tokens`](crate::ClientRecord::retired_tokens). A client may use the
    /// window a few times (eight) before its next use of it counts as reuse. Defaults to `None`
    /// (off); a few seconds when on.
    pub token_rotation_grace: Option<Duration>,
    /// Issue a new registration access token on every update; the old one stops working at once.
    /// Defaults to `true`.
    pub rotate_on_update: bool,
}

impl ServerPolicy {
    /// A policy with safe defaults for the given registration endpoint URL.
    pub fn new(registration_endpoint: impl Into<String>) -> Self {
        Self {
            registration_endpoint: registration_endpoint.into(),
            grant_types_supported: vec![
                GrantType::AuthorizationCode,
                GrantType::ClientCredentials,
                GrantType::RefreshToken,
            ],
            response_types_supported: vec![ResponseType::code()],
            hybrid_needs_implicit_grant: true,
            token_endpoint_auth_methods_supported: vec![
                AuthMethod::ClientSecretBasic,
                AuthMethod::ClientSecretPost,
                AuthMethod::ClientSecretJwt,
                AuthMethod::PrivateKeyJwt,
                AuthMethod::TlsClientAuth,
                AuthMethod::SelfSignedTlsClientAuth,
                AuthMethod::None,
            ],
            application_types_supported: vec![ApplicationType::Web, ApplicationType::Native],
            subject_types_supported: vec![SubjectType::Public],
            scope: ScopePolicy::standard(),
            jose: JoseSupport::default(),
            defaults: Defaults::default(),
            redirect: RedirectPolicy::default(),
            dangerously_allow_http_metadata_uris: false,
            dangerously_allow_private_addresses: false,
            require_same_host_display_uris: false,
            limits: RequestLimits::default(),
            accepted_extensions: BTreeSet::new(),
            client_secret_lifetime: None,
            secret_rotation_overlap: Duration::hours(1),
            unused_client_ttl: None,
            idempotent_registration: false,
            registration_token_lifetime: Some(Duration::days(30)),
            rotate_on_read: true,
            registration_access_tokens: true,
            allowed_origins: Vec::new(),
            metadata_documents: None,
            registration_enabled: true,
            management_enabled: true,
            trusted_redirect_hosts: None,
            max_clients: None,
            max_clients_per_software_id: None,
            rotate_on_update: true,
            detect_token_reuse: true,
            token_rotation_grace: None,
        }
    }

    /// The `registration_client_uri` of a client.
    pub fn registration_client_uri(&self, client_id: &str) -> String {
        format!(
            "{}/{client_id}",
            self.registration_endpoint.trim_end_matches('/')
        )
    }

    pub(crate) fn accepts_extension(&self, name: &str) -> bool {
        self.accepted_extensions.contains(name)
    }

    pub(crate) fn supports_response_type(&self, response_type: &ResponseType) -> bool {
        // The same string is the same response type; only other spellings need normalizing.
        if self.response_types_supported.contains(response_type) {
            return true;
        }
        let wanted = response_type.normalized();
        self.response_types_supported
            .iter()
            .any(|s| s.normalized() == wanted)
    }
}

/// What happens to requested scopes (RFC 7591 §2 lets a server narrow or refuse them).
///
/// The scopes of [`Narrow`](Self::Narrow) and [`Reject`](Self::Reject) are advertised in
/// discovery as `scopes_supported`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopePolicy {
    /// Any syntactically valid scope is accepted, `admin` included, and discovery advertises no
    /// `scopes_supported`. Only for a server whose authorization endpoint decides every scope
    /// itself, whatever the registration says.
    Any,
    /// Scopes outside the set are silently removed from the registration.
    Narrow(BTreeSet<String>),
    /// A request with a scope outside the set is refused with `invalid_client_metadata`.
    Reject(BTreeSet<String>),
}

impl ScopePolicy {
    /// The OpenID Connect standard scopes (OIDC Core §5.4 and §11): `openid`, `profile`,
    /// `email`, `address`, `phone` and `offline_access`.
    pub const STANDARD: [&'static str; 6] = [
        "openid",
        "profile",
        "email",
        "address",
        "phone",
        "offline_access",
    ];

    /// The default of [`ServerPolicy::new`]: [`ScopePolicy::Reject`] anything outside
    /// [`STANDARD`](Self::STANDARD).
    pub fn standard() -> Self {
        Self::reject_outside(Self::STANDARD)
    }

    /// [`ScopePolicy::Narrow`] to the given scopes.
    pub fn narrow_to<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Self {
        Self::Narrow(scopes.into_iter().map(str::to_owned).collect())
    }

    /// [`ScopePolicy::Reject`] anything outside the given scopes.
    pub fn reject_outside<'a>(scopes: impl IntoIterator<Item = &'a str>) -> Self {
        Self::Reject(scopes.into_iter().map(str::to_owned).collect())
    }

    /// The allowed scopes, if restricted.
    pub fn allowed(&self) -> Option<&BTreeSet<String>> {
        match self {
            Self::Any => None,
            Self::Narrow(s) | Self::Reject(s) => Some(s),
        }
    }
}

/// Supported JOSE algorithms for each use, advertised in discovery and enforced on registration.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct JoseSupport {
    /// `id_token_signed_response_alg`. Defaults to RS256, PS256, ES256, EdDSA.
    pub id_token_signing: Vec<JoseAlgorithm>,
    /// `userinfo_signed_response_alg`. Defaults to RS256, PS256, ES256, EdDSA.
    pub userinfo_signing: Vec<JoseAlgorithm>,
    /// `request_object_signing_alg`. Defaults to RS256, PS256, ES256, EdDSA.
    pub request_object_signing: Vec<JoseAlgorithm>,
    /// `token_endpoint_auth_signing_alg`. Defaults to RS256, PS256, ES256, EdDSA, HS256.
    pub token_endpoint_auth_signing: Vec<JoseAlgorithm>,
    /// `authorization_signed_response_alg` (JARM). Defaults to RS256, PS256, ES256, EdDSA.
    pub authorization_signing: Vec<JoseAlgorithm>,
    /// `introspection_signed_response_alg`. Defaults to RS256, PS256, ES256, EdDSA.
    pub introspection_signing: Vec<JoseAlgorithm>,
    /// Every `*_encrypted_response_alg` and `request_object_encryption_alg`. Defaults to
    /// RSA-OAEP, RSA-OAEP-256, ECDH-ES, ECDH-ES+A128KW, ECDH-ES+A256KW.
    pub encryption_alg: Vec<JoseAlgorithm>,
    /// Every `*_encrypted_response_enc` and `request_object_encryption_enc`. Defaults to
    /// A128CBC-HS256, A256CBC-HS512, A128GCM, A256GCM.
    pub encryption_enc: Vec<JoseAlgorithm>,
}

fn algs(names: &[&str]) -> Vec<JoseAlgorithm> {
    names.iter().map(|n| JoseAlgorithm::from(*n)).collect()
}

impl Default for JoseSupport {
    fn default() -> Self {
        let signing = ["RS256", "PS256", "ES256", "EdDSA"];
        Self {
            id_token_signing: algs(&signing),
            userinfo_signing: algs(&signing),
            request_object_signing: algs(&signing),
            token_endpoint_auth_signing: algs(&["RS256", "PS256", "ES256", "EdDSA", "HS256"]),
            authorization_signing: algs(&signing),
            introspection_signing: algs(&signing),
            encryption_alg: algs(&[
                "RSA-OAEP",
                "RSA-OAEP-256",
                "ECDH-ES",
                "ECDH-ES+A128KW",
                "ECDH-ES+A256KW",
            ]),
            encryption_enc: algs(&["A128CBC-HS256", "A256CBC-HS512", "A128GCM", "A256GCM"]),
        }
    }
}

/// Values applied to omitted metadata, after validation, and shown in the response.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Defaults {
    /// Defaults to `client_secret_basic` (RFC 7591 §2).
    pub token_endpoint_auth_method: AuthMethod,
    /// Defaults to `web` (OIDC Registration §2).
    pub application_type: ApplicationType,
    /// `id_token_signed_response_alg` when omitted; `None` leaves it omitted. Defaults to `None`
    /// (OIDC's own default, RS256, then applies at the authorization server).
    pub id_token_signed_response_alg: Option<JoseAlgorithm>,
    /// `subject_type` when omitted; `None` leaves it omitted. Defaults to `None`.
    pub subject_type: Option<SubjectType>,
    /// Scope registered when the client asks for none; `None` leaves it omitted. Defaults to
    /// `None`.
    pub scope: Option<String>,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            token_endpoint_auth_method: AuthMethod::ClientSecretBasic,
            application_type: ApplicationType::Web,
            id_token_signed_response_alg: None,
            subject_type: None,
            scope: None,
        }
    }
}

/// Redirect URI rules (RFC 9700 §2.1, RFC 8252, OIDC Registration §2).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RedirectPolicy {
    /// Most redirect URIs per client. Defaults to 20.
    pub max_uris: usize,
    /// Longest redirect URI in bytes. Defaults to 2048.
    pub max_uri_len: usize,
    /// Accept `http://localhost` for native clients besides the loopback IP literals
    /// (RFC 8252 §8.3 calls it NOT RECOMMENDED). Defaults to `false`.
    pub allow_localhost: bool,
    /// Accept plain `http` loopback redirect URIs for web clients, for development only.
    /// Defaults to `false`.
    pub dangerously_allow_http_loopback_for_web: bool,
}

impl Default for RedirectPolicy {
    fn default() -> Self {
        Self {
            max_uris: 20,
            max_uri_len: 2048,
            allow_localhost: false,
            dangerously_allow_http_loopback_for_web: false,
        }
    }
}

/// Limits on request bodies, checked before anything else.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestLimits {
    /// Largest body in bytes; larger answers 413. Defaults to 64 KiB.
    pub max_body_bytes: usize,
    /// Deepest nesting of arrays and objects. Defaults to 16.
    pub max_depth: usize,
    /// Most elements in one array. Defaults to 256.
    pub max_array_len: usize,
    /// Most members in one object. Defaults to 256.
    pub max_members: usize,
    /// Longest string in bytes. Defaults to 16 KiB.
    pub max_string_bytes: usize,
}

impl Default for RequestLimits {
    fn default() -> Self {
        Self {
            max_body_bytes: 64 * 1024,
            max_depth: 16,
            max_array_len: 256,
            max_members: 256,
            max_string_bytes: 16 * 1024,
        }
    }
}

/// How the server treats URL client identifiers. Put it in
/// [`ServerPolicy::metadata_documents`](crate::ServerPolicy::metadata_documents) and attach a fetcher
/// ([`Registrar::with_metadata_documents`](crate::Registrar::with_metadata_documents)); [`Registrar::discovery_metadata`](crate::Registrar::discovery_metadata) then advertises
/// `client_id_metadata_document_supported`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DocumentPolicy {
    /// Largest accepted document. Defaults to 5 KiB.
    pub max_bytes: usize,
    /// Longest a fetch may take. Defaults to 5 seconds.
    pub timeout: std::time::Duration,
    /// Shortest time a document is cached, whatever its `Cache-Control` says; also the lifetime
    /// of a document without caching headers. Defaults to 5 minutes.
    pub min_cache: std::time::Duration,
    /// Longest time a document is cached. Defaults to 24 hours.
    pub max_cache: std::time::Duration,
    /// How long a failure is remembered before the URL is fetched again. Defaults to zero:
    /// failures are not cached, as the draft requires ("MUST NOT cache error responses",
    /// nor invalid documents). A non-zero value damps floods of resolutions of a failing URL
    /// (each would otherwise fetch it) at the price of a deliberate deviation from the draft:
    /// a client that fixes its document waits this long to be resolved.
    pub failure_cache: std::time::Duration,
    /// Most cached documents and failures. Defaults to 10,000.
    pub max_entries: usize,
    /// When set, only URLs on these hosts are resolved (`.example.com` admits subdomains).
    /// Defaults to `None` (any public host).
    pub allowed_hosts: Option<BTreeSet<String>>,
    /// Accept `http://localhost` loopback redirect URIs (any port) for native document clients
    /// besides `127.0.0.1` and `[::1]`, as MCP clients publish them, whatever
    /// [`RedirectPolicy::allow_localhost`](crate::policy::RedirectPolicy::allow_localhost) says for
    /// registrations (RFC 8252 §8.3 calls `localhost` NOT RECOMMENDED; the MCP specification's
    /// example lists it). Defaults to `true`.
    pub localhost_redirects: bool,
    /// Refuse a document without `client_name` (`invalid_client_metadata`), so that the consent
    /// screen always has a name to show beside the host (MCP: servers should show the client's
    /// hostname and name). Defaults to `false`.
    pub require_client_name: bool,
    /// Accept `http` client ids on loopback (`http://127.0.0.1:9000/client.json`,
    /// `http://[::1]/…`, `http://localhost/…`), for walkthroughs and tests that serve documents
    /// locally; the fetcher must allow loopback too
    /// (`HttpFetcher::dangerously_allow_loopback_for_tests`). Never in production: the draft
    /// requires https. Defaults to `false`.
    pub dangerously_allow_http_loopback: bool,
    /// URLs on these hosts are never resolved. Defaults to none.
    pub denied_hosts: BTreeSet<String>,
    /// Clients on these hosts are labelled [`Trust::Verified`](crate::documents::Trust::Verified); others
    /// [`Trust::Unverified`](crate::documents::Trust::Unverified), so
    /// a consent screen can say so. Defaults to none.
    pub verified_hosts: BTreeSet<String>,
}

impl Default for DocumentPolicy {
    fn default() -> Self {
        Self {
            max_bytes: 5 * 1024,
            timeout: std::time::Duration::from_secs(5),
            min_cache: std::time::Duration::from_secs(300),
            max_cache: std::time::Duration::from_secs(24 * 3600),
            failure_cache: std::time::Duration::ZERO,
            max_entries: 10_000,
            allowed_hosts: None,
            localhost_redirects: true,
            require_client_name: false,
            dangerously_allow_http_loopback: false,
            denied_hosts: BTreeSet::new(),
            verified_hosts: BTreeSet::new(),
        }
    }
}
