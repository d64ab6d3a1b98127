//! Tenant routing (SPEC §11): tenant `t` is the whole site mounted at `/t/{t}`.
//!
//! Every page, OpenID endpoint, self-service route and Admin API route is written once, for the
//! root. A request under `/t/{t}/…` is served by the same routes: this middleware finds tenant
//! `t` (404 when there is none), puts its services in the request's extensions (which
//! `web::WebState` and `admin_api::AdminState` read), and rewrites the request to the path
//! under the mount. On the way out it maps the site's root-relative addresses back under the
//! mount, as a reverse proxy does:
//!
//! - `Location: /x` becomes `/t/{t}/x`;
//! - in HTML pages, `href="/x"`, `action="/x"` and `src="/x"` get the prefix (user content is
//!   HTML-escaped by the templates, so these can only be the templates' own links);
//! - cookies are the tenant's own: `Set-Cookie: name=…` becomes `name.t.{t}=…`, scoped to
//!   `Path=/t/{t}` on http (on https `__Host-` cookies must keep `Path=/`, and the name alone
//!   scopes them). Incoming, only the tenant's cookies reach the handlers, under their plain
//!   names: a cookie of the root tenant or another tenant is never seen, whatever the browser
//!   sends. (Sessions, codes and tokens are also looked up only within the tenant.)
//!
//! Addresses the handlers build from the issuer (discovery, emails, upstream callbacks, picture
//! URLs) are the tenant's already: its services carry its issuer.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{StatusCode, Uri};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpResponse, web};
use oidc::tenants::Registry;
use store::DEFAULT_TENANT;

/// Splits `/t/{id}/rest` into `id` and `/rest` (`/` when empty); `None` for any other path.
fn split(path: &str) -> Option<(&str, &str)> {
    let after = path.strip_prefix("/t/")?;
    Some(match after.find('/') {
        Some(i) => (&after[..i], &after[i..]),
        None => (after, "/"),
    })
}

/// 404 for a tenant that is not served: problem+json on the APIs (as their own errors), text
/// elsewhere.
fn not_found(req: ServiceRequest) -> ServiceResponse<BoxBody> {
    let api = split(req.path()).is_some_and(|(_, rest)| rest.starts_with("/admin/api/"));
    let resp = if api {
        actix_web::ResponseError::error_response(&http_kit::Problem::new(
            StatusCode::NOT_FOUND,
            "Not Found",
            "no such tenant",
        ))
    } else {
        HttpResponse::build(StatusCode::NOT_FOUND)
            .content_type("text/plain; charset=utf-8")
            .body("Not found")
    };
    req.into_response(resp)
}

/// The middleware (see the module documentation).
pub async fn route(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    if req.path() == "/t" {
        return Ok(not_found(req));
    }
    let Some((id, rest)) = split(req.path()).map(|(i, r)| (i.to_owned(), r.to_owned())) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_boxed_body);
    };
    // `default` lives at the root only: one issuer per tenant.
    if id == DEFAULT_TENANT || !oidc::tenants::valid_id(&id) {
        return Ok(not_found(req));
    }
    let Some(registry) = req.app_data::<web::Data<Registry>>().cloned() else {
        return Ok(not_found(req));
    };
    let services = match registry.get(&id).await {
        Ok(Some(services)) => services,
        Ok(None) => return Ok(not_found(req)),
        Err(e) => {
            tracing::error!(tenant = %id, error = %e, "could not load the tenant");
            let resp = HttpResponse::ServiceUnavailable()
                .content_type("text/plain; charset=utf-8")
                .body("This tenant cannot be served right now.");
            return Ok(req.into_response(resp));
        }
    };
    let target = match req.uri().query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest,
    };
    let Ok(uri) = target.parse::<Uri>() else {
        return Ok(not_found(req));
    };
    req.head_mut().uri = uri.clone();
    req.match_info_mut().get_mut().update(&uri);
    own_cookies_only(req.headers_mut(), &id);
    req.extensions_mut().insert(services);
    let res = next.call(req).await?;
    mount_response(res, &id).await
}

/// The suffix of tenant `id`'s cookie names.
fn cookie_suffix(id: &str) -> String {
    format!(".t.{id}")
}

/// Keeps the tenant's cookies, under their plain names, and drops every other.
fn own_cookies_only(headers: &mut actix_web::http::header::HeaderMap, id: &str) {
    let suffix = cookie_suffix(id);
    let mut kept = Vec::new();
    for value in headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            let pair = pair.trim();
            if let Some((name, value)) = pair.split_once('=')
                && let Some(plain) = name.trim().strip_suffix(suffix.as_str())
                && !plain.is_empty()
            {
                kept.push(format!("{plain}={value}"));
            }
        }
    }
    headers.remove(header::COOKIE);
    if !kept.is_empty()
        && let Ok(v) = HeaderValue::from_str(&kept.join("; "))
    {
        headers.insert(header::COOKIE, v);
    }
}

