//! The example server's command line: flags parsed by hand into a [`Config`], and the one-line
//! banner that says what is enabled.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::time::Duration;

use oauth_dcr::profiles::Profile;
use oauth_dcr::statements::Jwks;
use oauth_dcr::store::SecretHash;

/// The usage text printed by `--help` and after a flag error.
pub(crate) const USAGE: &str = "\
usage: cargo run --example server -- [FLAGS]

  --listen ADDR                  address to listen on (default 127.0.0.1:8080)
  --issuer URL                   issuer identifier (default http:// + the listen address);
                                 the registration endpoint is URL/register
  --authorization-endpoint URL   the authorization endpoint discovery advertises (default
                                 URL/authorize: a placeholder, this example serves no
                                 authorization endpoint; point it at your own server's)
  --jwks-uri URL                 the JWK Set discovery advertises (default URL/jwks, served by
                                 this example as an empty set: it signs no ID tokens)
  --bootstrap-client ID:SECRET   enable POST /token (client_credentials) for this client,
                                 which issues 300-second initial access tokens
  --require-initial-token SCOPE  registration demands an initial access token carrying SCOPE
                                 (needs --bootstrap-client)
  --trust-issuer ISS=JWKS_FILE   verify software statements from ISS with the keys of that
                                 public JWK Set file (repeatable); each is accepted once (its
                                 jti is remembered, in the database with --store postgres)
  --require-software-statement   refuse registrations without a verified software statement
  --signed-request-jwks JWKS_FILE
                                 accept application/jwt request bodies signed with these keys
                                 (claims: aud = the issuer, iat, exp, a single-use jti,
                                 remembered like a statement's)
  --require-signed-request       refuse plain JSON request bodies
  --federation-entity-id URL     OpenID Federation explicit registration: this server's entity
                                 identifier; POST /register then takes a client's trust chain
                                 (application/trust-chain+json) and GET
                                 /.well-known/openid-federation serves the server's Entity
                                 Configuration (needs --federation-key and --trust-anchor);
                                 with the `fetch` feature, a client may send only its Entity
                                 Configuration and the server resolves its chain
  --federation-key JWK_FILE      the server's federation signing key, a private JWK with a kid
  --trust-anchor ID=JWKS_FILE    a trust anchor: its entity identifier and the public JWK Set
                                 file of its federation keys (repeatable)
  --store memory|sqlite:PATH|postgres://...
                                 the client store and jti replay guard (default memory);
                                 sqlite:PATH keeps them in the SQLite file PATH, created and
                                 migrated at start (feature `sqlite`: cargo run --example
                                 server --features sqlite); PostgreSQL, shared by replicas, needs
                                 the `postgres` feature
  --admin-token TOKEN            enable GET /admin/clients (the registered clients, page by
                                 page, with their provenance) and POST
                                 /admin/clients/{id}/registration-token (reissue a client's
                                 registration access token) for requests bearing TOKEN
  --no-rotate-on-read            keep registration access tokens stable on read
  --scopes 'SCOPE SCOPE'         the scopes clients may register, advertised as scopes_supported
                                 (default: openid profile email address phone offline_access);
                                 any other scope is refused
  --allow-origin ORIGIN          allow this browser origin cross-origin (repeatable)
  --metadata-documents           resolve https URL client_ids (Client ID Metadata Documents);
                                 GET /clients/resolve?client_id=URL shows the result (needs the
                                 `fetch` feature: cargo run --example server --features fetch)
  --profile NAME                 run on a deployment preset: oidc-dynamic, fapi2, mcp or
                                 uk-open-banking (the crate's `Profile`); uk-open-banking needs
                                 --trust-issuer (the directory's keys) and
                                 --signed-request-jwks (the software's keys)
  --audience AUD                 with --profile uk-open-banking: an `aud` the signed request
                                 may name (repeatable; default: the issuer)
  --dangerously-allow-http-loopback-fetch
                                 DEVELOPMENT ONLY: let the server's fetcher reach plain http and
                                 loopback addresses (metadata documents and key sets served
                                 locally); announced on stderr at start; needs the `fetch`
                                 feature
  --no-detect-token-reuse        do not treat a rotated-away registration access token as
                                 theft (by default, as in the crate, presenting one revokes the
                                 client's current token too); --detect-token-reuse is the default
  --header-timeout DURATION      how long a request head (line and headers) may take to arrive,
                                 and how long an idle keep-alive connection stays open
                                 (default 5s; `500ms`, `5s`, `5` = seconds)
  --body-timeout DURATION        how long a request body may take to arrive, from the end of its
                                 head: later, 408 and the connection is closed (default 5s)
  --rate-limit-register RATE     registrations (POST /register) per client address: a burst of N,
                                 refilled evenly over the period (default 60/min; RATE is N/s,
                                 N/min or N/h); over it, 429 with Retry-After
  --rate-limit-failed-management RATE
                                 failed management attempts (401 or 403 at /register/{id},
                                 /token, /admin) per client address (default 10/min); past it,
                                 those endpoints answer the address 429 with Retry-After
  --no-rate-limits               no rate limits (for load tests; announced on stderr)
  --quiet                        log only warnings and errors, not every request (for load tests)

Logs go to stdout in batches written by a thread of their own (a line the output cannot take
is dropped, never waited for): one line per request, and the crate's warnings and errors. RUST_LOG, in the
`target=level,level` form, replaces that (`RUST_LOG=info`: also the crate's spans and an event
line per operation, with `--features tracing`).
  -h, --help                     print this help
";

/// What the example server runs with.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The socket address to listen on.
    pub(crate) listen: SocketAddr,
    /// The issuer identifier, without a trailing slash.
    pub(crate) issuer: String,
    /// `--authorization-endpoint`: the authorization endpoint discovery advertises, when not the
    /// placeholder under the issuer.
    pub(crate) authorization_endpoint: Option<String>,
    /// `--jwks-uri`: the JWK Set URL discovery advertises, when not the empty set this example
    /// serves under the issuer.
    pub(crate) jwks_uri: Option<String>,
    /// The client allowed to obtain initial access tokens at `POST /token`.
    pub(crate) bootstrap: Option<BootstrapClient>,
    /// The scope an initial access token must carry for registration, if one is demanded.
    pub(crate) require_initial_token: Option<String>,
    /// Whether registration access tokens rotate on read.
    pub(crate) rotate_on_read: bool,
    /// Browser origins allowed cross-origin.
    pub(crate) allowed_origins: Vec<String>,
    /// Software statement issuers and their verification keys.
    pub(crate) trusted_issuers: Vec<(String, Jwks)>,
    /// Whether registrations need a verified software statement.
    pub(crate) require_software_statement: bool,
    /// The keys that verify `application/jwt` request bodies, when they are accepted.
    pub(crate) signed_request_keys: Option<Jwks>,
    /// Whether plain JSON request bodies are refused.
    pub(crate) require_signed_request: bool,
    /// `--federation-entity-id`, `--federation-key`, `--trust-anchor`: explicit registration
    /// through OpenID Federation trust chains.
    pub(crate) federation: Option<FederationFlags>,
    /// Where clients are stored.
    pub(crate) store: StoreChoice,
    /// Whether URL client identifiers are resolved from their metadata documents.
    pub(crate) metadata_documents: bool,
    /// Whether per-request logs are off.
    pub(crate) quiet: bool,
    /// `--admin-token`: the admin endpoints, for requests bearing this token.
    pub(crate) admin_token: Option<AdminToken>,
    /// Whether a rotated-away registration access token revokes the current one (the crate's
    /// default: on).
    pub(crate) detect_token_reuse: bool,
    /// `--header-timeout`: how long a request head may take, and an idle connection may wait.
    pub(crate) header_timeout: Duration,
    /// `--body-timeout`: how long a request body may take, from the end of its head.
    pub(crate) body_timeout: Duration,
    /// `--rate-limit-register`: registrations per client address; `None` with `--no-rate-limits`.
    pub(crate) register_rate: Option<Rate>,
    /// `--rate-limit-failed-management`: failed management attempts per client address; `None`
    /// with `--no-rate-limits`.
    pub(crate) failed_management_rate: Option<Rate>,
    /// The scopes clients may register (`--scopes`); anything else is refused.
    pub(crate) scopes: Vec<String>,
    /// `--profile`: the deployment preset the server runs on, if any.
    pub(crate) profile: Option<Profile>,
    /// `--audience`: the audiences a UK Open Banking signed request may name.
    pub(crate) audiences: Vec<String>,
    /// `--dangerously-allow-http-loopback-fetch`: whether the fetcher may reach plain `http` and
    /// loopback addresses. Off by default; a development switch only.
    pub(crate) dangerously_allow_http_loopback_fetch: bool,
}

/// The federation flags: the server's entity identifier, its signing key (the private JWK's
/// bytes, read at start) and the trust anchors. `Debug` shows no key.
#[derive(Clone)]
pub(crate) struct FederationFlags {
    pub(crate) entity_id: String,
    pub(crate) key: Vec<u8>,
    pub(crate) anchors: Vec<(String, Jwks)>,
}

impl fmt::Debug for FederationFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FederationFlags")
            .field("entity_id", &self.entity_id)
            .field("key", &"[redacted]")
            .field(
                "anchors",
                &self.anchors.iter().map(|(id, _)| id).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The default `--header-timeout` and `--body-timeout`.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The default `--rate-limit-register`: 60 a minute per address.
pub(crate) const DEFAULT_REGISTER_RATE: Rate = Rate {
    count: NonZeroU32::new(60).expect("not zero"),
    per: Duration::from_secs(60),
};

/// The default `--rate-limit-failed-management`: 10 a minute per address.
pub(crate) const DEFAULT_FAILED_MANAGEMENT_RATE: Rate = Rate {
    count: NonZeroU32::new(10).expect("not zero"),
    per: Duration::from_secs(60),
};

/// A rate limit per client address, as `--rate-limit-*` spell it (`60/min`): a burst of `count`,
/// refilled evenly, one every `per / count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rate {
    /// The burst, and how many are allowed per period.
    pub(crate) count: NonZeroU32,
    /// The period.
    pub(crate) per: Duration,
}

impl fmt::Display for Rate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let unit = match self.per.as_secs() {
            1 => "s",
            60 => "min",
            _ => "h",
        };
        write!(f, "{}/{unit}", self.count)
    }
}

/// The `--profile` names, as the command line spells them.
const PROFILES: [(&str, Profile); 4] = [
    ("oidc-dynamic", Profile::OidcDynamic),
    ("fapi2", Profile::Fapi2),
    ("mcp", Profile::Mcp),
    ("uk-open-banking", Profile::UkOpenBanking),
];

/// The command-line name of `profile`.
pub(crate) fn profile_name(profile: Profile) -> &'static str {
    PROFILES
        .iter()
        .find(|(_, p)| *p == profile)
        .map_or("unknown", |(name, _)| name)
}

fn parse_profile(value: &str) -> Result<Profile, String> {
    PROFILES
        .iter()
        .find(|(name, _)| *name == value)
        .map(|(_, profile)| *profile)
        .ok_or_else(|| {
            format!("--profile expects oidc-dynamic, fapi2, mcp or uk-open-banking, got `{value}`")
        })
}

/// The `--store` choice. `Debug` never shows the database URL, which may hold a password.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum StoreChoice {
    /// The in-memory store.
    Memory,
    /// The SQLite file at this path.
    Sqlite(PathBuf),
    /// PostgreSQL at this URL.
    Postgres(String),
}

impl fmt::Debug for StoreChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Memory => f.write_str("Memory"),
            Self::Sqlite(path) => f.debug_tuple("Sqlite").field(path).finish(),
            Self::Postgres(_) => f.write_str("Postgres([redacted])"),
        }
    }
}

