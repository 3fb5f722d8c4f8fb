//! The pure validation rules: metadata against the [`ServerPolicy`], every violation reported at
//! once, then the defaults applied. No I/O, no clock, no store.

mod jwks;
mod text;
mod uri;

use std::collections::BTreeSet;

use crate::error::{ErrorCode, Violation, Violations};
use crate::metadata::{
    ApplicationType, AuthMethod, ClientMetadata, GrantType, JoseAlgorithm, RedirectUri,
    ResponseType, Scope, SubjectType, LOCALIZABLE,
};
use crate::policy::{ScopePolicy, ServerPolicy};
use crate::request::{RegistrationRequest, RESERVED};
use text::{character_problem, member_strings, plausible_email, Strings as _};

pub(crate) use uri::remote_host;

/// Client metadata that met every rule of a [`ServerPolicy`], with the policy's defaults applied:
/// what [`validate`] returns and what a registration stores.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidatedMetadata(pub(crate) ClientMetadata);

impl ValidatedMetadata {
    /// The metadata.
    pub fn into_inner(self) -> ClientMetadata {
        self.0
    }
}

impl std::ops::Deref for ValidatedMetadata {
    type Target = ClientMetadata;

    fn deref(&self) -> &ClientMetadata {
        &self.0
    }
}

/// Validates a request's metadata against `policy` (RFC 7591 §2, OpenID Connect Registration §2,
/// and the policy's own rules) and applies the defaults: the metadata a registration would store.
///
/// Pure: no I/O, no clock, no store, no [`Registrar`](crate::Registrar). It is the dry run a
/// client developer or an administrator's console needs; a registration runs the same function
/// after verifying statements and before the rules that bind a client (initial token
/// restrictions, the host's hook, limits). Every problem is reported at once. Extensions the
/// policy does not accept are dropped. A signed body's members are validated once its signature
/// has verified: before that, the request carries none.
///
/// ```
/// use oauth_dcr::{validate, RegistrationRequest, RequestLimits, ServerPolicy};
///
/// let policy = ServerPolicy::new("https://as.example/register");
/// let request = RegistrationRequest::from_json(
///     br#"{"redirect_uris":["https://app.example/cb#frag"]}"#,
///     &RequestLimits::default(),
/// )?;
/// let refused = validate(&policy, &request).unwrap_err();
/// assert!(refused.names("redirect_uris"));
/// # Ok::<(), oauth_dcr::RegistrationError>(())
/// ```
///
/// # Errors
/// Every violated rule, redirect URI problems first (RFC 7591 §3.2.2 `invalid_redirect_uri`).
pub fn validate(
    policy: &ServerPolicy,
    request: &RegistrationRequest,
) -> Result<ValidatedMetadata, Violations> {
    validate_request(policy, request.metadata.clone(), request.violations.clone())
}

/// [`validate`] on a request's metadata taken by value: drops the extensions the policy does not
/// accept, then checks every rule. `prior` holds the violations found while reading.
pub(crate) fn validate_request(
    policy: &ServerPolicy,
    mut metadata: ClientMetadata,
    prior: Vec<Violation>,
) -> Result<ValidatedMetadata, Violations> {
    metadata.other_mut().retain(|name, _| {
        name.contains('#') || (!RESERVED.contains(&name.as_str()) && policy.accepts_extension(name))
    });
    validate_metadata(policy, metadata, prior)
}

/// Checks every rule on metadata that already holds only what may be kept (after a hook changed
/// it, for example) and applies the defaults.
pub(crate) fn validate_metadata(
    policy: &ServerPolicy,
    mut metadata: ClientMetadata,
    prior: Vec<Violation>,
) -> Result<ValidatedMetadata, Violations> {
    match check(&mut metadata, policy, prior) {
        Ok(()) => Ok(ValidatedMetadata(metadata)),
        Err(list) => Err(Violations::new(list).unwrap_or_else(|| {
            Violations::one(Violation::metadata("metadata", "invalid metadata"))
        })),
    }
}

/// Validates `metadata` against `policy` and applies the defaults, in place; a refused
/// `metadata` is left as it was.
///
/// `prior` holds violations found while parsing (type errors); rules about a member already named
/// there are skipped so each member is reported once.
fn check(
    metadata: &mut ClientMetadata,
    policy: &ServerPolicy,
    prior: Vec<Violation>,
) -> Result<(), Vec<Violation>> {
    let mut v = Check {
        policy,
        out: Vec::new(),
        prior,
    };
    let app_type = metadata
        .application_type
        .clone()
        .unwrap_or_else(|| policy.defaults.application_type.clone());
    v.redirect_uris(metadata, &app_type);
    v.application_type(&app_type);
    let (grants, responses) = v.grants_and_responses(metadata);
    let method = v.auth_method(metadata, &grants);
    v.jwks(metadata, &method);
    v.uris(metadata);
    let scope = v.scope(metadata.scope.as_ref());
    v.algorithms(metadata, &responses, &method);
    v.subject_type(metadata);
    v.strings(metadata);
    v.same_host(metadata);
    // Last, so that a member another rule refused is not named twice.
    v.characters(metadata);

    let mut out = v.prior;
    out.extend(v.out);
    // Redirect URI problems decide the response's code (RFC 7591 §3.2.2 `invalid_redirect_uri`),
    // whatever else is wrong: the sort is stable, so the order within each kind is kept.
    out.sort_by_key(|v| v.code != ErrorCode::InvalidRedirectUri);
    if !out.is_empty() {
        return Err(out);
    }
    metadata.application_type = Some(app_type);
    metadata.grant_types = Some(grants);
    metadata.response_types = Some(responses);
    metadata.token_endpoint_auth_method = Some(method);
    metadata.scope = scope;
    apply_defaults(metadata, policy);
    Ok(())
}

