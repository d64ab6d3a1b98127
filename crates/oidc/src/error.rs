//! OAuth 2.0 errors (RFC 6749 §5.2 and friends), as the token, revocation and introspection
//! endpoints send them.

/// An error code of RFC 6749 / RFC 6750 / OpenID Connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    UnsupportedResponseType,
    AccessDenied,
    ServerError,
    LoginRequired,
    ConsentRequired,
    InteractionRequired,
    InvalidToken,
    InsufficientScope,
    UnsupportedTokenType,
    /// Too many refused requests from the client's address (answered with 429).
    TemporarilyUnavailable,
}

impl ErrorCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::UnsupportedResponseType => "unsupported_response_type",
            ErrorCode::AccessDenied => "access_denied",
            ErrorCode::ServerError => "server_error",
            ErrorCode::LoginRequired => "login_required",
            ErrorCode::ConsentRequired => "consent_required",
            ErrorCode::InteractionRequired => "interaction_required",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
        }
    }
}

/// An OAuth error with a human-readable description.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {description}", code.as_str())]
pub struct OAuthError {
    pub code: ErrorCode,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        Self {
            code,
            description: description.into(),
        }
    }

    pub fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, d)
    }

    pub fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, d)
    }

    pub fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, d)
    }

    /// A server-side failure; the details are logged, not sent.
    pub fn server_error(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "OAuth endpoint failed");
        Self::new(
            ErrorCode::ServerError,
            "the server could not complete the request",
        )
    }

    /// The RFC 6749 JSON body.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({ "error": self.code.as_str(), "error_description": self.description })
    }
}

impl From<store::StoreError> for OAuthError {
    fn from(e: store::StoreError) -> Self {
        Self::server_error(e)
    }
}

impl From<crate::keys::KeyError> for OAuthError {
    fn from(e: crate::keys::KeyError) -> Self {
        Self::server_error(e)
    }
}