/// A `Set-Cookie` of the site made the tenant's (see the module documentation).
fn tenant_cookie(value: &HeaderValue, id: &str) -> Option<HeaderValue> {
    let text = value.to_str().ok()?;
    let mut cookie = actix_web::cookie::Cookie::parse(text.to_owned()).ok()?;
    let name = format!("{}{}", cookie.name(), cookie_suffix(id));
    cookie.set_name(name);
    if !cookie.name().starts_with("__Host-") {
        let path = match cookie.path() {
            None | Some("/") => format!("/t/{id}"),
            Some(p) => format!("/t/{id}{p}"),
        };
        cookie.set_path(path);
    }
    HeaderValue::from_str(&cookie.to_string()).ok()
}

/// `html` with the site's root-relative links moved under `prefix`.
fn mount_links(html: &str, prefix: &str) -> String {
    let mut out = String::with_capacity(html.len() + 256);
    let mut rest = html;
    'scan: while !rest.is_empty() {
        let mut best: Option<(usize, usize)> = None;
        for attr in ["href=\"/", "action=\"/", "src=\"/"] {
            if let Some(i) = rest.find(attr)
                && best.is_none_or(|(b, _)| i < b)
            {
                best = Some((i, attr.len()));
            }
        }
        let Some((i, len)) = best else {
            out.push_str(rest);
            break 'scan;
        };
        // Up to and including the quote; the slash starts the path.
        let (head, tail) = rest.split_at(i + len - 1);
        out.push_str(head);
        if !tail.starts_with("//") {
            out.push_str(prefix);
        }
        out.push('/');
        rest = &tail[1..];
    }
    out
}

async fn mount_response<B: MessageBody + 'static>(
    res: ServiceResponse<B>,
    id: &str,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let prefix = format!("/t/{id}");
    let (req, mut resp) = res.into_parts();
    let headers = resp.headers_mut();
    if let Some(location) = headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
        && location.starts_with('/')
        && !location.starts_with("//")
        && let Ok(v) = HeaderValue::from_str(&format!("{prefix}{location}"))
    {
        headers.insert(header::LOCATION, v);
    }
    let cookies: Vec<HeaderValue> = headers
        .get_all(header::SET_COOKIE)
        .filter_map(|v| tenant_cookie(v, id))
        .collect();
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie);
    }
    let html = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !html {
        return Ok(ServiceResponse::new(req, resp.map_into_boxed_body()));
    }
    let (resp, body) = resp.into_parts();
    let bytes = actix_web::body::to_bytes(body)
        .await
        .map_err(|e| actix_web::error::ErrorInternalServerError(e.into().to_string()))?;
    let page = String::from_utf8_lossy(&bytes);
    let resp = resp.set_body(BoxBody::new(mount_links(&page, &prefix)));
    Ok(ServiceResponse::new(req, resp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_tenant_paths() {
        assert_eq!(split("/t/acme/login"), Some(("acme", "/login")));
        assert_eq!(split("/t/acme"), Some(("acme", "/")));
        assert_eq!(split("/t/acme/"), Some(("acme", "/")));
        assert_eq!(split("/login"), None);
        assert_eq!(split("/tenants"), None);
    }

    #[test]
    fn links_move_under_the_mount() {
        let html = r#"<a href="/settings">s</a><form action="/login?x=1"><img src="/static/a.png"><a href="//cdn.example/x"><a href="https://e.example/">"#;
        assert_eq!(
            mount_links(html, "/t/acme"),
            r#"<a href="/t/acme/settings">s</a><form action="/t/acme/login?x=1"><img src="/t/acme/static/a.png"><a href="//cdn.example/x"><a href="https://e.example/">"#
        );
        assert_eq!(mount_links("no links", "/t/a"), "no links");
    }

    #[test]
    fn cookies_are_the_tenants() {
        let v = HeaderValue::from_static("tessera_session=abc; Path=/; HttpOnly; SameSite=Lax");
        let c = tenant_cookie(&v, "acme").expect("cookie");
        let c = c.to_str().expect("text");
        assert!(c.starts_with("tessera_session.t.acme=abc"), "{c}");
        assert!(c.contains("Path=/t/acme"), "{c}");
        let v = HeaderValue::from_static("__Host-tessera_session=abc; Path=/; Secure; HttpOnly");
        let c = tenant_cookie(&v, "acme").expect("cookie");
        let c = c.to_str().expect("text");
        assert!(c.starts_with("__Host-tessera_session.t.acme=abc"), "{c}");
        assert!(c.contains("Path=/;") || c.ends_with("Path=/"), "{c}");

        let mut headers = actix_web::http::header::HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static(
                "tessera_session=root; tessera_session.t.other=x; tessera_session.t.acme=mine; tessera_csrf.t.acme=c",
            ),
        );
        own_cookies_only(&mut headers, "acme");
        assert_eq!(
            headers.get(header::COOKIE).and_then(|v| v.to_str().ok()),
            Some("tessera_session=mine; tessera_csrf=c")
        );
        let mut headers = actix_web::http::header::HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("tessera_session=root"),
        );
        own_cookies_only(&mut headers, "acme");
        assert!(headers.get(header::COOKIE).is_none());
    }
}