fn apply_defaults(metadata: &mut ClientMetadata, policy: &ServerPolicy) {
    let d = &policy.defaults;
    if metadata.id_token_signed_response_alg.is_none() {
        metadata.id_token_signed_response_alg = d.id_token_signed_response_alg.clone();
    }
    if metadata.subject_type.is_none() {
        metadata.subject_type = d.subject_type.clone();
    }
    // OIDC Registration §2: when `*_encrypted_response_alg` is given without `enc`, the default
    // `enc` is A128CBC-HS256.
    let default_enc = || Some(JoseAlgorithm::from("A128CBC-HS256"));
    for (alg, enc) in [
        (
            &metadata.id_token_encrypted_response_alg,
            &mut metadata.id_token_encrypted_response_enc,
        ),
        (
            &metadata.userinfo_encrypted_response_alg,
            &mut metadata.userinfo_encrypted_response_enc,
        ),
        (
            &metadata.request_object_encryption_alg,
            &mut metadata.request_object_encryption_enc,
        ),
        (
            &metadata.authorization_encrypted_response_alg,
            &mut metadata.authorization_encrypted_response_enc,
        ),
        (
            &metadata.introspection_encrypted_response_alg,
            &mut metadata.introspection_encrypted_response_enc,
        ),
    ] {
        if alg.is_some() && enc.is_none() {
            *enc = default_enc();
        }
    }
}

struct Check<'a> {
    policy: &'a ServerPolicy,
    out: Vec<Violation>,
    prior: Vec<Violation>,
}

