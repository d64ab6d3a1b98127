//! The HTTP client `openidconnect` calls (discovery, JWKS, token endpoint): reqwest, no
//! redirects, a timeout, and a bound on response size.

use openidconnect::{HttpRequest, HttpResponse};
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Responses larger than this are refused.
const MAX_BODY: usize = 1024 * 1024;

/// Why a request to an upstream failed.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("{0}")]
    Reqwest(#[from] reqwest::Error),
    #[error("the response is larger than {MAX_BODY} bytes")]
    TooLarge,
    #[error("malformed response: {0}")]
    Malformed(#[from] openidconnect::http::Error),
}

pub(crate) type HttpFuture = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send>>;

/// A reqwest client for upstream calls.
pub(crate) fn reqwest_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// Reads a body, refusing more than [`MAX_BODY`] bytes.
pub(crate) async fn read_body(mut resp: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    if resp.content_length().is_some_and(|l| l > MAX_BODY as u64) {
        return Err(HttpError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > MAX_BODY {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The closure `openidconnect` wants as its asynchronous HTTP client.
pub(crate) fn async_client(client: reqwest::Client) -> impl Fn(HttpRequest) -> HttpFuture {
    move |req: HttpRequest| {
        let client = client.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let resp = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut out = openidconnect::http::Response::builder().status(resp.status());
            for (k, v) in resp.headers() {
                out = out.header(k, v);
            }
            let body = read_body(resp).await?;
            Ok(out.body(body)?)
        })
    }
}
