//! Delivering codes: email through lettre (SMTP, or `.eml` files under `data/mail/` when no SMTP
//! server is configured) and SMS through a configurable sender (`log`, `file`, `webhook`).
//!
//! Sending happens after the code is stored (outside any transaction), is tried three times with
//! a short pause, and a final failure is returned to the caller so the person is told; the code
//! itself stays valid, so asking again after the cooldown works.

use askama::Template;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::AsyncSmtpTransport;
use lettre::{AsyncFileTransport, AsyncTransport, Message, Tokio1Executor};
use std::path::{Path, PathBuf};
use std::time::Duration;

const ATTEMPTS: usize = 3;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("invalid address: {0}")]
    Address(String),
    #[error("delivery failed: {0}")]
    Failed(String),
}

/// A message for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Template)]
#[template(path = "email/code.txt")]
struct CodeText<'a> {
    site_name: &'a str,
    heading: &'a str,
    intro: &'a str,
    code: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "email/code.html")]
struct CodeHtml<'a> {
    site_name: &'a str,
    heading: &'a str,
    intro: &'a str,
    code: &'a str,
    minutes: i64,
}

/// The email that carries a code, from `site_name` (the tenant's display name).
pub fn code_email(
    to: &str,
    site_name: &str,
    purpose: crate::codes::Purpose,
    code: &str,
    minutes: i64,
) -> Result<Email, DeliveryError> {
    use crate::codes::Purpose;
    let (subject, heading, intro) = match purpose {
        Purpose::ResetPassword => (
            format!("Your {site_name} password reset code"),
            "Reset your password",
            "Enter this code to choose a new password:",
        ),
        _ => (
            format!("Your {site_name} verification code"),
            "Confirm your email address",
            "Enter this code to confirm that this address is yours:",
        ),
    };
    let render = |e: askama::Error| DeliveryError::Config(e.to_string());
    Ok(Email {
        to: to.to_owned(),
        subject,
        text: CodeText {
            site_name,
            heading,
            intro,
            code,
            minutes,
        }
        .render()
        .map_err(render)?,
        html: CodeHtml {
            site_name,
            heading,
            intro,
            code,
            minutes,
        }
        .render()
        .map_err(render)?,
    })
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    Files(AsyncFileTransport<Tokio1Executor>),
}

/// Sends email.
#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    /// Where `.eml` files go when there is no SMTP server.
    pub mail_dir: Option<PathBuf>,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from.to_string())
            .field("mail_dir", &self.mail_dir)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// SMTP when `smtp_url` is given (`smtp://host:port`, `smtps://…`, with `user:password@`
    /// credentials and `?tls=required` for STARTTLS), else files in `mail_dir`.
    pub fn new(smtp_url: Option<&str>, from: &str, mail_dir: &Path) -> Result<Self, DeliveryError> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| DeliveryError::Config(format!("smtp.from: {e}")))?;
        match smtp_url.filter(|u| !u.is_empty()) {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| DeliveryError::Config(format!("smtp.url: {e}")))?
                    .timeout(Some(Duration::from_secs(10)))
                    .build();
                Ok(Self {
                    transport: Transport::Smtp(transport),
                    from,
                    mail_dir: None,
                })
            }
            None => Ok(Self {
                transport: Transport::Files(AsyncFileTransport::<Tokio1Executor>::new(mail_dir)),
                from,
                mail_dir: Some(mail_dir.to_path_buf()),
            }),
        }
    }

    /// Sends `email`, trying three times.
    pub async fn send(&self, email: &Email) -> Result<(), DeliveryError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|_| DeliveryError::Address(email.to.clone()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(email.subject.clone())
            .multipart(MultiPart::alternative_plain_html(
                email.text.clone(),
                email.html.clone(),
            ))
            .map_err(|e| DeliveryError::Failed(e.to_string()))?;
        if let Some(dir) = &self.mail_dir {
            tokio::fs::create_dir_all(dir)
                .await
                .map_err(|e| DeliveryError::Failed(format!("{}: {e}", dir.display())))?;
        }
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
            }
            let result = match &self.transport {
                Transport::Smtp(t) => t
                    .send(message.clone())
                    .await
                    .map(|_| None)
                    .map_err(|e| e.to_string()),
                Transport::Files(t) => t
                    .send(message.clone())
                    .await
                    .map(Some)
                    .map_err(|e| e.to_string()),
            };
            match result {
                Ok(file) => {
                    if let (Some(id), Some(dir)) = (file, &self.mail_dir) {
                        tracing::info!(path = %dir.join(format!("{id}.eml")).display(), "email written to a file (no SMTP server configured)");
                    }
                    return Ok(());
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt = attempt + 1, "sending email failed");
                    last = e;
                }
            }
        }
        Err(DeliveryError::Failed(last))
    }
}

/// Sends text messages.
#[derive(Debug, Clone)]
pub enum SmsSender {
    /// Writes the message to the log (development).
    Log,
    /// Writes one file per message in a directory.
    File(PathBuf),
    /// POSTs `{"to", "body"}` as JSON to a URL.
    Webhook {
        url: String,
        client: reqwest::Client,
    },
}

impl SmsSender {
    /// `sender` is `log`, `file` or `webhook` (which needs `webhook_url`).
    pub fn new(
        sender: &str,
        webhook_url: Option<&str>,
        sms_dir: &Path,
    ) -> Result<Self, DeliveryError> {
        match sender {
            "log" => Ok(SmsSender::Log),
            "file" => Ok(SmsSender::File(sms_dir.to_path_buf())),
            "webhook" => {
                let url = webhook_url
                    .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
                    .ok_or_else(|| {
                        DeliveryError::Config("sms.webhook_url must be an http(s) URL".into())
                    })?;
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .map_err(|e| DeliveryError::Config(e.to_string()))?;
                Ok(SmsSender::Webhook {
                    url: url.to_owned(),
                    client,
                })
            }
            other => Err(DeliveryError::Config(format!(
                "sms.sender {other:?} is not log, file or webhook"
            ))),
        }
    }

    /// Sends `body` to `to` (E.164), trying three times.
    pub async fn send(&self, to: &str, body: &str) -> Result<(), DeliveryError> {
        match self {
            SmsSender::Log => {
                tracing::info!(%to, %body, "SMS (log sender)");
                Ok(())
            }
            SmsSender::File(dir) => {
                tokio::fs::create_dir_all(dir)
                    .await
                    .map_err(|e| DeliveryError::Failed(e.to_string()))?;
                let path = dir.join(format!("{}.txt", store::Uuid::now_v7()));
                tokio::fs::write(&path, format!("To: {to}\n\n{body}\n"))
                    .await
                    .map_err(|e| DeliveryError::Failed(e.to_string()))?;
                tracing::info!(path = %path.display(), "SMS written to a file");
                Ok(())
            }
            SmsSender::Webhook { url, client } => {
                let payload = serde_json::json!({ "to": to, "body": body });
                let mut last = String::new();
                for attempt in 0..ATTEMPTS {
                    if attempt > 0 {
                        tokio::time::sleep(Duration::from_millis(200 * attempt as u64)).await;
                    }
                    match client.post(url).json(&payload).send().await {
                        Ok(resp) if resp.status().is_success() => return Ok(()),
                        Ok(resp) => last = format!("HTTP {}", resp.status()),
                        Err(e) => last = e.to_string(),
                    }
                    tracing::warn!(error = %last, attempt = attempt + 1, "SMS webhook failed");
                }
                Err(DeliveryError::Failed(last))
            }
        }
    }
}