impl Check<'_> {
    fn reported(&self, field: &str) -> bool {
        self.prior.iter().chain(&self.out).any(|v| v.field == field)
    }

    /// Records a violation; the message names the field.
    fn metadata(&mut self, field: &str, message: String) {
        let message = if message.contains(field) {
            message
        } else {
            format!("{field}: {message}")
        };
        self.out.push(Violation::metadata(field, message));
    }

    fn redirect_uris(&mut self, m: &ClientMetadata, app_type: &ApplicationType) {
        let rules = &self.policy.redirect;
        for (field, uris) in [
            ("redirect_uris", &m.redirect_uris),
            ("post_logout_redirect_uris", &m.post_logout_redirect_uris),
        ] {
            let Some(uris) = uris else { continue };
            let violation = if field == "redirect_uris" {
                Violation::redirect
            } else {
                Violation::metadata
            };
            if uris.len() > rules.max_uris {
                self.out.push(violation(
                    field,
                    format!("`{field}` has more than {} URIs", rules.max_uris),
                ));
                continue;
            }
            let trusted = self.policy.trusted_redirect_hosts.as_ref();
            for uri in uris {
                let checked = uri::check_redirect(uri.as_str(), app_type, rules).and_then(|host| {
                    match (trusted, host) {
                        (Some(hosts), Some(host)) if !host_allowed(&host, hosts) => {
                            Err(format!("is not on a trusted host (`{host}`)"))
                        }
                        _ => Ok(()),
                    }
                });
                if let Err(why) = checked {
                    self.out.push(violation(
                        field,
                        format!("{field}: `{}` {why}", printable(uri.as_str())),
                    ));
                }
            }
        }
    }

    fn application_type(&mut self, app_type: &ApplicationType) {
        if !self.policy.application_types_supported.contains(app_type) {
            self.metadata(
                "application_type",
                format!("application_type `{app_type}` is not supported"),
            );
        }
    }

    /// Grant types and response types: supported, consistent (RFC 7591 §2.1, OIDC Registration
    /// §2), and redirect URIs present for redirect-based grants. Returns the effective lists.
    fn grants_and_responses(&mut self, m: &ClientMetadata) -> (Vec<GrantType>, Vec<ResponseType>) {
        let sent = m
            .response_types
            .as_deref()
            .map(|r| self.canonical_responses(r));
        let grants = match (&m.grant_types, &sent) {
            (Some(g), _) if !g.is_empty() => dedup(g),
            (_, Some(r)) => grants_for(r, self.policy.hybrid_needs_implicit_grant),
            _ => vec![GrantType::AuthorizationCode],
        };
        let responses = sent.unwrap_or_else(|| responses_for(&grants));
        for g in &grants {
            if !self.policy.grant_types_supported.contains(g) {
                self.metadata("grant_types", format!("grant type `{g}` is not supported"));
            }
        }
        for r in &responses {
            if !self.policy.supports_response_type(r) {
                self.metadata(
                    "response_types",
                    format!("response type `{r}` is not supported"),
                );
            }
        }
        let has_code_grant = grants.contains(&GrantType::AuthorizationCode);
        let has_implicit = grants.contains(&GrantType::Implicit);
        for r in &responses {
            if r.contains("code") && !has_code_grant {
                self.metadata(
                    "response_types",
                    format!("response type `{r}` needs the grant type `authorization_code`"),
                );
            }
            if front_channel_tokens(r, self.policy.hybrid_needs_implicit_grant) && !has_implicit {
                self.metadata(
                    "response_types",
                    format!("response type `{r}` needs the grant type `implicit`"),
                );
            }
        }
        if has_code_grant && !responses.iter().any(|r| r.contains("code")) {
            self.metadata(
                "grant_types",
                "grant type `authorization_code` needs a response type with `code`".to_owned(),
            );
        }
        if has_implicit
            && !responses
                .iter()
                .any(|r| r.contains("token") || r.contains("id_token"))
        {
            self.metadata(
                "grant_types",
                "grant type `implicit` needs a response type with `token` or `id_token`".to_owned(),
            );
        }
        let redirect_based = has_code_grant || has_implicit;
        if redirect_based
            && m.redirect_uris.as_ref().is_none_or(Vec::is_empty)
            && !self.reported("redirect_uris")
        {
            // RFC 7591 §5: the server MUST require redirect-based clients to register their
            // redirection URIs.
            self.out.insert(
                0,
                Violation::redirect(
                    "redirect_uris",
                    "redirect_uris is required for the authorization_code and implicit grants",
                ),
            );
        }
        (grants, responses)
    }

    /// The response types as the server spells them: each must be distinct response names
    /// separated by single spaces (RFC 6749 §3.1.1, `response-type = response-name *( SP
    /// response-name )`), and one whose names are a supported type's in another order becomes
    /// that type (the order does not matter, OAuth 2.0 Multiple Response Type Encoding
    /// Practices §5): what is stored is what was checked.
    fn canonical_responses(&mut self, sent: &[ResponseType]) -> Vec<ResponseType> {
        let mut out = Vec::with_capacity(sent.len());
        for r in sent {
            let well_formed = distinct_response_names(r.as_str());
            if !well_formed {
                self.metadata(
                    "response_types",
                    format!(
                        "response type `{}` must be distinct response names separated by single spaces (RFC 6749 §3.1.1)",
                        printable(r.as_str())
                    ),
                );
            }
            let spelled = if self.policy.response_types_supported.contains(r) || !well_formed {
                r.clone()
            } else {
                let wanted = r.normalized();
                self.policy
                    .response_types_supported
                    .iter()
                    .find(|s| s.normalized() == wanted)
                    .unwrap_or(r)
                    .clone()
            };
            if !out.contains(&spelled) {
                out.push(spelled);
            }
        }
        out
    }

    fn auth_method(&mut self, m: &ClientMetadata, grants: &[GrantType]) -> AuthMethod {
        let method = m
            .token_endpoint_auth_method
            .clone()
            .unwrap_or_else(|| self.policy.defaults.token_endpoint_auth_method.clone());
        let field = "token_endpoint_auth_method";
        if !self
            .policy
            .token_endpoint_auth_methods_supported
            .contains(&method)
        {
            self.metadata(field, format!("{field} `{method}` is not supported"));
        }
        if method == AuthMethod::None && grants.contains(&GrantType::ClientCredentials) {
            self.metadata(
                field,
                "the client_credentials grant needs client authentication, not `none`".to_owned(),
            );
        }
        if method.needs_keys() && m.jwks.is_none() && m.jwks_uri.is_none() {
            self.metadata(field, format!("{field} `{method}` needs jwks or jwks_uri"));
        }
        if method == AuthMethod::TlsClientAuth {
            let subjects = [
                &m.tls_client_auth_subject_dn,
                &m.tls_client_auth_san_dns,
                &m.tls_client_auth_san_uri,
                &m.tls_client_auth_san_ip,
                &m.tls_client_auth_san_email,
            ]
            .iter()
            .filter(|s| s.is_some())
            .count();
            if subjects != 1 {
                self.metadata(
                    field,
                    format!(
                        "tls_client_auth needs exactly one tls_client_auth_subject_dn or \
                         tls_client_auth_san_* value, not {subjects} (RFC 8705 §2.1.2)"
                    ),
                );
            }
        }
        method
    }

    fn jwks(&mut self, m: &ClientMetadata, method: &AuthMethod) {
        if m.jwks.is_some() && m.jwks_uri.is_some() {
            // RFC 7591 §2: "The jwks_uri and jwks parameters MUST NOT both be present".
            self.metadata(
                "jwks",
                "jwks and jwks_uri must not both be present".to_owned(),
            );
        }
        if let Some(set) = &m.jwks {
            match jwks::check_public_set(set) {
                Ok(usable) => self.keys_needed(m, method, usable),
                Err(why) => self.metadata("jwks", format!("jwks: {why}")),
            }
        }
    }

    /// A `jwks` must hold a key for each use the client registered: signing for
    /// `private_key_jwt` and signed request objects, encryption for encrypted responses with an
    /// asymmetric algorithm (`dir` and key wrapping use the client secret), any key for
    /// `self_signed_tls_client_auth` (RFC 8705 §2.2: the client's certificates).
    fn keys_needed(&mut self, m: &ClientMetadata, method: &AuthMethod, usable: jwks::Usable) {
        let signs = |alg: &Option<JoseAlgorithm>| {
            alg.as_ref()
                .is_some_and(|a| a.as_str() != "none" && !a.as_str().starts_with("HS"))
        };
        let encrypts = |alg: &Option<JoseAlgorithm>| {
            alg.as_ref()
                .is_some_and(|a| a.as_str().starts_with("RSA") || a.as_str().starts_with("ECDH-ES"))
        };
        let any = usable.signing + usable.encryption;
        let mut missing: Vec<(&str, &str)> = Vec::new();
        if *method == AuthMethod::PrivateKeyJwt && usable.signing == 0 {
            missing.push((
                "signing key",
                "token_endpoint_auth_method `private_key_jwt`",
            ));
        }
        if *method == AuthMethod::SelfSignedTlsClientAuth && any == 0 {
            missing.push((
                "usable key",
                "token_endpoint_auth_method `self_signed_tls_client_auth`",
            ));
        }
        if signs(&m.request_object_signing_alg) && usable.signing == 0 {
            missing.push(("signing key", "request_object_signing_alg"));
        }
        for (field, alg) in [
            (
                "id_token_encrypted_response_alg",
                &m.id_token_encrypted_response_alg,
            ),
            (
                "userinfo_encrypted_response_alg",
                &m.userinfo_encrypted_response_alg,
            ),
            (
                "authorization_encrypted_response_alg",
                &m.authorization_encrypted_response_alg,
            ),
            (
                "introspection_encrypted_response_alg",
                &m.introspection_encrypted_response_alg,
            ),
        ] {
            if encrypts(alg) && usable.encryption == 0 {
                missing.push(("encryption key", field));
            }
        }
        if let Some((purpose, what)) = missing.first() {
            self.metadata(
                "jwks",
                format!("jwks holds no {purpose}, which {what} needs"),
            );
        }
    }

    fn uris(&mut self, m: &ClientMetadata) {
        let single = [
            ("client_uri", &m.client_uri),
            ("logo_uri", &m.logo_uri),
            ("tos_uri", &m.tos_uri),
            ("policy_uri", &m.policy_uri),
            ("jwks_uri", &m.jwks_uri),
            ("sector_identifier_uri", &m.sector_identifier_uri),
            ("initiate_login_uri", &m.initiate_login_uri),
            ("frontchannel_logout_uri", &m.frontchannel_logout_uri),
            ("backchannel_logout_uri", &m.backchannel_logout_uri),
        ];
        for (field, value) in single {
            if let Some(uri) = value {
                self.web_uri(field, uri, false);
            }
        }
        for uri in m.request_uris.iter().flatten() {
            // OIDC Registration §2: request_uris may carry a fragment with a hash of the content.
            self.web_uri("request_uris", uri, true);
        }
        for field in &LOCALIZABLE[1..] {
            for (tag, uri) in m.localized(field) {
                self.web_uri(&format!("{field}#{tag}"), uri, false);
            }
        }
        for name in SERVER_CALLED_EXTENSIONS {
            match m.extension(name) {
                Some(serde_json::Value::String(uri)) => self.web_uri(name, uri, false),
                Some(_) => self.metadata(name, format!("{name} must be a string")),
                None => {}
            }
        }
    }

    fn web_uri(&mut self, field: &str, uri: &str, allow_fragment: bool) {
        let checked = uri::check_web_uri(uri, self.policy, allow_fragment).and_then(|url| {
            // RFC 9700 §4.15 and the SSRF class of bugs: the server will fetch or call these.
            let called =
                SERVER_CALLED.contains(&field) || SERVER_CALLED_EXTENSIONS.contains(&field);
            match uri::non_public_host(&url) {
                Some(why) if called && !self.policy.dangerously_allow_private_addresses => {
                    Err(format!("{why}, and the server would call it"))
                }
                _ => Ok(()),
            }
        });
        if let Err(why) = checked {
            self.metadata(field, format!("{field}: `{}` {why}", printable(uri)));
        }
    }

    /// Scope syntax (RFC 6749 §3.3) and the policy's narrowing or refusal.
    fn scope(&mut self, scope: Option<&Scope>) -> Option<Scope> {
        let Some(scope) = scope else {
            return self.policy.defaults.scope.as_deref().map(Scope::new);
        };
        if self.scope_as_sent(scope) {
            return Some(scope.clone());
        }
        self.scope_rebuilt(scope)
    }

    /// The general scope rules: every token checked, duplicates dropped, the policy's narrowing
    /// or refusal, the tokens joined by single spaces.
    fn scope_rebuilt(&mut self, scope: &Scope) -> Option<Scope> {
        let mut tokens = BTreeSet::new();
        let mut ordered = Vec::new();
        for token in scope.tokens() {
            if !scope_token(token) {
                self.metadata(
                    "scope",
                    format!(
                        "scope token `{}` has characters outside RFC 6749 §3.3",
                        printable(token)
                    ),
                );
                continue;
            }
            if tokens.insert(token) {
                ordered.push(token);
            }
        }
        match &self.policy.scope {
            ScopePolicy::Any => {}
            ScopePolicy::Narrow(allowed) => ordered.retain(|t| allowed.contains(*t)),
            ScopePolicy::Reject(allowed) => {
                let refused: Vec<&str> = ordered
                    .iter()
                    .copied()
                    .filter(|t| !allowed.contains(*t))
                    .collect();
                if !refused.is_empty() {
                    self.metadata(
                        "scope",
                        format!("scope `{}` is not allowed", refused.join(" ")),
                    );
                }
            }
        }
        (!ordered.is_empty()).then(|| Scope::from_tokens(ordered))
    }

    /// Whether `scope` is kept exactly as sent, decided without building sets or joins: the value
    /// is at most 16 valid, distinct tokens separated by single spaces, each one the policy
    /// allows (what the general rules would rebuild unchanged, and refuse or narrow nothing of).
    fn scope_as_sent(&self, scope: &Scope) -> bool {
        let value = scope.as_str();
        let allowed = match &self.policy.scope {
            ScopePolicy::Any => None,
            ScopePolicy::Narrow(allowed) | ScopePolicy::Reject(allowed) => Some(allowed),
        };
        let spaced = !value.is_empty()
            && !value.starts_with(' ')
            && !value.ends_with(' ')
            && !value.contains("  ");
        if !spaced {
            return false;
        }
        let mut seen = [""; 16];
        for (i, token) in spaced_words(value).enumerate() {
            if i == seen.len()
                || seen[..i].contains(&token)
                || !scope_token(token)
                || !allowed.is_none_or(|allowed| allows(allowed, token))
            {
                return false;
            }
            seen[i] = token;
        }
        true
    }

    fn algorithms(&mut self, m: &ClientMetadata, responses: &[ResponseType], method: &AuthMethod) {
        let jose = &self.policy.jose;
        let returns_id_token = responses.iter().any(|r| r.contains("id_token"));
        if let Some(alg) = &m.id_token_signed_response_alg {
            if alg.as_str() == "none" && returns_id_token {
                // OIDC Registration §2: `none` MUST NOT be used when the response type returns an
                // ID token from the authorization endpoint.
                self.metadata(
                    "id_token_signed_response_alg",
                    "id_token_signed_response_alg `none` is not allowed with a response type that returns an ID token".to_owned(),
                );
            }
        }
        let signing = [
            (
                "id_token_signed_response_alg",
                &m.id_token_signed_response_alg,
                &jose.id_token_signing,
            ),
            (
                "userinfo_signed_response_alg",
                &m.userinfo_signed_response_alg,
                &jose.userinfo_signing,
            ),
            (
                "request_object_signing_alg",
                &m.request_object_signing_alg,
                &jose.request_object_signing,
            ),
            (
                "token_endpoint_auth_signing_alg",
                &m.token_endpoint_auth_signing_alg,
                &jose.token_endpoint_auth_signing,
            ),
            (
                "authorization_signed_response_alg",
                &m.authorization_signed_response_alg,
                &jose.authorization_signing,
            ),
            (
                "introspection_signed_response_alg",
                &m.introspection_signed_response_alg,
                &jose.introspection_signing,
            ),
        ];
        for (field, value, supported) in signing {
            self.supported_alg(field, value.as_ref(), supported);
        }
        if let Some(alg) = &m.token_endpoint_auth_signing_alg {
            let hmac = alg.as_str().starts_with("HS");
            let wrong = alg.as_str() == "none"
                || (*method == AuthMethod::PrivateKeyJwt && hmac)
                || (*method == AuthMethod::ClientSecretJwt && !hmac);
            if wrong && !self.reported("token_endpoint_auth_signing_alg") {
                self.metadata(
                    "token_endpoint_auth_signing_alg",
                    format!("token_endpoint_auth_signing_alg `{alg}` does not fit {method}"),
                );
            }
        }
        let encryption = [
            (
                "id_token_encrypted_response_alg",
                "id_token_encrypted_response_enc",
                &m.id_token_encrypted_response_alg,
                &m.id_token_encrypted_response_enc,
            ),
            (
                "userinfo_encrypted_response_alg",
                "userinfo_encrypted_response_enc",
                &m.userinfo_encrypted_response_alg,
                &m.userinfo_encrypted_response_enc,
            ),
            (
                "request_object_encryption_alg",
                "request_object_encryption_enc",
                &m.request_object_encryption_alg,
                &m.request_object_encryption_enc,
            ),
            (
                "authorization_encrypted_response_alg",
                "authorization_encrypted_response_enc",
                &m.authorization_encrypted_response_alg,
                &m.authorization_encrypted_response_enc,
            ),
            (
                "introspection_encrypted_response_alg",
                "introspection_encrypted_response_enc",
                &m.introspection_encrypted_response_alg,
                &m.introspection_encrypted_response_enc,
            ),
        ];
        for (alg_field, enc_field, alg, enc) in encryption {
            self.supported_alg(alg_field, alg.as_ref(), &jose.encryption_alg);
            self.supported_alg(enc_field, enc.as_ref(), &jose.encryption_enc);
            if enc.is_some() && alg.is_none() {
                self.metadata(enc_field, format!("{enc_field} needs {alg_field}"));
            }
        }
    }

    fn supported_alg(
        &mut self,
        field: &str,
        value: Option<&JoseAlgorithm>,
        supported: &[JoseAlgorithm],
    ) {
        let Some(alg) = value else { return };
        if !supported.contains(alg) && !self.reported(field) {
            self.metadata(
                field,
                format!("{field} `{}` is not supported", printable(alg.as_str())),
            );
        }
    }

    /// Subject type support, and OIDC Core §8.1: pairwise clients with redirect URIs on more than
    /// one host need a `sector_identifier_uri`.
    fn subject_type(&mut self, m: &ClientMetadata) {
        let Some(subject_type) = &m.subject_type else {
            return;
        };
        if !self.policy.subject_types_supported.contains(subject_type) {
            self.metadata(
                "subject_type",
                format!("subject_type `{subject_type}` is not supported"),
            );
        }
        if *subject_type == SubjectType::Pairwise && m.sector_identifier_uri.is_none() {
            let hosts: BTreeSet<String> = redirect_hosts(m.redirect_uris.as_deref());
            if hosts.len() > 1 {
                self.metadata(
                    "sector_identifier_uri",
                    "sector_identifier_uri is required for pairwise clients with redirect URIs on more than one host".to_owned(),
                );
            }
        }
    }

    /// Free-text members are not empty, and contacts are e-mail addresses (the characters of
    /// every string are [`characters`](Self::characters)' rule).
    fn strings(&mut self, m: &ClientMetadata) {
        let single = [
            ("client_name", &m.client_name),
            ("software_id", &m.software_id),
            ("software_version", &m.software_version),
        ];
        for (field, value) in single {
            if let Some(value) = value {
                self.text(field, value);
            }
        }
        for contact in m.contacts.iter().flatten() {
            if !contact.trim().is_empty() && !plausible_email(contact) {
                self.metadata(
                    "contacts",
                    format!(
                        "contacts: `{}` is not an e-mail address (OpenID Connect Registration §2)",
                        printable(contact)
                    ),
                );
            }
        }
        let lists = [
            ("contacts", &m.contacts),
            ("default_acr_values", &m.default_acr_values),
            (
                "authorization_details_types",
                &m.authorization_details_types,
            ),
        ];
        for (field, list) in lists {
            for value in list.iter().flatten() {
                self.text(field, value);
            }
        }
        for (tag, value) in m.localized("client_name") {
            self.text(&format!("client_name#{tag}"), value);
        }
    }

    fn text(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.metadata(field, format!("{field} must not be empty"));
        }
    }

    /// One pass over every string of every member, nested ones (`jwks`, extensions) and
    /// language-tagged variants included: no control characters anywhere (they break logs,
    /// headers and consent screens, and PostgreSQL refuses NUL), and no bidirectional override
    /// or isolate characters in what a consent screen shows, where they make one name render as
    /// another. A member another rule refused is not named again.
    fn characters(&mut self, m: &ClientMetadata) {
        let mut refused: Vec<(String, &'static str)> = Vec::new();
        let mut visit = |field: &str, value: &str| {
            if let Some(why) = character_problem(field, value) {
                if !refused.iter().any(|(f, _)| f == field) {
                    refused.push((field.to_owned(), why));
                }
            }
        };
        member_strings(m, &mut visit);
        for (key, value) in &m.other {
            key.each(&mut |s| visit(key, s));
            value.each(&mut |s| visit(key, s));
        }
        for (field, why) in refused {
            if !self.reported(&field) {
                self.metadata(&field, format!("{field} must not contain {why}"));
            }
        }
    }

    /// OIDC Registration §9.1 / RFC 7591 §5, when the policy asks for it: the URLs shown to the
    /// user live on a host of one of the redirect URIs.
    fn same_host(&mut self, m: &ClientMetadata) {
        if !self.policy.require_same_host_display_uris {
            return;
        }
        let hosts = redirect_hosts(m.redirect_uris.as_deref());
        let plain = [
            ("client_uri", &m.client_uri),
            ("logo_uri", &m.logo_uri),
            ("tos_uri", &m.tos_uri),
            ("policy_uri", &m.policy_uri),
        ]
        .into_iter()
        .filter_map(|(field, value)| Some((field.to_owned(), value.as_deref()?)));
        // Every language variant too (`logo_uri#en`): a consent screen shows those.
        let tagged = LOCALIZABLE[1..].iter().flat_map(|field| {
            m.localized(field)
                .map(move |(tag, uri)| (format!("{field}#{tag}"), uri))
        });
        let all: Vec<(String, &str)> = plain.chain(tagged).collect();
        for (field, uri) in all {
            let host = url::Url::parse(uri)
                .ok()
                .and_then(|u| u.host_str().map(str::to_owned));
            if host.is_some_and(|h| !hosts.contains(&h)) && !self.reported(&field) {
                self.metadata(
                    &field,
                    format!("{field} must be on the host of a redirect URI"),
                );
            }
        }
    }
}