/// The admin token of `--admin-token`: only its SHA-256 hash is kept, and a presented token is
/// compared with it in constant time ([`SecretHash`]'s equality). `Debug` shows nothing of it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct AdminToken {
    hash: SecretHash,
    /// How many characters it has, for the warning about short tokens.
    len: usize,
}

impl AdminToken {
    /// The shortest token not announced as guessable: 22 characters, the base64url of 128
    /// random bits (`openssl rand -base64 16`, `head -c16 /dev/urandom | base64`).
    pub(crate) const RECOMMENDED_LEN: usize = 22;

    /// Whether `presented` is this token. Both are hashed first, so neither the comparison nor
    /// its length depends on where they differ.
    pub(crate) fn matches(&self, presented: &str) -> bool {
        SecretHash::of(presented) == self.hash
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken([redacted])")
    }
}

/// The bootstrap client's credentials. `Debug` never shows the secret.
#[derive(Clone)]
pub(crate) struct BootstrapClient {
    /// Its client identifier.
    pub(crate) id: String,
    /// Its client secret.
    pub(crate) secret: String,
}

impl fmt::Debug for BootstrapClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BootstrapClient")
            .field("id", &self.id)
            .field("secret", &"[redacted]")
            .finish()
    }
}

impl Config {
    /// Parses the flags (without the program name). `--flag VALUE` and `--flag=VALUE` both work.
    ///
    /// # Errors
    /// A message naming the flag for an unknown or repeated flag, a missing or malformed value,
    /// or a combination that cannot work.
    pub(crate) fn parse<I, S>(args: I) -> Result<Self, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut args = args.into_iter().map(Into::into);
        let mut listen = None;
        let mut issuer = None;
        let mut authorization_endpoint = None;
        let mut jwks_uri = None;
        let mut bootstrap = None;
        let mut require = None;
        let mut rotate_on_read = true;
        let mut allowed_origins = Vec::new();
        let mut trusted_issuers: Vec<(String, Jwks)> = Vec::new();
        let mut require_statement = false;
        let mut signed_keys = None;
        let mut require_signed = false;
        let mut store = None;
        let mut metadata_documents = false;
        let mut quiet = false;
        let mut admin_token = None;
        let mut detect_token_reuse = None;
        let mut header_timeout = None;
        let mut body_timeout = None;
        let mut register_rate = None;
        let mut failed_management_rate = None;
        let mut no_rate_limits = false;
        let mut scopes = None;
        let mut profile = None;
        let mut audiences: Vec<String> = Vec::new();
        let mut loopback_fetch = false;
        let mut federation_id = None;
        let mut federation_key = None;
        let mut trust_anchors: Vec<(String, Jwks)> = Vec::new();
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => (flag.to_owned(), Some(value)),
                _ => (arg.clone(), None),
            };
            let mut value = || {
                inline
                    .map(str::to_owned)
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{flag} needs a value"))
            };
            match flag.as_str() {
                "--listen" => set(&mut listen, &flag, parse_listen(&value()?)?)?,
                "--issuer" => set(&mut issuer, &flag, parse_issuer(&value()?)?)?,
                "--authorization-endpoint" => {
                    let url = parse_url(&flag, &value()?)?;
                    set(&mut authorization_endpoint, &flag, url)?;
                }
                "--jwks-uri" => set(&mut jwks_uri, &flag, parse_url(&flag, &value()?)?)?,
                "--bootstrap-client" => set(&mut bootstrap, &flag, parse_client(&value()?)?)?,
                "--require-initial-token" => set(&mut require, &flag, parse_scope(&value()?)?)?,
                "--store" => set(&mut store, &flag, parse_store(&value()?)?)?,
                "--admin-token" => set(&mut admin_token, &flag, parse_admin_token(&value()?)?)?,
                "--scopes" => set(&mut scopes, &flag, parse_scopes(&value()?)?)?,
                "--allow-origin" => allowed_origins.push(parse_origin(&value()?)?),
                "--profile" => set(&mut profile, &flag, parse_profile(&value()?)?)?,
                "--audience" => {
                    let audience = parse_audience(&value()?)?;
                    if audiences.contains(&audience) {
                        return Err(format!("--audience names `{audience}` twice"));
                    }
                    audiences.push(audience);
                }
                "--dangerously-allow-http-loopback-fetch" if inline.is_none() => {
                    if cfg!(not(feature = "fetch")) {
                        return Err("--dangerously-allow-http-loopback-fetch needs the `fetch` \
                                    feature: cargo run --example server --features fetch -- …"
                            .into());
                    }
                    loopback_fetch = true;
                }
                "--trust-issuer" => {
                    let (issuer, keys) = parse_trusted_issuer(&value()?)?;
                    if trusted_issuers.iter().any(|(i, _)| *i == issuer) {
                        return Err(format!("--trust-issuer names `{issuer}` twice"));
                    }
                    trusted_issuers.push((issuer, keys));
                }
                "--federation-entity-id" => {
                    set(&mut federation_id, &flag, parse_url(&flag, &value()?)?)?
                }
                "--federation-key" => {
                    let path = value()?;
                    let key = std::fs::read(&path)
                        .map_err(|e| format!("--federation-key: cannot read `{path}`: {e}"))?;
                    oauth_dcr::federation::response::JwkSigner::from_jwk(&key).map_err(|e| {
                        format!("--federation-key: `{path}` is not a usable signing key: {e}")
                    })?;
                    set(&mut federation_key, &flag, key)?;
                }
                "--trust-anchor" => {
                    let (id, keys) = parse_trust_anchor(&value()?)?;
                    if trust_anchors.iter().any(|(known, _)| *known == id) {
                        return Err(format!("--trust-anchor names `{id}` twice"));
                    }
                    trust_anchors.push((id, keys));
                }
                "--signed-request-jwks" => {
                    set(&mut signed_keys, &flag, load_jwks(&flag, &value()?)?)?;
                }
                "--no-rotate-on-read" if inline.is_none() => rotate_on_read = false,
                "--require-software-statement" if inline.is_none() => require_statement = true,
                "--require-signed-request" if inline.is_none() => require_signed = true,
                "--quiet" if inline.is_none() => quiet = true,
                "--detect-token-reuse" if inline.is_none() => {
                    set(&mut detect_token_reuse, "--detect-token-reuse", true)?;
                }
                "--no-detect-token-reuse" if inline.is_none() => {
                    set(&mut detect_token_reuse, "--detect-token-reuse", false)?;
                }
                "--header-timeout" => {
                    set(&mut header_timeout, &flag, parse_timeout(&flag, &value()?)?)?;
                }
                "--body-timeout" => {
                    set(&mut body_timeout, &flag, parse_timeout(&flag, &value()?)?)?
                }
                "--rate-limit-register" => {
                    set(&mut register_rate, &flag, parse_rate(&flag, &value()?)?)?;
                }
                "--rate-limit-failed-management" => {
                    let rate = parse_rate(&flag, &value()?)?;
                    set(&mut failed_management_rate, &flag, rate)?;
                }
                "--no-rate-limits" if inline.is_none() => no_rate_limits = true,
                "--metadata-documents" if inline.is_none() => {
                    if cfg!(not(feature = "fetch")) {
                        return Err("--metadata-documents needs the `fetch` feature: \
                                    cargo run --example server --features fetch -- …"
                            .into());
                    }
                    metadata_documents = true;
                }
                _ => return Err(format!("unknown flag `{arg}`")),
            }
        }
        let listen = listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8080)));
        if no_rate_limits {
            let given = [
                ("--rate-limit-register", register_rate.is_some()),
                (
                    "--rate-limit-failed-management",
                    failed_management_rate.is_some(),
                ),
            ];
            if let Some((flag, _)) = given.iter().find(|(_, given)| *given) {
                return Err(format!("--no-rate-limits contradicts {flag}"));
            }
        }
        let limit =
            |rate: Option<Rate>, default: Rate| (!no_rate_limits).then(|| rate.unwrap_or(default));
        let federation = match (federation_id, federation_key, trust_anchors.is_empty()) {
            (None, None, true) => None,
            (Some(entity_id), Some(key), false) => Some(FederationFlags {
                entity_id,
                key,
                anchors: trust_anchors,
            }),
            _ => {
                return Err(
                    "--federation-entity-id, --federation-key and --trust-anchor go \
                            together: explicit registration needs the server's identity, its \
                            signing key and at least one trust anchor"
                        .into(),
                )
            }
        };
        let config = Self {
            federation,
            listen,
            issuer: issuer.unwrap_or_else(|| format!("http://{listen}")),
            authorization_endpoint,
            jwks_uri,
            bootstrap,
            require_initial_token: require,
            rotate_on_read,
            allowed_origins,
            trusted_issuers,
            require_software_statement: require_statement,
            signed_request_keys: signed_keys,
            require_signed_request: require_signed,
            store: store.unwrap_or(StoreChoice::Memory),
            metadata_documents,
            quiet,
            admin_token,
            detect_token_reuse: detect_token_reuse.unwrap_or(true),
            header_timeout: header_timeout.unwrap_or(DEFAULT_TIMEOUT),
            body_timeout: body_timeout.unwrap_or(DEFAULT_TIMEOUT),
            register_rate: limit(register_rate, DEFAULT_REGISTER_RATE),
            failed_management_rate: limit(failed_management_rate, DEFAULT_FAILED_MANAGEMENT_RATE),
            scopes: scopes.unwrap_or_else(|| {
                oauth_dcr::policy::ScopePolicy::STANDARD
                    .map(str::to_owned)
                    .into()
            }),
            profile,
            audiences,
            dangerously_allow_http_loopback_fetch: loopback_fetch,
        };
        config.check()?;
        Ok(config)
    }

    /// Refuses flags that need another flag to mean anything.
    fn check(&self) -> Result<(), String> {
        let needs =
            |flag: &str, other: &str, why: &str| Err(format!("{flag} needs {other}: {why}"));
        if self.require_initial_token.is_some() && self.bootstrap.is_none() {
            let why = "without it nobody can obtain an initial access token";
            return needs("--require-initial-token", "--bootstrap-client", why);
        }
        if self.require_software_statement && self.trusted_issuers.is_empty() {
            let why = "without a trusted issuer no statement can be verified";
            return needs("--require-software-statement", "--trust-issuer", why);
        }
        if self.require_signed_request && self.signed_request_keys.is_none() {
            let why = "without keys no signed request can be verified";
            return needs("--require-signed-request", "--signed-request-jwks", why);
        }
        if self.profile == Some(Profile::UkOpenBanking) {
            return self.open_banking_flags();
        }
        if !self.audiences.is_empty() {
            let why = "only Open Banking signed requests name one of several audiences";
            return needs("--audience", "--profile uk-open-banking", why);
        }
        Ok(())
    }

    /// What `--profile uk-open-banking` needs: the directory's keys (`--trust-issuer`) for
    /// software statements. The software's keys come from the URL each statement names.
    fn open_banking_flags(&self) -> Result<(), String> {
        if self.trusted_issuers.is_empty() {
            return Err(
                "--profile uk-open-banking needs --trust-issuer: the directory's keys verify the \
                 software statements"
                    .to_owned(),
            );
        }
        Ok(())
    }

    /// The audiences an Open Banking signed request may name: `--audience`, or the issuer.
    pub(crate) fn audiences(&self) -> Vec<String> {
        if self.audiences.is_empty() {
            vec![self.issuer.clone()]
        } else {
            self.audiences.clone()
        }
    }

    /// What the server announces on stderr before it starts: the switches that weaken it.
    pub(crate) fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.dangerously_allow_http_loopback_fetch {
            warnings.push(
                "WARNING: --dangerously-allow-http-loopback-fetch is on: the server fetches plain \
                 http and loopback addresses (SSRF protection off). For local development only; \
                 never in production."
                    .to_owned(),
            );
        }
        if self
            .admin_token
            .as_ref()
            .is_some_and(|t| t.len < AdminToken::RECOMMENDED_LEN)
        {
            warnings.push(format!(
                "WARNING: --admin-token is shorter than {} characters: easy to guess. Use 128 \
                 random bits or more (`openssl rand -base64 16`).",
                AdminToken::RECOMMENDED_LEN
            ));
        }
        if self.register_rate.is_none() && self.failed_management_rate.is_none() {
            warnings.push(
                "WARNING: --no-rate-limits: any address may register and guess tokens as fast as \
                 it can. For load tests only."
                    .to_owned(),
            );
        }
        warnings
    }

    /// The registration endpoint URL: the issuer followed by `/register`.
    pub(crate) fn registration_endpoint(&self) -> String {
        format!("{}/register", self.issuer)
    }

    /// The authorization endpoint discovery advertises: `--authorization-endpoint`, or the
    /// issuer followed by `/authorize`, a placeholder this example does not serve.
    pub(crate) fn authorization_endpoint(&self) -> String {
        self.authorization_endpoint
            .clone()
            .unwrap_or_else(|| format!("{}/authorize", self.issuer))
    }

    /// The JWK Set URL discovery advertises: `--jwks-uri`, or the issuer followed by `/jwks`,
    /// where this example serves an empty set.
    pub(crate) fn jwks_uri(&self) -> String {
        self.jwks_uri
            .clone()
            .unwrap_or_else(|| format!("{}/jwks", self.issuer))
    }

    /// The token endpoint URL: the issuer followed by `/token`.
    pub(crate) fn token_endpoint(&self) -> String {
        format!("{}/token", self.issuer)
    }

    /// One line saying where the server listens and what is enabled. Never shows a secret.
    pub(crate) fn banner(&self) -> String {
        let token = match (&self.bootstrap, &self.require_initial_token) {
            (Some(c), Some(scope)) => format!(
                "POST /token for client `{}`; registration requires an initial access token \
                 with scope `{scope}`",
                c.id
            ),
            (Some(c), None) => format!(
                "POST /token for client `{}`; registration open (no initial access token)",
                c.id
            ),
            _ => "no token endpoint; registration open (no initial access token)".to_owned(),
        };
        let origins = if self.allowed_origins.is_empty() {
            "none".to_owned()
        } else {
            self.allowed_origins.join(" ")
        };
        let statements = match (self.trusted_issuers.len(), self.require_software_statement) {
            (0, _) => "software statements: ignored".to_owned(),
            (n, required) => format!(
                "software statements: {} from {n} trusted issuer(s)",
                if required { "required" } else { "verified" }
            ),
        };
        let signed = match (&self.signed_request_keys, self.require_signed_request) {
            (None, _) => "signed requests: off",
            (Some(_), false) => "signed requests: accepted",
            (Some(_), true) => "signed requests: required",
        };
        let documents = if self.metadata_documents {
            "URL client_ids: resolved"
        } else {
            "URL client_ids: off"
        };
        let profile = self.profile.map_or("none", profile_name);
        let limits = match (self.register_rate, self.failed_management_rate) {
            (None, None) => "rate limits: off".to_owned(),
            (register, failed) => {
                let show = |rate: Option<Rate>| rate.map_or("off".to_owned(), |r| r.to_string());
                format!(
                    "rate limits per address: register {}, failed management {}",
                    show(register),
                    show(failed)
                )
            }
        };
        let admin = if self.admin_token.is_some() {
            "on"
        } else {
            "off"
        };
        let fetch = if self.dangerously_allow_http_loopback_fetch {
            " | DANGER: fetcher reaches http and loopback"
        } else {
            ""
        };
        let federation = self.federation.as_ref().map_or(String::new(), |f| {
            format!(
                " | federation: explicit registration as {} ({} trust anchor(s))",
                f.entity_id,
                f.anchors.len()
            )
        });
        format!(
            "oauth-dcr example server listening on http://{} | issuer {} | profile {profile} \
             | store {} | {token} | {statements} | {signed} | {documents} | rotate on read: {} \
             | reuse detection: {} | {limits} | admin endpoints: {admin} | CORS origins: \
             {origins}{federation}{fetch}",
            self.listen,
            self.issuer,
            match &self.store {
                StoreChoice::Memory => "memory".to_owned(),
                StoreChoice::Sqlite(path) => format!("SQLite {}", path.display()),
                StoreChoice::Postgres(_) => "PostgreSQL".to_owned(),
            },
            if self.rotate_on_read { "on" } else { "off" },
            if self.detect_token_reuse { "on" } else { "off" },
        )
    }
}

