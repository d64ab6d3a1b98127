//! The verification gate (SPEC §8): with `verification.email.required`, an account that has an
//! email login ID but no verified one may reach only the code pages, resend, sign-out and password
//! reset. Pages, forms, upstream links, self-service writes and authorization requests all ask the
//! same question here, so the rule is written once.

use crate::InternalError;
use store::accounts::IdentityKind;
use store::{Db, Uuid};

/// Whether an account may go on, or must first prove its email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// The address to prove (the account's first email login ID).
    VerifyEmail {
        email: String,
    },
}

/// The gate for `user_id`; always open when verification is not `required`. Accounts without an
/// email login ID (a phone number or an upstream link only) have nothing to prove.
pub async fn gate(db: &Db, user_id: Uuid, required: bool) -> Result<Gate, InternalError> {
    if !required {
        return Ok(Gate::Open);
    }
    Ok(match pending_email(db, user_id).await? {
        Some(email) => Gate::VerifyEmail { email },
        None => Gate::Open,
    })
}

/// The address still to verify: the user's first email identity, when none is verified.
pub async fn pending_email(db: &Db, user_id: Uuid) -> Result<Option<String>, InternalError> {
    let identities = store::accounts::list_identities(db, user_id).await?;
    let mut emails = identities
        .iter()
        .filter(|i| i.kind == IdentityKind::Email)
        .peekable();
    let first = emails.peek().map(|i| i.value.clone());
    if emails.any(|i| i.verified_at.is_some()) {
        return Ok(None);
    }
    Ok(first)
}
