//! [`ClientMetadata`]: the typed client metadata of RFC 7591 §2, OpenID Connect Dynamic Client
//! Registration 1.0 §2, the OIDC logout specs, RFC 8705, RFC 9449, RFC 9126, RFC 9396, JARM and
//! JWT introspection responses.

mod de;
mod values;

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

pub(crate) use values::Coded;
pub use values::{
    ApplicationType, AuthMethod, GrantType, JoseAlgorithm, RedirectUri, ResponseType, Scope,
    SubjectType,
};

/// The human-readable members that may carry a BCP 47 language tag (`client_name#ja-Jpan-JP`,
/// RFC 7591 §2.2).
pub(crate) const LOCALIZABLE: [&str; 5] = [
    "client_name",
    "client_uri",
    "logo_uri",
    "tos_uri",
    "policy_uri",
];

/// Calls `$callback!` with every typed member of [`ClientMetadata`], in declaration order, after
/// the caller's own arguments: the one list that request parsing, the derived-free
/// `Deserialize` and the store codec share, so none of them can miss a member.
macro_rules! with_members {
    ($callback:ident!($($args:tt)*)) => {
        $callback! { $($args)*;
            redirect_uris,
            token_endpoint_auth_method,
            grant_types,
            response_types,
            client_name,
            client_uri,
            logo_uri,
            scope,
            contacts,
            tos_uri,
            policy_uri,
            jwks_uri,
            jwks,
            software_id,
            software_version,
            application_type,
            sector_identifier_uri,
            subject_type,
            id_token_signed_response_alg,
            id_token_encrypted_response_alg,
            id_token_encrypted_response_enc,
            userinfo_signed_response_alg,
            userinfo_encrypted_response_alg,
            userinfo_encrypted_response_enc,
            request_object_signing_alg,
            request_object_encryption_alg,
            request_object_encryption_enc,
            token_endpoint_auth_signing_alg,
            default_max_age,
            require_auth_time,
            default_acr_values,
            initiate_login_uri,
            request_uris,
            post_logout_redirect_uris,
            frontchannel_logout_uri,
            frontchannel_logout_session_required,
            backchannel_logout_uri,
            backchannel_logout_session_required,
            tls_client_auth_subject_dn,
            tls_client_auth_san_dns,
            tls_client_auth_san_uri,
            tls_client_auth_san_ip,
            tls_client_auth_san_email,
            tls_client_certificate_bound_access_tokens,
            dpop_bound_access_tokens,
            require_pushed_authorization_requests,
            authorization_details_types,
            authorization_signed_response_alg,
            authorization_encrypted_response_alg,
            authorization_encrypted_response_enc,
            introspection_signed_response_alg,
            introspection_encrypted_response_alg,
            introspection_encrypted_response_enc,
        }
    };
}
pub(crate) use with_members;

/// Calls `$callback!` with every metadata value type that is one JSON string on the wire, each
/// with how it is made from that string: the one list the parser and the store codec share.
macro_rules! with_text_types {
    ($callback:ident!()) => {
        $callback! {
            RedirectUri => RedirectUri::new,
            AuthMethod => AuthMethod::from,
            GrantType => GrantType::from,
            ResponseType => ResponseType::new,
            Scope => Scope::new,
            ApplicationType => ApplicationType::from,
            SubjectType => SubjectType::from,
            JoseAlgorithm => JoseAlgorithm::new,
        }
    };
}
pub(crate) use with_text_types;