fn set<T>(slot: &mut Option<T>, flag: &str, value: T) -> Result<(), String> {
    if slot.replace(value).is_some() {
        return Err(format!("{flag} is given twice"));
    }
    Ok(())
}

/// `ISS=JWKS_FILE`; the issuer is everything before the first `=`.
fn parse_trusted_issuer(value: &str) -> Result<(String, Jwks), String> {
    match value.split_once('=') {
        Some((issuer, path)) if !issuer.is_empty() && !path.is_empty() => {
            Ok((issuer.to_owned(), load_jwks("--trust-issuer", path)?))
        }
        _ => Err(format!(
            "--trust-issuer expects ISS=JWKS_FILE, got `{value}`"
        )),
    }
}

/// `ID=JWKS_FILE`; the entity identifier is everything before the first `=` after its scheme.
fn parse_trust_anchor(value: &str) -> Result<(String, Jwks), String> {
    let split = value
        .find("://")
        .and_then(|scheme| value[scheme + 3..].find('=').map(|at| scheme + 3 + at));
    match split.map(|at| value.split_at(at)) {
        Some((id, path)) if path.len() > 1 => {
            let id = parse_url("--trust-anchor", id)?;
            Ok((id, load_jwks("--trust-anchor", &path[1..])?))
        }
        _ => Err(format!(
            "--trust-anchor expects ENTITY_ID=JWKS_FILE, got `{value}`"
        )),
    }
}