/// The URL members the authorization server itself fetches or calls: their hosts must be public
/// (see [`uri::non_public_host`]) unless the policy dangerously allows otherwise.
const SERVER_CALLED: [&str; 4] = [
    "jwks_uri",
    "sector_identifier_uri",
    "request_uris",
    "backchannel_logout_uri",
];

/// Extension members the server calls when a policy accepts them (OpenID CIBA §4).
const SERVER_CALLED_EXTENSIONS: [&str; 1] = ["backchannel_client_notification_endpoint"];

/// `value` split at every space, as `str::split(' ')` splits it (empty words included), by a
/// byte search: a space is one byte, and the words of a short value are found without the
/// general pattern machinery.
fn spaced_words(value: &str) -> impl Iterator<Item = &str> {
    let mut rest = Some(value);
    std::iter::from_fn(move || {
        let current = rest?;
        match current.bytes().position(|b| b == b' ') {
            Some(space) => {
                rest = Some(&current[space + 1..]);
                Some(&current[..space])
            }
            None => {
                rest = None;
                Some(current)
            }
        }
    })
}

/// Whether `allowed` holds `token`: a policy's handful of scopes is scanned comparing lengths
/// first, which is cheaper than the set's ordered search; a long list is searched.
fn allows(allowed: &BTreeSet<String>, token: &str) -> bool {
    if allowed.len() > 16 {
        return allowed.contains(token);
    }
    allowed
        .iter()
        .any(|scope| scope.len() == token.len() && scope == token)
}