/// Client metadata, typed.
///
/// Every member is optional on the wire; absent and `null` are the same. What validation accepts
/// is stored and returned; what the crate does not understand is dropped (RFC 7591 §2) unless the
/// [`ServerPolicy`](crate::ServerPolicy) accepts it as an extension.
///
/// Language-tagged variants of the human-readable members (`client_name#fr`) are kept under their
/// full member name and returned as sent: see [`localized`](Self::localized).
///
/// ```
/// use oauth_dcr::ClientMetadata;
///
/// let metadata: ClientMetadata = serde_json::from_str(
///     r#"{"redirect_uris":["https://app.example/cb"],"client_name":"App","client_name#fr":"Appli"}"#,
/// )?;
/// assert_eq!(metadata.client_name.as_deref(), Some("App"));
/// assert_eq!(metadata.localized("client_name").collect::<Vec<_>>(), [("fr", "Appli")]);
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ClientMetadata {
    // ---- RFC 7591 §2 ----
    /// Redirection URIs for redirect-based flows (RFC 7591 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uris: Option<Vec<RedirectUri>>,
    /// How the client authenticates at the token endpoint (RFC 7591 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<AuthMethod>,
    /// Grant types the client may use (RFC 7591 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant_types: Option<Vec<GrantType>>,
    /// Response types the client may use (RFC 7591 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_types: Option<Vec<ResponseType>>,
    /// Name shown to the end user (RFC 7591 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_name: Option<String>,
    /// Home page of the client (RFC 7591 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_uri: Option<String>,
    /// Logo of the client (RFC 7591 §2). Never fetched by this crate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_uri: Option<String>,
    /// Scope values the client may request (RFC 7591 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    /// Contacts of the people responsible for the client, usually e-mail addresses (RFC 7591 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contacts: Option<Vec<String>>,
    /// Terms of service (RFC 7591 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tos_uri: Option<String>,
    /// Privacy policy (RFC 7591 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_uri: Option<String>,
    /// URL of the client's JSON Web Key Set (RFC 7591 §2). Never fetched during registration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// The client's JSON Web Key Set by value; public keys only (RFC 7591 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<Value>,
    /// Identifier of the client software, stable across instances and versions (RFC 7591 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_id: Option<String>,
    /// Version of the client software (RFC 7591 §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub software_version: Option<String>,

    // ---- OpenID Connect Dynamic Client Registration 1.0 §2 ----
    /// `web` or `native` (OIDC Registration §2). Defaults to `web`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub application_type: Option<ApplicationType>,
    /// URL of a JSON array of redirect URIs that defines the pairwise sector (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_identifier_uri: Option<String>,
    /// `public` or `pairwise` (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_type: Option<SubjectType>,
    /// JWS `alg` for ID tokens (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<JoseAlgorithm>,
    /// JWE `alg` for ID tokens (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_encrypted_response_alg: Option<JoseAlgorithm>,
    /// JWE `enc` for ID tokens (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_encrypted_response_enc: Option<JoseAlgorithm>,
    /// JWS `alg` for UserInfo responses (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_signed_response_alg: Option<JoseAlgorithm>,
    /// JWE `alg` for UserInfo responses (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_encrypted_response_alg: Option<JoseAlgorithm>,
    /// JWE `enc` for UserInfo responses (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userinfo_encrypted_response_enc: Option<JoseAlgorithm>,
    /// JWS `alg` of request objects (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_signing_alg: Option<JoseAlgorithm>,
    /// JWE `alg` of request objects (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_encryption_alg: Option<JoseAlgorithm>,
    /// JWE `enc` of request objects (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_object_encryption_enc: Option<JoseAlgorithm>,
    /// JWS `alg` for `private_key_jwt` / `client_secret_jwt` assertions (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_signing_alg: Option<JoseAlgorithm>,
    /// Default maximum authentication age in seconds (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_age: Option<u64>,
    /// Whether the `auth_time` claim is required in ID tokens (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_auth_time: Option<bool>,
    /// Default requested ACR values (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_acr_values: Option<Vec<String>>,
    /// URI a third party uses to initiate a login by the client; https (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initiate_login_uri: Option<String>,
    /// Pre-registered `request_uri` values (OIDC Registration §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_uris: Option<Vec<String>>,
    /// Where the user agent may be sent after logout (OIDC RP-Initiated Logout §3.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_logout_redirect_uris: Option<Vec<RedirectUri>>,

    // ---- OIDC Front-Channel / Back-Channel Logout ----
    /// Front-channel logout URI (OIDC Front-Channel Logout §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_uri: Option<String>,
    /// Whether `iss` and `sid` are sent to the front-channel logout URI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_session_required: Option<bool>,
    /// Back-channel logout URI (OIDC Back-Channel Logout §2.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// Whether the logout token must carry `sid`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_session_required: Option<bool>,

    // ---- RFC 8705 (mutual TLS) ----
    /// Expected subject DN of the client certificate (RFC 8705 §2.1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_subject_dn: Option<String>,
    /// Expected dNSName SAN (RFC 8705 §2.1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_dns: Option<String>,
    /// Expected uniformResourceIdentifier SAN (RFC 8705 §2.1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_uri: Option<String>,
    /// Expected iPAddress SAN (RFC 8705 §2.1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_ip: Option<String>,
    /// Expected rfc822Name SAN (RFC 8705 §2.1.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_auth_san_email: Option<String>,
    /// Certificate-bound access tokens (RFC 8705 §3.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_client_certificate_bound_access_tokens: Option<bool>,

    // ---- RFC 9449, RFC 9126, RFC 9396 ----
    /// DPoP-bound access tokens always (RFC 9449 §5.2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpop_bound_access_tokens: Option<bool>,
    /// Authorization requests only through PAR (RFC 9126 §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub require_pushed_authorization_requests: Option<bool>,
    /// Authorization details types the client may use (RFC 9396 §10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_details_types: Option<Vec<String>>,

    // ---- JARM and JWT introspection responses ----
    /// JWS `alg` for authorization responses (JARM §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_signed_response_alg: Option<JoseAlgorithm>,
    /// JWE `alg` for authorization responses (JARM §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_encrypted_response_alg: Option<JoseAlgorithm>,
    /// JWE `enc` for authorization responses (JARM §3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_encrypted_response_enc: Option<JoseAlgorithm>,
    /// JWS `alg` for introspection responses (RFC 9701 §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_signed_response_alg: Option<JoseAlgorithm>,
    /// JWE `alg` for introspection responses (RFC 9701 §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_encrypted_response_alg: Option<JoseAlgorithm>,
    /// JWE `enc` for introspection responses (RFC 9701 §6).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub introspection_encrypted_response_enc: Option<JoseAlgorithm>,

    /// Language-tagged members (`client_name#fr`) and accepted extensions, by member name.
    #[serde(flatten)]
    pub(crate) other: BTreeMap<String, Value>,
}

