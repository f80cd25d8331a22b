//! Dead letters of every queue, for operators: which queues hold some,
//! what they hold (with why each was given up on), and sending them back
//! to be consumed again — on whichever broker the process runs
//! (`platform::bus::dlq`, which the `marimo events dlq` CLI uses too).

use std::sync::Arc;

use marimo_platform::{
    bus::dlq::{self, DeadLetter, DeadLetters, QueueDepth},
    db::Db,
    service::{ServiceContext, ServiceName},
};

use crate::WorkerError;

/// The dead-letter tooling of this process, opened once. With the
/// embedded broker it keeps a pool on each consuming service's database
/// after first use; they are closed at shutdown.
#[derive(Clone)]
pub struct Tool(Arc<DeadLetters>);

impl Tool {
    /// The tool for `ctx`'s broker; its pools close on `ctx.shutdown`.
    pub fn start(ctx: &ServiceContext, db: &Db) -> Self {
        let tool = Arc::new(DeadLetters::new(
            ctx.settings.clone(),
            Some((ServiceName::Worker, db.clone())),
        ));
        let (closing, shutdown) = (tool.clone(), ctx.shutdown.clone());
        ctx.tasks.spawn(async move {
            shutdown.cancelled().await;
            closing.close().await;
        });
        Self(tool)
    }

    /// Every queue with its number of dead letters.
    pub async fn queues(&self) -> Result<Vec<QueueDepth>, WorkerError> {
        Ok(self.0.depths().await?)
    }

    /// The dead letters of `queue`, oldest first.
    pub async fn list(&self, queue: &str) -> Result<Vec<DeadLetter>, WorkerError> {
        known(queue)?;
        Ok(self.0.list(queue).await?)
    }

    /// Sends the dead letters of `queue` back — all, or those with an
    /// event id in `ids` — and returns how many went.
    pub async fn replay(&self, queue: &str, ids: Option<&[String]>) -> Result<usize, WorkerError> {
        known(queue)?;
        let n = self.0.replay(queue, ids).await?;
        tracing::info!(
            queue,
            replayed = n,
            chosen = ids.map(<[String]>::len),
            "dead letters replayed"
        );
        Ok(n)
    }
}

/// Only the services' queues: a name outside them is a 404, not a
/// question to the broker.
fn known(queue: &str) -> Result<(), WorkerError> {
    if dlq::QUEUES.contains(&queue) {
        Ok(())
    } else {
        Err(WorkerError::NotFound("no such queue"))
    }
}
