//! The verification gate (SPEC §8): with `verification.email.required`, an account that has an
//! email login ID but no verified one may reach only the code pages, resend, sign-out and password
//! reset. Pages, forms, upstream links, self-service writes and authorization requests all ask the
//! same question here, so the rule is written once.

use crate::InternalError;
use crate::brute_force::{self, BruteForcePolicy, Locked, Subject};
use crate::codes::{self, CheckError, CodePolicy, IssueError, Proof, Purpose};
use crate::delivery::{Mailer, SmsSender};
use store::accounts::IdentityKind;
use store::audit::{Actor, NewEvent};
use store::{Clock, Db, StoreError, Uuid};

/// Whether an account may go on, or must first prove its email address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Gate {
    Open,
    /// The address to prove (the account's first email login ID).
    VerifyEmail {
        email: String,
    },
    /// A second factor to add (`mfa.policy = "required"`).
    AddSecondFactor,
}

/// What a signed-in account must have done before anything else continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GatePolicy {
    /// Its email address proved (`verification.email.required`).
    pub email_verification: bool,
    /// A second factor (`mfa.policy = "required"`).
    pub second_factor: bool,
}

/// The gate for `user_id`: its email address first, then a second factor, each only when the
/// policy asks. Accounts without an email login ID (a phone number or an upstream link only)
/// have no address to prove.
pub async fn gate(db: &Db, user_id: Uuid, policy: GatePolicy) -> Result<Gate, InternalError> {
    if policy.email_verification
        && let Some(email) = pending_email(db, user_id).await?
    {
        return Ok(Gate::VerifyEmail { email });
    }
    if policy.second_factor && !crate::mfa::has_second_factor(db, user_id).await? {
        return Ok(Gate::AddSecondFactor);
    }
    Ok(Gate::Open)
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

/// Where codes go out: email for addresses, the SMS sender for phone numbers.
#[derive(Debug, Clone, Copy)]
pub struct Channels<'a> {
    pub mailer: &'a Mailer,
    pub sms: &'a SmsSender,
    /// Who the messages are from: the tenant's display name.
    pub site_name: &'a str,
}

/// A code to send.
#[derive(Debug, Clone)]
pub struct SendCode<'a> {
    pub purpose: Purpose,
    /// The normalised address or number.
    pub target: &'a str,
    /// The account the code is for (none for a reset asked for by someone not signed in).
    pub user_id: Option<Uuid>,
    pub actor: Actor,
    pub ip: Option<&'a str>,
}

/// Why no code went out.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("a code was sent moments ago; ask again in {retry_after} seconds")]
    Cooldown { retry_after: i64 },
    #[error("too many codes were asked for; try again later")]
    RateLimited,
    /// The code was issued but could not be delivered (logged; the person may ask again).
    #[error("the code could not be delivered")]
    Undelivered,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

fn channel(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::VerifyPhone => "phone",
        _ => "email",
    }
}

/// Issues a code (after the cooldown and the per-target, per-address and per-account limits),
/// delivers it, and records the delivery in the audit log: the one way codes go out.
pub async fn send_code(
    db: &Db,
    clock: &dyn Clock,
    policy: &CodePolicy,
    channels: Channels<'_>,
    send: SendCode<'_>,
) -> Result<(), SendError> {
    let issued = codes::issue(
        db,
        clock,
        policy,
        send.purpose,
        send.target,
        send.user_id,
        send.ip,
    )
    .await
    .map_err(|e| match e {
        IssueError::Cooldown { retry_after } => SendError::Cooldown { retry_after },
        IssueError::RateLimited => SendError::RateLimited,
        IssueError::Internal(e) => SendError::Internal(e),
    })?;
    let minutes = policy.ttl.num_minutes().max(1);
    let sent = match send.purpose {
        Purpose::VerifyPhone => {
            let body = format!(
                "Your {} code is {}. It expires in {minutes} minutes.",
                channels.site_name, issued.code
            );
            channels.sms.send(send.target, &body).await
        }
        purpose => match crate::delivery::code_email(
            send.target,
            channels.site_name,
            purpose,
            &issued.code,
            minutes,
        ) {
            Ok(message) => channels.mailer.send(&message).await,
            Err(e) => Err(e),
        },
    };
    let (kind, result) = match &sent {
        Ok(()) => ("code.sent", "sent"),
        Err(_) => ("code.send_failed", "failed"),
    };
    let mut event = NewEvent::new(kind, send.actor)
        .ip(send.ip.map(str::to_owned))
        .detail(serde_json::json!({
            "purpose": send.purpose.as_str(),
            "channel": channel(send.purpose),
            "result": result,
        }));
    if let Some(user) = send.user_id {
        event = event.user(user);
    }
    store::audit::record(db, event, clock.now())
        .await
        .map_err(InternalError)?;
    sent.map_err(|e| {
        tracing::error!(error = %e, purpose = send.purpose.as_str(), "delivering a code failed");
        SendError::Undelivered
    })
}

