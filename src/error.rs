//! Errors: which RFC error code, which HTTP status and which headers a failure maps to.
//!
//! [`RegistrationError`] is the Rust error every operation returns; [`ErrorResponse`] is the JSON
//! body a client sees (RFC 7591 §3.2.2, RFC 6750 §3). Only this module decides how one maps to the
//! other, so a handler never has to.

use std::borrow::Cow;
use std::fmt;

use http::{HeaderValue, StatusCode};
use serde::{Deserialize, Serialize};

/// An OAuth error code, as registered in the OAuth Extensions Error Registry.
///
/// The known codes are variants; anything else round-trips through [`ErrorCode::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `invalid_request`: the request is malformed (RFC 6749 §5.2, RFC 6750 §3.1).
    InvalidRequest,
    /// `invalid_redirect_uri`: a redirection URI is not acceptable (RFC 7591 §3.2.2).
    InvalidRedirectUri,
    /// `invalid_client_metadata`: a metadata value is not acceptable (RFC 7591 §3.2.2).
    InvalidClientMetadata,
    /// `invalid_software_statement`: the software statement is invalid (RFC 7591 §3.2.2).
    InvalidSoftwareStatement,
    /// `unapproved_software_statement`: the software statement is not approved (RFC 7591 §3.2.2).
    UnapprovedSoftwareStatement,
    /// `invalid_token`: the bearer token is expired, revoked, malformed or otherwise invalid
    /// (RFC 6750 §3.1). A request without any token gets no error code in its challenge.
    InvalidToken,
    /// `insufficient_scope`: the bearer token lacks a required scope (RFC 6750 §3.1).
    InsufficientScope,
    /// `access_denied`: the caller may not perform this operation.
    AccessDenied,
    /// `invalid_client`: the client cannot be identified, for example a URL client identifier
    /// whose metadata document is not acceptable (RFC 6749 §5.2).
    InvalidClient,
    /// `server_error`: the server failed; no detail is given to the client.
    ServerError,
    /// `invalid_trust_chain`: the OpenID Federation trust chain could not be verified or its
    /// metadata policies are broken (OpenID Federation 1.0 §8.9).
    InvalidTrustChain,
    /// `invalid_metadata`: the entity's metadata does not comply with its trust chain's metadata
    /// policy (OpenID Federation 1.0 §8.9).
    InvalidMetadata,
    /// Any other code.
    Other(String),
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(&self) -> &str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidRedirectUri => "invalid_redirect_uri",
            Self::InvalidClientMetadata => "invalid_client_metadata",
            Self::InvalidSoftwareStatement => "invalid_software_statement",
            Self::UnapprovedSoftwareStatement => "unapproved_software_statement",
            Self::InvalidToken => "invalid_token",
            Self::InsufficientScope => "insufficient_scope",
            Self::AccessDenied => "access_denied",
            Self::InvalidClient => "invalid_client",
            Self::ServerError => "server_error",
            Self::InvalidTrustChain => "invalid_trust_chain",
            Self::InvalidMetadata => "invalid_metadata",
            Self::Other(code) => code,
        }
    }
}

impl From<&str> for ErrorCode {
    fn from(value: &str) -> Self {
        match value {
            "invalid_request" => Self::InvalidRequest,
            "invalid_redirect_uri" => Self::InvalidRedirectUri,
            "invalid_client_metadata" => Self::InvalidClientMetadata,
            "invalid_software_statement" => Self::InvalidSoftwareStatement,
            "unapproved_software_statement" => Self::UnapprovedSoftwareStatement,
            "invalid_token" => Self::InvalidToken,
            "insufficient_scope" => Self::InsufficientScope,
            "access_denied" => Self::AccessDenied,
            "invalid_client" => Self::InvalidClient,
            "server_error" => Self::ServerError,
            "invalid_trust_chain" => Self::InvalidTrustChain,
            "invalid_metadata" => Self::InvalidMetadata,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = Cow::<str>::deserialize(deserializer)?;
        Ok(Self::from(s.as_ref()))
    }
}

/// The JSON error body of RFC 7591 §3.2.2: `{"error": …, "error_description": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorResponse {
    /// The error code.
    pub error: ErrorCode,
    /// A human-readable explanation for the client developer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_description: Option<String>,
}

/// One refused metadata value: which field, which error code, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The metadata member the problem is about (`redirect_uris`, `client_name#ja-Jpan-JP`, …).
    pub field: String,
    /// The RFC error code for this problem.
    pub code: ErrorCode,
    /// A lowercase message naming the field and the value.
    pub message: String,
}