/// A public JWK Set from a file; refused when it holds no key or any private key material.
fn load_jwks(flag: &str, path: &str) -> Result<Jwks, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{flag}: cannot read `{path}`: {e}"))?;
    let jwks = Jwks::from_json(&bytes)
        .map_err(|e| format!("{flag}: `{path}` is not a public JWK Set: {e}"))?;
    if jwks.is_empty() {
        return Err(format!("{flag}: `{path}` holds no key"));
    }
    Ok(jwks)
}

/// `--header-timeout`, `--body-timeout`: `500ms`, `5s` or `5` (seconds), from 1 ms to an hour.
fn parse_timeout(flag: &str, value: &str) -> Result<Duration, String> {
    let (number, millis) = match value.strip_suffix("ms") {
        Some(number) => (number, true),
        None => (value.strip_suffix('s').unwrap_or(value), false),
    };
    let duration = number.parse::<u64>().ok().map(|n| {
        if millis {
            Duration::from_millis(n)
        } else {
            Duration::from_secs(n)
        }
    });
    match duration {
        Some(d) if !d.is_zero() && d <= Duration::from_secs(3600) => Ok(d),
        _ => Err(format!(
            "{flag} expects a duration from 1ms to 3600s (`500ms`, `5s`, `5`), got `{value}`"
        )),
    }
}