/// A code typed by a person.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub purpose: Purpose,
    pub target: &'a str,
    pub typed: &'a str,
    /// The signed-in user typing it, if any: a code sent for another account proves nothing for
    /// this one (and the audit log names the user).
    pub user_id: Option<Uuid>,
    pub ip: Option<&'a str>,
}

/// Why a typed code was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum ConfirmError {
    /// Too many wrong codes for this target or from this address.
    #[error(transparent)]
    Locked(Locked),
    /// Wrong, expired, used up, malformed, or no code waiting (the message is for the person).
    #[error(transparent)]
    Code(CheckError),
    /// The code was right but was used by a parallel request first, or what it proves no longer
    /// holds (the address was taken meanwhile).
    #[error("the code was already used")]
    AlreadyUsed,
    #[error(transparent)]
    Internal(#[from] InternalError),
}

/// Checks a typed code: the brute-force lock of its target and address first, then the code's
/// own attempts (counted before comparing). A wrong code counts against both and is audited; a
/// lock it causes is audited too. A right one gives the proof, which the write it proves spends.
pub async fn confirm(
    db: &Db,
    clock: &dyn Clock,
    policy: &CodePolicy,
    brute: &BruteForcePolicy,
    attempt: &Attempt<'_>,
) -> Result<Proof, ConfirmError> {
    let subject = Subject::Code {
        purpose: attempt.purpose,
        target: attempt.target,
    };
    brute_force::check(db, clock, &subject, attempt.ip)
        .await
        .map_err(|e| match e {
            brute_force::AttemptError::Locked(l) => ConfirmError::Locked(l),
            brute_force::AttemptError::Internal(e) => ConfirmError::Internal(e),
        })?;
    let error = match codes::check(
        db,
        clock,
        policy,
        attempt.purpose,
        attempt.target,
        attempt.typed,
    )
    .await
    {
        // A code sent to this address for another account proves nothing about this one.
        Ok(proof) if attempt.user_id.is_some() && proof.user_id != attempt.user_id => {
            return Err(ConfirmError::Code(CheckError::NoCode));
        }
        Ok(proof) => return Ok(proof),
        Err(CheckError::Internal(e)) => return Err(e.into()),
        Err(e) => e,
    };
    let actor = attempt.user_id.map_or(Actor::Anonymous, Actor::User);
    let with_user = |mut event: NewEvent| {
        if let Some(id) = attempt.user_id {
            event = event.user(id);
        }
        event
    };
    if !matches!(error, CheckError::Malformed)
        && let Some(lock) =
            brute_force::record_failure(db, clock, brute, &subject, attempt.ip).await?
    {
        let event = NewEvent::new("code.locked", actor.clone())
            .ip(attempt.ip.map(str::to_owned))
            .detail(serde_json::json!({ "until": lock.until.to_rfc3339() }));
        store::audit::record(db, with_user(event), clock.now())
            .await
            .map_err(InternalError)?;
    }
    let event = NewEvent::new("code.failed", actor)
        .ip(attempt.ip.map(str::to_owned))
        .detail(serde_json::json!({
            "purpose": attempt.purpose.as_str(),
            "reason": error.to_string(),
        }));
    store::audit::record(db, with_user(event), clock.now())
        .await
        .map_err(InternalError)?;
    Err(ConfirmError::Code(error))
}

/// Maps the failure of a write that spends a proof.
pub(crate) fn spent_or(e: StoreError) -> ConfirmError {
    match e {
        StoreError::AlreadyUsed => ConfirmError::AlreadyUsed,
        e => ConfirmError::Internal(InternalError(e)),
    }
}

/// The signed-in user proves the email address waiting to be verified (SPEC §3): the code is
/// checked, and the address marked verified in one transaction with the code used up and the
/// audit event.
#[allow(clippy::too_many_arguments)]
pub async fn verify_email(
    db: &Db,
    clock: &dyn Clock,
    policy: &CodePolicy,
    brute: &BruteForcePolicy,
    user_id: Uuid,
    email: &str,
    typed: &str,
    ip: Option<&str>,
) -> Result<(), ConfirmError> {
    let attempt = Attempt {
        purpose: Purpose::VerifyEmail,
        target: email,
        typed,
        user_id: Some(user_id),
        ip,
    };
    let proof = confirm(db, clock, policy, brute, &attempt).await?;
    let event = NewEvent::new("code.verified", Actor::User(user_id))
        .user(user_id)
        .ip(ip.map(str::to_owned))
        .detail(serde_json::json!({ "purpose": "verify_email", "channel": "email" }));
    store::accounts::mark_identity_verified(
        db,
        user_id,
        IdentityKind::Email,
        email,
        Some(&proof.spend),
        clock.now(),
        event,
    )
    .await
    .map_err(spent_or)?;
    Ok(())
}
