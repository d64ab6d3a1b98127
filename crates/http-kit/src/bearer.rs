//! The `Authorization` header as the bearer APIs read it (RFC 6750 §2.1), parsed in one place for
//! the self-service API, UserInfo, the Admin API and `/metrics`.

use actix_web::HttpRequest;
use actix_web::http::header::AUTHORIZATION;

/// What a request's `Authorization` header holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorization<'a> {
    /// No header.
    Missing,
    /// `Bearer <token>` (scheme case-insensitive, the token trimmed; never empty).
    Bearer(&'a str),
    /// Another scheme, an empty token, or a value that is not text.
    Other,
}

/// Reads the request's `Authorization` header.
pub fn authorization(req: &HttpRequest) -> Authorization<'_> {
    let Some(value) = req.headers().get(AUTHORIZATION) else {
        return Authorization::Missing;
    };
    match value.to_str().ok().and_then(|h| h.split_once(' ')) {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Authorization::Bearer(token.trim())
        }
        _ => Authorization::Other,
    }
}

impl<'a> Authorization<'a> {
    /// The bearer token, if that is what was sent.
    pub fn bearer(self) -> Option<&'a str> {
        match self {
            Authorization::Bearer(t) => Some(t),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_header_is_read_once_for_every_bearer_api() {
        let with = |v: &str| {
            TestRequest::default()
                .insert_header((AUTHORIZATION, v))
                .to_http_request()
        };
        assert_eq!(
            authorization(&TestRequest::default().to_http_request()),
            Authorization::Missing
        );
        assert_eq!(authorization(&with("Bearer abc")).bearer(), Some("abc"));
        assert_eq!(authorization(&with("bearer  abc ")).bearer(), Some("abc"));
        assert_eq!(authorization(&with("Basic abc")), Authorization::Other);
        assert_eq!(authorization(&with("Bearer ")), Authorization::Other);
        assert_eq!(authorization(&with("Bearer")), Authorization::Other);
    }
}