/// `--rate-limit-*`: `N/s`, `N/min` or `N/h`, with N from 1 to 1,000,000.
fn parse_rate(flag: &str, value: &str) -> Result<Rate, String> {
    let rate = value.split_once('/').and_then(|(count, unit)| {
        let count = count.parse::<u32>().ok().filter(|n| *n <= 1_000_000)?;
        let per = match unit {
            "s" => Duration::from_secs(1),
            "min" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            _ => return None,
        };
        Some(Rate {
            count: NonZeroU32::new(count)?,
            per,
        })
    });
    rate.ok_or_else(|| {
        format!("{flag} expects N/s, N/min or N/h with N from 1 to 1000000, got `{value}`")
    })
}

fn parse_listen(value: &str) -> Result<SocketAddr, String> {
    value.parse().map_err(|_| {
        format!("--listen expects IP:PORT (127.0.0.1:8080, [::1]:8080), got `{value}`")
    })
}

/// An `http` or `https` URL without a path, query, fragment or userinfo; the trailing slash is
/// dropped so that endpoint URLs are the issuer followed by their path.
fn parse_issuer(value: &str) -> Result<String, String> {
    let err = || {
        format!(
            "--issuer expects an http or https URL without path, query or fragment, got `{value}`"
        )
    };
    let url = url::Url::parse(value).map_err(|_| err())?;
    let plain = matches!(url.scheme(), "http" | "https")
        && url.has_host()
        && url.username().is_empty()
        && url.password().is_none()
        && url.path() == "/"
        && url.query().is_none()
        && url.fragment().is_none();
    plain
        .then(|| value.trim_end_matches('/').to_owned())
        .ok_or_else(err)
}