/// Whether `value` is distinct response names (`[A-Za-z0-9_]+`) separated by single spaces
/// (RFC 6749 §3.1.1).
fn distinct_response_names(value: &str) -> bool {
    let names = || spaced_words(value);
    let valid = |name: &str| {
        !name.is_empty() && name.bytes().all(|b| b == b'_' || b.is_ascii_alphanumeric())
    };
    if names().nth(8).is_none() {
        // A real response type has one to three names: compared pairwise, without a set.
        return names()
            .enumerate()
            .all(|(i, name)| valid(name) && !names().take(i).any(|earlier| earlier == name));
    }
    // A set keeps a long value linear-logarithmic, not quadratic.
    let mut seen = BTreeSet::new();
    names().all(|name| valid(name) && seen.insert(name))
}

/// RFC 6749 §3.3: `scope-token = 1*( %x21 / %x23-5B / %x5D-7E )`.
fn scope_token(token: &str) -> bool {
    token
        .bytes()
        .all(|b| b == 0x21 || (0x23..=0x5B).contains(&b) || (0x5D..=0x7E).contains(&b))
}

/// Whether `host` is in `allowed`, where an entry `.example.com` also admits its subdomains.
pub(crate) fn host_allowed<'a>(host: &str, allowed: impl IntoIterator<Item = &'a String>) -> bool {
    allowed
        .into_iter()
        .any(|entry| match entry.strip_prefix('.') {
            Some(parent) => host == parent || host.ends_with(entry.as_str()),
            None => host == entry,
        })
}

