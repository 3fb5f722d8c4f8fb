//! The registration-related authorization server metadata (RFC 8414 §2, OpenID Connect Discovery
//! 1.0 §3), generated from the same [`ServerPolicy`] the registrar enforces, so what a server
//! advertises and what it accepts cannot drift apart.

use serde_json::{Map, Value};

use crate::policy::{ScopePolicy, ServerPolicy};
use crate::registrar::Registrar;

/// The members a discovery document needs for registration: `registration_endpoint` and the
/// `*_supported` lists. Merge them into the host's own document, which must add what only the
/// host knows: `issuer`, `authorization_endpoint`, `token_endpoint`, `jwks_uri`, ….
///
/// This is not a complete document on its own. OpenID Connect Discovery §3 requires `issuer`,
/// `authorization_endpoint`, `jwks_uri` and (unless only the implicit flow is used)
/// `token_endpoint`; RFC 8414 §2 requires `issuer` and `authorization_endpoint` too. Typed
/// clients such as the Rust `openidconnect` crate refuse a document without them ("missing
/// field `authorization_endpoint`"). `examples/server` shows a base document with flags for
/// the endpoints it does not implement.
///
/// `client_id_metadata_document_supported` depends on more than the policy (a fetcher must be
/// attached), so this function never includes it: use [`Registrar::discovery_metadata`], which
/// does when the registrar resolves URL client identifiers.
///
/// ```
/// let policy = oauth_dcr::ServerPolicy::new("https://as.example/register");
/// let metadata = oauth_dcr::discovery::discovery_metadata(&policy);
/// assert_eq!(metadata["registration_endpoint"], "https://as.example/register");
/// assert_eq!(metadata["response_types_supported"], serde_json::json!(["code"]));
///
/// // The host's base document, with the registration members merged in.
/// let mut document = serde_json::json!({
///     "issuer": "https://as.example",
///     "authorization_endpoint": "https://as.example/authorize",
///     "token_endpoint": "https://as.example/token",
///     "jwks_uri": "https://as.example/jwks",
/// });
/// if let Some(base) = document.as_object_mut() {
///     base.extend(metadata);
/// }
/// assert_eq!(document["subject_types_supported"], serde_json::json!(["public"]));
/// ```
pub fn discovery_metadata(policy: &ServerPolicy) -> Map<String, Value> {
    let mut m = Map::new();
    let strings =
        |items: Vec<&str>| Value::from(items.into_iter().map(Value::from).collect::<Vec<_>>());
    m.insert(
        "registration_endpoint".into(),
        policy.registration_endpoint.clone().into(),
    );
    m.insert(
        "grant_types_supported".into(),
        strings(
            policy
                .grant_types_supported
                .iter()
                .map(|g| g.as_str())
                .collect(),
        ),
    );
    m.insert(
        "response_types_supported".into(),
        strings(
            policy
                .response_types_supported
                .iter()
                .map(|r| r.as_str())
                .collect(),
        ),
    );
    m.insert(
        "token_endpoint_auth_methods_supported".into(),
        strings(
            policy
                .token_endpoint_auth_methods_supported
                .iter()
                .map(|a| a.as_str())
                .collect(),
        ),
    );
    m.insert(
        "subject_types_supported".into(),
        strings(
            policy
                .subject_types_supported
                .iter()
                .map(|s| s.as_str())
                .collect(),
        ),
    );
    if let ScopePolicy::Narrow(scopes) | ScopePolicy::Reject(scopes) = &policy.scope {
        m.insert(
            "scopes_supported".into(),
            strings(scopes.iter().map(String::as_str).collect()),
        );
    }
    let jose = &policy.jose;
    let algs = |list: &[crate::JoseAlgorithm]| strings(list.iter().map(|a| a.as_str()).collect());
    for (name, list) in [
        (
            "id_token_signing_alg_values_supported",
            &jose.id_token_signing,
        ),
        (
            "userinfo_signing_alg_values_supported",
            &jose.userinfo_signing,
        ),
        (
            "request_object_signing_alg_values_supported",
            &jose.request_object_signing,
        ),
        (
            "token_endpoint_auth_signing_alg_values_supported",
            &jose.token_endpoint_auth_signing,
        ),
        (
            "authorization_signing_alg_values_supported",
            &jose.authorization_signing,
        ),
        (
            "introspection_signing_alg_values_supported",
            &jose.introspection_signing,
        ),
        (
            "id_token_encryption_alg_values_supported",
            &jose.encryption_alg,
        ),
        (
            "id_token_encryption_enc_values_supported",
            &jose.encryption_enc,
        ),
        (
            "userinfo_encryption_alg_values_supported",
            &jose.encryption_alg,
        ),
        (
            "userinfo_encryption_enc_values_supported",
            &jose.encryption_enc,
        ),
        (
            "request_object_encryption_alg_values_supported",
            &jose.encryption_alg,
        ),
        (
            "request_object_encryption_enc_values_supported",
            &jose.encryption_enc,
        ),
        (
            "authorization_encryption_alg_values_supported",
            &jose.encryption_alg,
        ),
        (
            "authorization_encryption_enc_values_supported",
            &jose.encryption_enc,
        ),
        (
            "introspection_encryption_alg_values_supported",
            &jose.encryption_alg,
        ),
        (
            "introspection_encryption_enc_values_supported",
            &jose.encryption_enc,
        ),
    ] {
        m.insert(name.into(), algs(list));
    }
    m
}

impl Registrar {
    /// [`discovery_metadata`] for this registrar's policy, plus what only the registrar knows:
    /// `client_id_metadata_document_supported` when it resolves URL client identifiers (the
    /// policy enables [`metadata_documents`](ServerPolicy::metadata_documents) and a fetcher is
    /// attached with [`Registrar::with_metadata_documents`]). Discovery is derived from what the
    /// registrar can actually do.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use oauth_dcr::MemoryStore;
    /// use oauth_dcr::profiles::Profile;
    ///
    /// // The MCP profile enables documents, but without a fetcher it cannot resolve them.
    /// let registrar = Profile::Mcp.registrar("https://as.example/register", Arc::new(MemoryStore::new()));
    /// assert!(registrar.discovery_metadata().get("client_id_metadata_document_supported").is_none());
    /// ```
    pub fn discovery_metadata(&self) -> Map<String, Value> {
        let mut m = discovery_metadata(&self.policy);
        if self.resolves_metadata_documents() {
            m.insert(
                "client_id_metadata_document_supported".into(),
                Value::Bool(true),
            );
        }
        // OpenID Federation 1.0 §5.1.3: explicit registration, at the registration endpoint,
        // which takes the trust chain as `application/trust-chain+json`.
        if self.federation.is_some() {
            m.insert(
                "federation_registration_endpoint".into(),
                self.policy.registration_endpoint.clone().into(),
            );
            m.insert(
                "client_registration_types_supported".into(),
                Value::from(vec!["explicit"]),
            );
        }
        m
    }
}