/// An absolute `http` or `https` URL without userinfo or fragment, for an advertised endpoint.
fn parse_url(flag: &str, value: &str) -> Result<String, String> {
    let plain = url::Url::parse(value).is_ok_and(|url| {
        matches!(url.scheme(), "http" | "https")
            && url.has_host()
            && url.username().is_empty()
            && url.password().is_none()
            && url.fragment().is_none()
    });
    plain.then(|| value.to_owned()).ok_or_else(|| {
        format!("{flag} expects an http or https URL without userinfo or fragment, got `{value}`")
    })
}

/// `--audience`: a non-empty value without whitespace or control characters (an issuer URL or
/// the organisation identifier the directory assigned).
fn parse_audience(value: &str) -> Result<String, String> {
    let plain = !value.is_empty() && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    plain.then(|| value.to_owned()).ok_or_else(|| {
        format!("--audience expects an issuer URL or an organisation identifier, got `{value}`")
    })
}

fn parse_client(value: &str) -> Result<BootstrapClient, String> {
    match value.split_once(':') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Ok(BootstrapClient {
            id: id.to_owned(),
            secret: secret.to_owned(),
        }),
        _ => Err("--bootstrap-client expects ID:SECRET, both non-empty".into()),
    }
}

/// One RFC 6749 §3.3 `scope-token`: `1*( %x21 / %x23-5B / %x5D-7E )`.
pub(crate) fn is_scope_token(value: &str) -> bool {
    !value.is_empty()
        && value
            .bytes()
            .all(|b| matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E))
}

