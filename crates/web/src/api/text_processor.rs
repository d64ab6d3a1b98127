//! `POST /api/v1/text-processor` (SPEC §10): what Tessera makes of a text — its entities and
//! HTML — without storing anything. Any valid access token may ask (a user's or a client's own),
//! so an app can show a preview exactly as a `text` attribute will be saved.

use crate::WebState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use http_kit::{Problem, json_no_store, parse_json_body};
use profile::rich_text::{self, ProcessError};

fn refused(pointer: String, message: String) -> Problem {
    Problem::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "Unprocessable Content",
        "the text was refused",
    )
    .with_errors(vec![(pointer, message)])
}

/// Reads `{"text", "entities"?: {"links"?}}` and answers `{"text", "html", "entities"}`.
pub async fn process(
    state: WebState,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, Problem> {
    super::any_token(&state, &req).await?;
    let input = parse_json_body(&req, &body)?;
    if !input.is_object() {
        return Err(refused(String::new(), "send {\"text\": …}".into()));
    }
    let (text, links) = rich_text::read_input(&input, rich_text::MAX_PROCESSED)
        .map_err(|r| refused(r.pointer, r.message))?;
    let processed = rich_text::process_in(&state.db, &text, &links)
        .await
        .map_err(|e| match e {
            ProcessError::Refused(e) => refused(e.pointer(), e.to_string()),
            ProcessError::Store(e) => Problem::internal(e),
        })?;
    let answer = serde_json::to_value(processed).map_err(Problem::internal)?;
    Ok(json_no_store(StatusCode::OK, &answer))
}