fn redirect_hosts(uris: Option<&[RedirectUri]>) -> BTreeSet<String> {
    uris.into_iter()
        .flatten()
        .filter_map(|u| {
            url::Url::parse(u.as_str())
                .ok()?
                .host_str()
                .map(str::to_owned)
        })
        .collect()
}

fn dedup<T: Clone + PartialEq>(list: &[T]) -> Vec<T> {
    let mut out: Vec<T> = Vec::with_capacity(list.len());
    for item in list {
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    out
}

/// The grant types implied by response types (OIDC Registration §2 table); without
/// `hybrid_needs_implicit`, a hybrid implies `authorization_code` only.
fn grants_for(responses: &[ResponseType], hybrid_needs_implicit: bool) -> Vec<GrantType> {
    let mut grants = Vec::new();
    if responses.iter().any(|r| r.contains("code")) {
        grants.push(GrantType::AuthorizationCode);
    }
    if responses
        .iter()
        .any(|r| front_channel_tokens(r, hybrid_needs_implicit))
    {
        grants.push(GrantType::Implicit);
    }
    grants
}

/// Whether a response type needs the `implicit` grant: it returns a token or an ID token from
/// the authorization endpoint (OIDC Registration §2), unless it is a hybrid and the policy's
/// [`hybrid_needs_implicit_grant`](ServerPolicy::hybrid_needs_implicit_grant) is off.
fn front_channel_tokens(response: &ResponseType, hybrid_needs_implicit: bool) -> bool {
    let tokens = response.contains("token") || response.contains("id_token");
    tokens && (hybrid_needs_implicit || !response.contains("code"))
}

/// The response types implied by grant types: `code` for `authorization_code`, `token` for
/// `implicit`, none for grants that do not use the authorization endpoint.
fn responses_for(grants: &[GrantType]) -> Vec<ResponseType> {
    let mut responses = Vec::new();
    if grants.contains(&GrantType::AuthorizationCode) {
        responses.push(ResponseType::code());
    }
    if grants.contains(&GrantType::Implicit) {
        responses.push(ResponseType::new("token"));
    }
    responses
}

/// A value made safe to quote in an error message: control characters escaped, length capped.
fn printable(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(200)
        .flat_map(char::escape_debug)
        .collect();
    if value.chars().count() > 200 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(policy: &ServerPolicy) -> Check<'_> {
        Check {
            policy,
            out: Vec::new(),
            prior: Vec::new(),
        }
    }

    /// What the scope shortcut keeps as sent, the general rules rebuild unchanged.
    fn shortcut_agrees(policy: &ServerPolicy, value: &str) -> bool {
        let scope = Scope::new(value);
        let kept = check(policy).scope_as_sent(&scope);
        if kept {
            let mut general = check(policy);
            assert_eq!(general.scope_rebuilt(&scope), Some(scope), "{value:?}");
            assert!(general.out.is_empty(), "{value:?}");
        }
        kept
    }

    #[test]
    fn the_scope_shortcut_keeps_only_what_the_rules_keep() {
        let mut any = ServerPolicy::new("https://as.example/register");
        any.scope = ScopePolicy::Any;
        for kept in ["openid", "openid profile email", "a!b c~d"] {
            assert!(shortcut_agrees(&any, kept), "{kept:?}");
        }
        let many = vec!["t"; 17]
            .iter()
            .enumerate()
            .map(|(i, t)| format!("{t}{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        for rebuilt in [
            "",
            " openid",
            "openid ",
            "openid  profile",
            "openid openid",
            "open\"id",
            "read\\write",
            many.as_str(),
        ] {
            assert!(!shortcut_agrees(&any, rebuilt), "{rebuilt:?}");
        }
        let allowed: BTreeSet<String> = ["openid".to_owned(), "email".to_owned()].into();
        for limited in [
            ScopePolicy::Narrow(allowed.clone()),
            ScopePolicy::Reject(allowed),
        ] {
            let mut policy = ServerPolicy::new("https://as.example/register");
            policy.scope = limited;
            for kept in ["openid", "email openid"] {
                assert!(shortcut_agrees(&policy, kept), "{kept:?}");
            }
            for rebuilt in ["openid profile", "profile", "openid openid", "admin"] {
                assert!(!shortcut_agrees(&policy, rebuilt), "{rebuilt:?}");
            }
        }
    }

    #[test]
    fn response_names_are_distinct_and_singly_spaced() {
        let long: Vec<String> = (0..12).map(|i| format!("n{i}")).collect();
        let long = long.join(" ");
        for ok in [
            "code",
            "code id_token",
            "id_token token code",
            long.as_str(),
        ] {
            assert!(distinct_response_names(ok), "{ok:?}");
        }
        let repeated = format!("{long} n3");
        for bad in [
            "",
            " code",
            "code ",
            "code  token",
            "code code",
            "code-x",
            "token code token",
            repeated.as_str(),
        ] {
            assert!(!distinct_response_names(bad), "{bad:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn spaced_words_split_as_str_split_does(value in "[ab ]{0,10}") {
            let fast: Vec<&str> = spaced_words(&value).collect();
            let plain: Vec<&str> = value.split(' ').collect();
            proptest::prop_assert_eq!(fast, plain);
        }

        #[test]
        fn the_scope_shortcut_agrees_with_the_rules(value in "[a-c \"\\\\]{0,12}") {
            let allowed: BTreeSet<String> = ["a", "b", "ab", "ca"].map(String::from).into();
            for scope in [
                ScopePolicy::Any,
                ScopePolicy::Narrow(allowed.clone()),
                ScopePolicy::Reject(allowed),
            ] {
                let mut policy = ServerPolicy::new("https://as.example/register");
                policy.scope = scope;
                shortcut_agrees(&policy, &value);
            }
        }
    }
}
