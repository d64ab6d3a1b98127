//! `GET /users?q=&email=&phone_number=&preferred_username=&attr.NAME=&disabled=&limit=&cursor=`:
//! users matching every given condition, oldest first, one page at a time (see `auth::users::search`).

use crate::users::user_resource;
use crate::{AdminState, authenticate, paging};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use auth::users::UserQuery;
use http_kit::Problem;
use http_kit::json_no_store;
use profile::{Audience, Party};
use std::collections::HashMap;

/// The most free-text words a search may have.
const MAX_WORDS: usize = 8;

/// The normalised form of a searched login ID, or the text as typed (which then matches nothing
/// rather than being an error: it is a search).
fn login_id(raw: &str, normalise: impl Fn(&str) -> Option<String>) -> String {
    normalise(raw).unwrap_or_else(|| raw.trim().to_lowercase())
}

async fn parse(state: &AdminState, query_string: &str) -> Result<UserQuery, Problem> {
    let mut params: HashMap<String, String> = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(query_string.as_bytes()) {
        if params.insert(k.to_string(), v.to_string()).is_some() {
            return Err(paging::bad(
                &format!("/{k}"),
                &format!("{k} is given more than once"),
            ));
        }
    }
    let mut query = UserQuery {
        limit: paging::limit(params.get("limit").map(String::as_str))?,
        after: paging::cursor(params.get("cursor").map(String::as_str))?,
        ..UserQuery::default()
    };
    let schema = state
        .profiles
        .schema(&state.db)
        .await
        .map_err(Problem::internal)?;
    for (key, value) in &params {
        let value = value.as_str();
        match key.as_str() {
            "limit" | "cursor" | "include_annotations" | "include_user_annotations" => {}
            "q" => {
                query.words = value.split_whitespace().map(str::to_owned).collect();
                if query.words.len() > MAX_WORDS {
                    return Err(paging::bad("/q", "q may have at most 8 words"));
                }
            }
            "email" => {
                query.email = Some(login_id(value, |v| auth::login_id::normalise_email(v).ok()));
            }
            "phone_number" => {
                query.phone_number = Some(login_id(value, |v| {
                    profile::validate::phone_number(&serde_json::json!(v))
                        .ok()
                        .and_then(|n| n.as_str().map(str::to_owned))
                }));
            }
            "preferred_username" => {
                query.username = Some(login_id(value, |v| {
                    auth::login_id::normalise_username(v).ok()
                }));
            }
            "group" => query.group = Some(value.trim().to_owned()),
            "disabled" => {
                query.disabled = Some(match value {
                    "true" => true,
                    "false" => false,
                    _ => return Err(paging::bad("/disabled", "disabled must be true or false")),
                });
            }
            other => match other.strip_prefix("attr.") {
                Some(name) => {
                    let def = schema.find_custom(name).ok_or_else(|| {
                        paging::bad(
                            &format!("/{other}"),
                            &format!("there is no custom attribute named {name}"),
                        )
                    })?;
                    if def.kind == profile::AttributeType::Text {
                        return Err(paging::bad(
                            &format!("/{other}"),
                            &format!("{name} is rich text, which is not searched by value"),
                        ));
                    }
                    query.attributes.push((def.id, value.to_owned()));
                }
                None => {
                    return Err(paging::bad(
                        &format!("/{other}"),
                        &format!("unknown parameter {other}"),
                    ));
                }
            },
        }
    }
    Ok(query)
}

/// `GET /users`.
#[utoipa::path(
    get,
    path = "/users",
    tag = "users",
    summary = "Search and list users",
    params(
        ("q" = Option<String>, Query, description = "Free text: every word must start a name word, an email address or domain, or a username"),
        ("email" = Option<String>, Query, description = "An email login ID"),
        ("phone_number" = Option<String>, Query, description = "A phone login ID (E.164)"),
        ("preferred_username" = Option<String>, Query, description = "A username login ID"),
        ("attr.NAME" = Option<String>, Query, description = "A custom attribute's value, matched exactly (text without regard to case); replace NAME with the attribute's name. May be given for several attributes."),
        ("disabled" = Option<bool>, Query, description = "Only disabled (true) or enabled (false) users"),
        ("group" = Option<String>, Query, description = "Only members of the group of this name"),
        ("limit" = Option<u32>, Query, description = "Page size, 1 to 200 (default 50)"),
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page"),
        ("include_annotations" = Option<u8>, Query, description = "1: each profile carries its `annotations` (also `include_user_annotations=1`)"),
    ),
    responses(
        (status = 200, description = "One page of users", body = crate::model::UserPage),
        crate::model::errors::E401, crate::model::errors::E400,
    ),
    security(("admin_key" = []))
)]
pub async fn list(state: AdminState, req: HttpRequest) -> Result<HttpResponse, Problem> {
    authenticate(&state, &req).await?;
    let mut query = parse(&state, req.query_string()).await?;
    let limit = query.limit;
    query.limit = limit + 1;
    let users = auth::users::search(&state.db, &query)
        .await
        .map_err(Problem::internal)?;
    let ids: Vec<_> = users.iter().map(|u| u.id).collect();
    let identities = auth::users::identities_of(&state.db, &ids)
        .await
        .map_err(Problem::internal)?;
    let groups = auth::groups::names_of(&state.db, &ids)
        .await
        .map_err(Problem::internal)?;
    let schema = state
        .profiles
        .schema(&state.db)
        .await
        .map_err(Problem::internal)?;
    let annotations = http_kit::wants_annotations(&req);
    let rendered: HashMap<_, _> = state
        .profiles
        .load_many(&state.db, &ids)
        .await
        .map_err(Problem::internal)?
        .into_iter()
        .map(|(id, loaded)| {
            let admin = Audience::Party(Party::Admin);
            let view = if annotations {
                state.profiles.render_annotated(&schema, &loaded, admin)
            } else {
                state.profiles.render(&schema, &loaded, admin)
            };
            (id, view)
        })
        .collect();
    let body = paging::page(
        users,
        limit,
        |u| u.id,
        |u| {
            let own: Vec<_> = identities.iter().filter(|i| i.user_id == u.id).collect();
            let names = groups
                .iter()
                .filter(|(user, _)| *user == u.id)
                .map(|(_, name)| name.clone())
                .collect();
            user_resource(
                u,
                &own,
                names,
                rendered.get(&u.id).cloned().unwrap_or_default(),
            )
        },
    );
    Ok(json_no_store(StatusCode::OK, &body))
}
