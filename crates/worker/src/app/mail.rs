//! Sending the stored mails: the transport (SMTP, or `.eml` files when no
//! SMTP server is configured) and the sender loop with its retries.
//!
//! Delivery is at least once. A mail is marked sent after the transport
//! accepted it; a crash in between leaves it pending, and it is sent again
//! when its lease ends. The second copy has the same `Message-ID` (derived
//! from the event id), so a receiver can drop it; an `.eml` file is simply
//! rewritten with the same name and bytes.

use std::{path::PathBuf, sync::Arc, time::Duration};

use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor, message::Mailbox};
use marimo_platform::{clock, config::Settings, db::Db, telemetry::Metrics};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::{
    WorkerTuning,
    domain::{Retry, mail},
    store::{self, mail::DueMail},
};

/// Mails read per round.
const BATCH: i64 = 50;

/// Where mails go.
pub enum Transport {
    /// `SMTP_URL` (lettre's syntax: `smtp://host:port`, `smtps://...`,
    /// `smtp://...?tls=required`).
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `<data dir>/mail/<mail id>.eml`.
    Files(PathBuf),
}

/// Why a send failed, and whether trying again can help.
#[derive(Debug)]
pub struct SendError {
    pub permanent: bool,
    pub message: String,
}

impl Transport {
    pub fn from_settings(settings: &Settings, timeout: Duration) -> Result<Self, String> {
        match &settings.smtp_url {
            Some(url) => {
                let builder = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    // The URL may hold a password: name the variable, not it.
                    .map_err(|e| format!("SMTP_URL is not a usable SMTP URL: {e}"))?;
                Ok(Self::Smtp(builder.timeout(Some(timeout)).build()))
            }
            None => Ok(Self::Files(settings.data_dir.join("mail"))),
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Self::Smtp(_) => "smtp".to_owned(),
            Self::Files(dir) => format!("files in {}", dir.display()),
        }
    }

    pub async fn send(&self, mail_id: &str, message: Message) -> Result<(), SendError> {
        match self {
            Self::Smtp(smtp) => smtp.send(message).await.map(|_| ()).map_err(|e| SendError {
                // A 5xx answer (unknown mailbox, refused sender) will not
                // change on retry; connection trouble and 4xx may.
                permanent: e.is_permanent(),
                message: error_chain(&e),
            }),
            Self::Files(dir) => write_eml(dir, mail_id, &message.formatted())
                .await
                .map_err(|e| SendError {
                    permanent: false,
                    message: format!("cannot write the mail file: {e}"),
                }),
        }
    }
}

/// Writes `<id>.eml` atomically (temporary file, then rename), so a reader
/// never sees half a mail and writing it again replaces it whole. Mails
/// carry reset links and personal data: the folder is 0700, files 0600.
async fn write_eml(dir: &std::path::Path, id: &str, bytes: &[u8]) -> std::io::Result<()> {
    let owned = dir.to_path_buf();
    tokio::task::spawn_blocking(move || marimo_platform::config::create_private_dir(&owned))
        .await
        .map_err(std::io::Error::other)??;
    let tmp = dir.join(format!("{id}.eml.tmp"));
    let mut opts = tokio::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    {
        use tokio::io::AsyncWriteExt;
        let mut file = opts.open(&tmp).await?;
        file.write_all(bytes).await?;
        file.flush().await?;
    }
    tokio::fs::rename(&tmp, dir.join(format!("{id}.eml"))).await
}

/// An error with its sources, on one line.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let text = inner.to_string();
        if !s.contains(&text) {
            s.push_str(": ");
            s.push_str(&text);
        }
        source = inner.source();
    }
    s
}

/// The loop that sends pending mails.
pub struct MailSender {
    pub db: Db,
    pub transport: Transport,
    pub from: Mailbox,
    pub tuning: WorkerTuning,
    pub metrics: Metrics,
    pub wake: Arc<Notify>,
}

impl MailSender {
    /// Runs until `shutdown`: sends whatever is due, then waits to be woken
    /// by a new mail or for the next poll (retries come due by time).
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(transport = %self.transport.describe(), "mail sender started");
        loop {
            if let Err(e) = self.drain(&shutdown).await {
                tracing::warn!(error = %e, "mail sender: database error, retrying at the next poll");
            }
            tokio::select! {
                () = shutdown.cancelled() => return,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.tuning.poll_interval) => {}
            }
        }
    }

    async fn drain(&self, shutdown: &CancellationToken) -> Result<(), sqlx::Error> {
        loop {
            let due = store::mail::due(&self.db, &clock::now_text(), BATCH).await?;
            let full = due.len() as i64 == BATCH;
            for m in due {
                if shutdown.is_cancelled() {
                    return Ok(());
                }
                self.attempt(m).await?;
            }
            if !full {
                return Ok(());
            }
        }
    }

    async fn attempt(&self, m: DueMail) -> Result<(), sqlx::Error> {
        // The row is acted on in its own tenant.
        let (db, t) = (&self.db, &m.tenant);
        let lease_until = super::time_after(self.tuning.mail_lease);
        if !store::mail::claim(db, t, &m.row.id, &m.next_attempt_at, &lease_until).await? {
            return Ok(()); // another replica has it
        }
        let attempts = u32::try_from(m.attempts + 1).unwrap_or(u32::MAX);
        let result = match mail::message(&m.row, &self.from) {
            Ok(message) => self.transport.send(&m.row.id, message).await,
            Err(message) => Err(SendError {
                permanent: true,
                message,
            }),
        };
        let status = match result {
            Ok(()) => {
                store::mail::mark_sent(db, t, &m.row.id, &clock::now_text()).await?;
                tracing::info!(mail = %m.row.id, event = %m.row.event_id, attempts, "mail sent");
                "sent"
            }
            Err(e) => {
                let retry = if e.permanent {
                    Retry::GiveUp
                } else {
                    self.tuning.mail_retry.after_failure(attempts)
                };
                match retry {
                    Retry::After(delay) => {
                        let next = super::time_after(delay);
                        store::mail::mark_retry(db, t, &m.row.id, &next, &e.message).await?;
                        tracing::warn!(mail = %m.row.id, attempts, error = %e.message, retry_at = %next, "mail not sent, will retry");
                        "retry"
                    }
                    Retry::GiveUp => {
                        store::mail::mark_failed(db, t, &m.row.id, &e.message).await?;
                        tracing::error!(mail = %m.row.id, attempts, error = %e.message, "mail failed for good");
                        "failed"
                    }
                }
            }
        };
        self.metrics
            .record(|| metrics::counter!("emails_sent_total", "status" => status).increment(1));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[cfg(unix)]
    #[tokio::test]
    async fn mail_files_are_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let dir = std::env::temp_dir()
            .join(format!("marimo-mail-{}", marimo_platform::ids::new_id()))
            .join("outbox");
        super::write_eml(&dir, "m1", b"Subject: reset\r\n\r\nlink")
            .await
            .unwrap();
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("m1.eml")), 0o600);
        assert_eq!(
            std::fs::read(dir.join("m1.eml")).unwrap(),
            b"Subject: reset\r\n\r\nlink"
        );
    }
}