/// `--scopes`: one or more RFC 6749 §3.3 scope tokens separated by spaces.
fn parse_scopes(value: &str) -> Result<Vec<String>, String> {
    let scopes: Vec<String> = value.split_whitespace().map(str::to_owned).collect();
    if scopes.is_empty() || !scopes.iter().all(|s| is_scope_token(s)) {
        return Err(format!(
            "--scopes expects scope tokens separated by spaces (like `openid profile`), got `{value}`"
        ));
    }
    Ok(scopes)
}

fn parse_scope(value: &str) -> Result<String, String> {
    if is_scope_token(value) {
        Ok(value.to_owned())
    } else {
        Err(format!(
            "--require-initial-token expects one scope token (like `register`), got `{value}`"
        ))
    }
}

fn parse_store(value: &str) -> Result<StoreChoice, String> {
    if value == "memory" {
        return Ok(StoreChoice::Memory);
    }
    if let Some(path) = value.strip_prefix("sqlite:") {
        if path.is_empty() || path == ":memory:" {
            return Err(format!(
                "--store sqlite:PATH needs the path of a file (`sqlite:/var/lib/dcr/clients.db`), \
                 got `{value}`; for a store in memory, `--store memory`"
            ));
        }
        if cfg!(not(feature = "sqlite")) {
            return Err("--store sqlite:PATH needs the `sqlite` feature: \
                        cargo run --example server --features sqlite -- --store sqlite:PATH"
                .into());
        }
        return Ok(StoreChoice::Sqlite(PathBuf::from(path)));
    }
    if !(value.starts_with("postgres://") || value.starts_with("postgresql://")) {
        return Err("--store expects `memory`, `sqlite:PATH` or a postgres://… URL".into());
    }
    if cfg!(feature = "postgres") {
        Ok(StoreChoice::Postgres(value.to_owned()))
    } else {
        Err("--store postgres://… needs the `postgres` feature: \
             cargo run --example server --features postgres -- --store postgres://…"
            .into())
    }
}

/// `--admin-token`: an RFC 6750 `b64token` (letters, digits, `-._~+/`, then `=` padding), so that
/// it can be sent as a bearer token.
fn parse_admin_token(value: &str) -> Result<AdminToken, String> {
    let body = value.trim_end_matches('=');
    let well_formed = !body.is_empty()
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b));
    if !well_formed {
        return Err(
            "--admin-token expects a bearer token: letters, digits and -._~+/ (then = padding)"
                .into(),
        );
    }
    Ok(AdminToken {
        hash: SecretHash::of(value),
        len: value.len(),
    })
}

/// A serialized origin (`https://app.example`, `http://localhost:3000`), exactly as browsers
/// send it in `Origin`.
fn parse_origin(value: &str) -> Result<String, String> {
    let same = url::Url::parse(value)
        .is_ok_and(|url| url.origin().is_tuple() && url.origin().ascii_serialization() == value);
    same.then(|| value.to_owned()).ok_or_else(|| {
        format!(
            "--allow-origin expects an origin like https://app.example (no path), got `{value}`"
        )
    })
}