impl Violation {
    pub(crate) fn metadata(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code: ErrorCode::InvalidClientMetadata,
            message: message.into(),
        }
    }

    pub(crate) fn redirect(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            code: ErrorCode::InvalidRedirectUri,
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Every problem found in one request: validation reports all of them at once.
///
/// The error code of the whole response is the code of the first violation; redirect URIs are
/// checked first, so a bad redirect URI answers `invalid_redirect_uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violations(Vec<Violation>);

impl Violations {
    pub(crate) fn new(list: Vec<Violation>) -> Option<Self> {
        (!list.is_empty()).then_some(Self(list))
    }

    pub(crate) fn one(violation: Violation) -> Self {
        Self(vec![violation])
    }

    /// The violations, in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &Violation> {
        self.0.iter()
    }

    /// The error code reported to the client.
    pub fn code(&self) -> &ErrorCode {
        // `new` never builds an empty list.
        self.0
            .first()
            .map_or(&ErrorCode::InvalidClientMetadata, |v| &v.code)
    }

    /// Whether some violation is about `field`.
    pub fn names(&self, field: &str) -> bool {
        self.0.iter().any(|v| v.field == field)
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            f.write_str(&v.message)?;
        }
        Ok(())
    }
}

/// Why a registration, read, update or delete failed.
///
/// Each variant knows its HTTP status ([`status`](Self::status)), its wire body
/// ([`response`](Self::response)) and its headers; [`into_http`](Self::into_http) builds the whole
/// `http::Response`. Internal failures never reveal their detail to the client: the `Display` and
/// `source` of [`RegistrationError::Store`] and [`RegistrationError::Internal`] are for the host's
/// logs only.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistrationError {
    /// The request is malformed: not a JSON object, malformed JSON, invalid UTF-8, over a limit,
    /// or carrying a member that this operation forbids. 400 `invalid_request`.
    #[error("invalid request: {0}")]
    InvalidRequest(Cow<'static, str>),
    /// The body exceeds the size limit. 413 `invalid_request`.
    #[error("request body exceeds {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// One or more metadata values were refused. 400 with the first violation's code.
    #[error("{0}")]
    InvalidMetadata(Violations),
    /// The registration access token is malformed, expired, rotated away, belongs to another
    /// client, or the client does not exist. 401 `invalid_token`; never says which.
    #[error("invalid registration access token")]
    InvalidToken,
    /// A call to the client configuration endpoint carries no credentials: no `Authorization`
    /// header, or one whose scheme is not `Bearer`. 401 with a bare `WWW-Authenticate: Bearer`
    /// challenge and the body `invalid_request`.
    ///
    /// RFC 6750 §3.1: "If the request lacks any authentication information (e.g., the client was
    /// unaware that authentication is necessary or attempted using an unsupported authentication
    /// method), the resource server SHOULD NOT include an error code or other error
    /// information." The challenge carries none; the JSON body, which RFC 6750 does not define,
    /// keeps the `{error, error_description}` shape every error of this crate has, with the
    /// generic `invalid_request` (a required credential is missing), never `invalid_token`: no
    /// token was presented, so none can be invalid. Decided before the store is consulted, so it
    /// says nothing about whether the client exists.
    #[error("no registration access token")]
    MissingToken,
    /// The request was refused with a specific RFC error code: a software statement or signed
    /// body that does not verify, a policy refusal, registration switched off. 400 unless the
    /// code is `access_denied` (403).
    #[error("{message}")]
    Rejected {
        /// The RFC error code.
        code: ErrorCode,
        /// What the client is told.
        message: Cow<'static, str>,
    },
    /// The registration endpoint demands an initial access token and an unknown, malformed,
    /// expired or used-up one was presented. 401 `invalid_token`.
    #[error("invalid initial access token")]
    InvalidInitialToken,
    /// The registration endpoint demands an initial access token and the request carries no
    /// credentials (no `Authorization` header, or a scheme other than `Bearer`). 401 with a bare
    /// `WWW-Authenticate: Bearer` challenge and the body `invalid_request`, as
    /// [`MissingToken`](Self::MissingToken) (RFC 6750 §3.1).
    #[error("no initial access token")]
    MissingInitialToken,
    /// The initial access token lacks the required scope. 403 `insufficient_scope`.
    #[error("the initial access token lacks the scope `{scope}`")]
    InsufficientScope {
        /// The scope the registration endpoint requires.
        scope: String,
    },
    /// A client metadata document could not be fetched. 400 `invalid_client` with a generic
    /// description; the [`FetchError`](crate::fetch::FetchError) (addresses, upstream statuses)
    /// is the `source`, for the host's logs only.
    #[error("the client metadata document could not be fetched")]
    DocumentUnavailable(#[source] FetchError),
    /// The store failed. 500 `server_error` with no detail; the store's error is the `source`.
    #[error("store failure")]
    Store(#[source] StoreError),
    /// Something other than the store failed inside the server: the random source, a key
    /// source, an invariant (a stored statement that no longer decodes). 500 `server_error` with
    /// no detail; the cause is the `source`, for the host's logs.
    #[error("internal failure")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl RegistrationError {
    /// A refusal with the given code and description (for policy hooks).
    pub fn rejected(code: ErrorCode, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Rejected {
            code,
            message: message.into(),
        }
    }

    /// A policy refusal: 400 `invalid_client_metadata` with this description (what a
    /// [`RegistrationHook`](crate::events::RegistrationHook) usually answers).
    pub fn refused(message: impl Into<Cow<'static, str>>) -> Self {
        Self::rejected(ErrorCode::InvalidClientMetadata, message)
    }

    pub(crate) fn invalid_request(message: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidRequest(message.into())
    }

    /// The HTTP status this error answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::InvalidRequest(_) | Self::InvalidMetadata(_) => StatusCode::BAD_REQUEST,
            Self::Rejected { code, .. } if *code == ErrorCode::AccessDenied => {
                StatusCode::FORBIDDEN
            }
            Self::Rejected { .. } | Self::DocumentUnavailable(_) => StatusCode::BAD_REQUEST,
            Self::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::InvalidToken
            | Self::InvalidInitialToken
            | Self::MissingToken
            | Self::MissingInitialToken => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope { .. } => StatusCode::FORBIDDEN,
            Self::Store(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The RFC error code.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidRequest(_)
            | Self::BodyTooLarge { .. }
            | Self::MissingToken
            | Self::MissingInitialToken => ErrorCode::InvalidRequest,
            Self::InvalidMetadata(v) => v.code().clone(),
            Self::Rejected { code, .. } => code.clone(),
            Self::InvalidToken | Self::InvalidInitialToken => ErrorCode::InvalidToken,
            Self::InsufficientScope { .. } => ErrorCode::InsufficientScope,
            Self::DocumentUnavailable(_) => ErrorCode::InvalidClient,
            Self::Store(_) | Self::Internal(_) => ErrorCode::ServerError,
        }
    }

    /// The JSON body a client sees. Store failures carry no description.
    pub fn response(&self) -> ErrorResponse {
        let error_description = match self {
            Self::InvalidRequest(m) | Self::Rejected { message: m, .. } => Some(m.to_string()),
            Self::BodyTooLarge { .. }
            | Self::DocumentUnavailable(_)
            | Self::InvalidMetadata(_)
            | Self::InsufficientScope { .. } => Some(self.to_string()),
            Self::InvalidToken => Some("the registration access token is not valid".to_owned()),
            Self::InvalidInitialToken => {
                Some("a valid initial access token is required to register".to_owned())
            }
            Self::MissingToken => Some(
                "this endpoint requires the registration access token as a bearer token in the \
                 Authorization header"
                    .to_owned(),
            ),
            Self::MissingInitialToken => Some(
                "registration requires an initial access token as a bearer token in the \
                 Authorization header"
                    .to_owned(),
            ),
            Self::Store(_) | Self::Internal(_) => None,
        };
        ErrorResponse {
            error: self.code(),
            error_description,
        }
    }

    /// The `WWW-Authenticate` header value for bearer-token failures (RFC 6750 §3): with
    /// `error="invalid_token"` or `error="insufficient_scope"` when a token was presented, and a
    /// bare `Bearer` challenge when the request carried no credentials (RFC 6750 §3.1).
    pub fn www_authenticate(&self) -> Option<HeaderValue> {
        match self {
            Self::MissingToken | Self::MissingInitialToken => {
                Some(HeaderValue::from_static("Bearer"))
            }
            Self::InvalidToken | Self::InvalidInitialToken => {
                Some(HeaderValue::from_static(r#"Bearer error="invalid_token""#))
            }
            Self::InsufficientScope { scope } => HeaderValue::from_str(&format!(
                r#"Bearer error="insufficient_scope", scope="{scope}""#
            ))
            .ok(),
            _ => None,
        }
    }

    /// The complete HTTP response: status, JSON body and the RFC headers.
    pub fn into_http(self) -> http::Response<Vec<u8>> {
        let body = serde_json::to_vec(&self.response()).unwrap_or_default();
        let mut response = crate::response::json_response(self.status(), body);
        if let Some(value) = self.www_authenticate() {
            response
                .headers_mut()
                .insert(http::header::WWW_AUTHENTICATE, value);
        }
        response
    }
}

impl From<StoreError> for RegistrationError {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

impl From<RegistrationError> for http::Response<Vec<u8>> {
    fn from(e: RegistrationError) -> Self {
        e.into_http()
    }
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The client does not exist.
    #[error("client not found")]
    NotFound,
    /// A client with this identifier (or registration token hash, or instance hash) exists
    /// already, or the stored version is not the expected one.
    #[error("conflicting write")]
    Conflict,
    /// The backend failed (connection, timeout, …). The client sees a 500 with no detail.
    #[error("store backend failure")]
    Backend(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Wraps a backend error.
    pub fn backend(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Backend(Box::new(e))
    }
}

/// Why a fetch failed. Clients never see the detail; hosts log it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The URL is not allowed: not https, or its host resolves to a non-public address.
    #[error("fetch refused: {0}")]
    Refused(String),
    /// The server answered with a redirect, which is never followed.
    #[error("the server answered with a redirect")]
    Redirect,
    /// The body is larger than the limit.
    #[error("the document is larger than {0} bytes")]
    TooLarge(usize),
    /// The fetch took longer than the limit.
    #[error("the fetch timed out")]
    Timeout,
    /// The server answered with a status other than 200.
    #[error("the server answered {0}")]
    Status(u16),
    /// The connection or the exchange failed.
    #[error("network failure: {0}")]
    Network(String),
}