impl ClientMetadata {
    /// The language-tagged variants of `field` (`client_name`, `logo_uri`, `client_uri`, `tos_uri` or `policy_uri`), as `(tag, value)`.
    pub fn localized<'a>(&'a self, field: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        self.other.iter().filter_map(move |(key, value)| {
            let (base, tag) = key.split_once('#')?;
            (base == field).then_some(())?;
            Some((tag, value.as_str()?))
        })
    }

    /// Sets a language-tagged variant (`set_localized("client_name", "fr", "Appli")`).
    ///
    /// Validation refuses other fields and malformed tags.
    pub fn set_localized(&mut self, field: &str, tag: &str, value: impl Into<String>) {
        self.other
            .insert(format!("{field}#{tag}"), Value::String(value.into()));
    }

    /// Extension members the policy accepted, by name.
    pub fn extensions(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.other
            .iter()
            .filter(|(key, _)| !key.contains('#'))
            .map(|(k, v)| (k.as_str(), v))
    }

    /// One extension member.
    pub fn extension(&self, name: &str) -> Option<&Value> {
        self.other.get(name).filter(|_| !name.contains('#'))
    }

    /// Sets an extension member; validation keeps it only when the policy accepts `name`.
    pub fn set_extension(&mut self, name: impl Into<String>, value: Value) {
        self.other.insert(name.into(), value);
    }

    /// The effective grant types: the registered ones, or the RFC default `[authorization_code]`.
    pub fn effective_grant_types(&self) -> &[GrantType] {
        self.grant_types
            .as_deref()
            .unwrap_or(&[GrantType::AuthorizationCode])
    }

    /// The effective authentication method: the registered one or `client_secret_basic`.
    pub fn effective_auth_method(&self) -> &AuthMethod {
        self.token_endpoint_auth_method
            .as_ref()
            .unwrap_or(&AuthMethod::ClientSecretBasic)
    }

    /// The effective application type: the registered one or `web`.
    pub fn effective_application_type(&self) -> &ApplicationType {
        self.application_type
            .as_ref()
            .unwrap_or(&ApplicationType::Web)
    }

    pub(crate) fn other_mut(&mut self) -> &mut BTreeMap<String, Value> {
        &mut self.other
    }
}
