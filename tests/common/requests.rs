//! Request bodies as a host's handler reads them: bytes into a `RegistrationRequest` with the
//! registrar's limits, JSON or a signed body, a malformed body refused after the caller's token
//! was checked (what `oauth_dcr::http::registration_request` does), then the operation.

use async_trait::async_trait;
use http::header::{HeaderMap, HeaderValue, CONTENT_TYPE};
use oauth_dcr::{
    ClientMetadata, Registrar, RegistrationError, RegistrationRequest, RegistrationResponse,
    RequestContext, ValidatedMetadata,
};

/// How a body is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `application/json`.
    Json,
    /// `application/jwt`: a signed request body.
    Jwt,
}

/// The request a handler makes of `body` sent as `format`, within `registrar`'s limits.
pub fn request_of(registrar: &Registrar, body: &[u8], format: Format) -> RegistrationRequest {
    let mut headers = HeaderMap::new();
    let media = match format {
        Format::Json => "application/json",
        Format::Jwt => "application/jwt",
    };
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(media));
    oauth_dcr::http::registration_request(&headers, body, &registrar.policy().limits)
}

/// `register`, `update` and the dry run over body bytes, as the tests send them.
#[async_trait]
pub trait Bytes {
    /// The dry run of a JSON body: read within the registrar's limits, then the free
    /// `oauth_dcr::validate` with its policy.
    fn validate_bytes(&self, body: &[u8]) -> Result<ClientMetadata, RegistrationError>;

    /// Registers a body sent as `format`.
    async fn register_as(
        &self,
        body: &[u8],
        format: Format,
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError>;

    /// Updates with a body sent as `format`.
    async fn update_as(
        &self,
        client_id: &str,
        token: Option<&str>,
        body: &[u8],
        format: Format,
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError>;

    /// Registers a JSON body.
    async fn register_bytes(
        &self,
        body: &[u8],
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError> {
        self.register_as(body, Format::Json, context).await
    }

    /// Registers a signed body (`application/jwt`).
    async fn register_signed(
        &self,
        body: &[u8],
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError> {
        self.register_as(body, Format::Jwt, context).await
    }

    /// Updates with a JSON body.
    async fn update_bytes(
        &self,
        client_id: &str,
        token: Option<&str>,
        body: &[u8],
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError> {
        self.update_as(client_id, token, body, Format::Json, context)
            .await
    }

    /// Updates with a signed body (`application/jwt`).
    async fn update_signed(
        &self,
        client_id: &str,
        token: Option<&str>,
        body: &[u8],
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError> {
        self.update_as(client_id, token, body, Format::Jwt, context)
            .await
    }
}

#[async_trait]
impl Bytes for Registrar {
    fn validate_bytes(&self, body: &[u8]) -> Result<ClientMetadata, RegistrationError> {
        let request = RegistrationRequest::from_json(body, &self.policy().limits)?;
        oauth_dcr::validate(self.policy(), &request)
            .map(ValidatedMetadata::into_inner)
            .map_err(RegistrationError::InvalidMetadata)
    }

    async fn register_as(
        &self,
        body: &[u8],
        format: Format,
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError> {
        self.register(request_of(self, body, format), context).await
    }

    async fn update_as(
        &self,
        client_id: &str,
        token: Option<&str>,
        body: &[u8],
        format: Format,
        context: &RequestContext,
    ) -> Result<RegistrationResponse, RegistrationError> {
        let request = request_of(self, body, format);
        self.update(client_id, token, request, context).await
    }
}
