//! Group commit: the payments that arrive together share one transaction and one durable
//! commit.
//!
//! A durable commit costs a disk flush (milliseconds on ordinary disks), and every payment
//! ends with one. One task takes the payments queued while the previous commit was being
//! flushed, decides each inside its own savepoint of one transaction, and commits them all
//! with one flush. A payment's answer is released only after that commit, so nothing is
//! ever answered that is not on disk. When the queue is empty a payment is a batch of one
//! and waits for nobody.
//!
//! Each payment is isolated by its savepoint: one that fails (a database error, a response
//! that cannot be built) is undone alone, and the others go on. If the shared commit fails,
//! no payment of the batch happened and each is told so; a band's retry is safe, since it
//! resends the same `tx_id`.
//!
//! The task runs the payments on its own, so a caller that gives up (a dropped connection,
//! a shutdown) cannot leave a payment half-done in the shared transaction.
use tokio::sync::{mpsc, oneshot};

use crate::{
    Error, PaymentResult,
    db::{Db, Savepoint, Tx},
    payment::PaymentJob,
};

/// The most payments in one transaction: enough to amortize the flush, few enough that the
/// first of them does not wait long for the last.
pub(crate) const MAX_BATCH: usize = 128;

/// The handle to the committer task of one store; cloned with the store.
#[derive(Debug, Clone)]
pub(crate) struct Committer {
    jobs: mpsc::Sender<Queued>,
}

#[derive(Debug)]
struct Queued {
    job: PaymentJob,
    answer: oneshot::Sender<Result<PaymentResult, Error>>,
}

impl Committer {
    /// Starts the committer task on the current tokio runtime. It ends when the last handle
    /// is dropped.
    pub(crate) fn start(db: Db) -> Self {
        let (jobs, queue) = mpsc::channel(MAX_BATCH * 8);
        tokio::spawn(run(db, queue));
        Self { jobs }
    }

    /// Decides and durably records `job`; answers after the commit.
    pub(crate) async fn submit(&self, job: PaymentJob) -> Result<PaymentResult, Error> {
        let (answer, answered) = oneshot::channel();
        self.jobs.send(Queued { job, answer }).await.map_err(|_| Error::Closed)?;
        answered.await.map_err(|_| Error::Closed)?
    }
}

async fn run(db: Db, mut queue: mpsc::Receiver<Queued>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        commit_batch(&db, batch.drain(..)).await;
    }
}

/// Runs one batch in one transaction and answers every payment in it.
async fn commit_batch(db: &Db, mut batch: impl ExactSizeIterator<Item = Queued>) {
    let size = batch.len();
    let mut tx = match db.begin_write().await {
        Ok(tx) => tx,
        Err(e) => return fail_all(batch.map(|q| q.answer), &e),
    };
    let mut decided = Vec::with_capacity(size);
    while let Some(Queued { job, answer }) = batch.next() {
        match run_isolated(&mut tx, job).await {
            Ok(Ok(result)) => decided.push((answer, result)),
            Ok(Err(e)) => {
                let _ = answer.send(Err(e));
            }
            // The transaction itself broke: nothing in it will be committed.
            Err(e) => {
                let _ = answer.send(Err(Error::GroupCommit(e.to_string())));
                let _ = tx.rollback().await;
                fail_all(decided.into_iter().map(|(answer, _)| answer), &e);
                fail_all(batch.map(|q| q.answer), &e);
                return;
            }
        }
    }
    match tx.commit().await {
        Ok(()) => {
            if size > 1 {
                tracing::trace!(payments = size, "group commit");
            }
            for (answer, result) in decided {
                let _ = answer.send(Ok(result));
            }
        }
        Err(e) => {
            tracing::warn!(payments = size, error = %e, "group commit failed");
            fail_all(decided.into_iter().map(|(answer, _)| answer), &e);
        }
    }
}

/// Runs `job` inside a savepoint: `Ok(Err)` is the payment's own failure, undone alone;
/// `Err` means the transaction can no longer be used.
async fn run_isolated(tx: &mut Tx, job: PaymentJob) -> Result<Result<PaymentResult, Error>, Error> {
    tx.savepoint(Savepoint::Payment).await?;
    match job.run(tx).await {
        Ok(result) => {
            tx.release(Savepoint::Payment).await?;
            Ok(Ok(result))
        }
        Err(e) => {
            tx.rollback_to(Savepoint::Payment).await?;
            Ok(Err(e))
        }
    }
}

/// Tells every waiting payment that its batch did not commit.
fn fail_all(answers: impl Iterator<Item = oneshot::Sender<Result<PaymentResult, Error>>>, cause: &Error) {
    for answer in answers {
        let _ = answer.send(Err(Error::GroupCommit(cause.to_string())));
    }
}
