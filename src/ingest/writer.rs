//! The group-commit writer. Handlers hand validated, priced events to `EventWriter::write` and
//! await the commit; a few writer tasks, each with its own connection, take whatever requests are
//! queued, write them as one statement (`store::events::insert_batch`) and answer each request.
//! Under load many requests share one commit; alone, a request waits for nobody.

use crate::domain::UsageEvent;
use crate::error::{is_unavailable, ApiError};
use crate::metrics::Metrics;
use crate::pricing::PricedCost;
use crate::store::events::{insert_batch, Claim, Insert, NewEvent};
use crate::store::teams;
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch, Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

/// An event ready for the writer.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub event: UsageEvent,
    pub priced: Option<PricedCost>,
}

/// What the database decided for one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Stored now.
    Accepted,
    /// Already stored with the same content: counted once.
    Duplicate,
    /// Already stored with different content: the first version stands.
    Conflict,
}

struct Job {
    events: Vec<PendingEvent>,
    reply: oneshot::Sender<Result<Vec<Outcome>, ApiError>>,
    _queued: OwnedSemaphorePermit,
}

/// Writer settings.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    pub connections: usize,
    pub max_rows: usize,
    pub queue_events: usize,
    pub timeout: Duration,
}

/// The handle handlers write through. Cheap to clone.
#[derive(Clone)]
pub struct EventWriter {
    jobs: mpsc::Sender<Job>,
    queue: Arc<Semaphore>,
    queue_events: usize,
    timeout: Duration,
}

/// Owns the writer tasks; `shutdown` commits what is queued and stops them.
pub struct WriterTasks {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl WriterTasks {
    /// Stops taking new work, finishes what is queued, and waits for the tasks.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

impl EventWriter {
    /// Starts the writer tasks on the current runtime.
    pub fn start(
        connect: PgConnectOptions,
        config: WriterConfig,
        metrics: Arc<Metrics>,
    ) -> (Self, WriterTasks) {
        // A write the service has given up on must not keep running: the server cancels it at the
        // same deadline, so stalled statements do not pile up behind a lock and land late.
        let millis = config.timeout.as_millis().max(1);
        let connect = connect.options([
            ("statement_timeout", millis.to_string()),
            ("lock_timeout", millis.to_string()),
        ]);
        let (jobs, receiver) = mpsc::channel::<Job>(16_384);
        let receiver = Arc::new(Mutex::new(receiver));
        let (stop, stopped) = watch::channel(false);
        let team_ids = Arc::new(RwLock::new(HashMap::new()));
        let mut tasks = JoinSet::new();
        for _ in 0..config.connections.max(1) {
            let worker = Worker {
                receiver: receiver.clone(),
                connect: connect.clone(),
                connection: None,
                team_ids: team_ids.clone(),
                max_rows: config.max_rows,
                timeout: config.timeout,
                metrics: metrics.clone(),
                careful_batches: 0,
            };
            tasks.spawn(worker.run(stopped.clone()));
        }
        let writer = Self {
            jobs,
            queue: Arc::new(Semaphore::new(config.queue_events)),
            queue_events: config.queue_events,
            timeout: config.timeout,
        };
        (writer, WriterTasks { stop, tasks })
    }

    /// Writes events and returns their outcomes in order once they are committed. Answers
    /// `Overloaded` at once when too many events are already waiting, and `Unavailable` when the
    /// database does not commit within the timeout (the events may still land; a retry is safe).
    pub async fn write(&self, events: Vec<PendingEvent>) -> Result<Vec<Outcome>, ApiError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        let wanted = u32::try_from(events.len().min(self.queue_events)).unwrap_or(u32::MAX);
        let queued = self
            .queue
            .clone()
            .try_acquire_many_owned(wanted)
            .map_err(|_| ApiError::Overloaded)?;
        let (reply, answer) = oneshot::channel();
        self.jobs
            .try_send(Job {
                events,
                reply,
                _queued: queued,
            })
            .map_err(|_| ApiError::Overloaded)?;
        match tokio::time::timeout(self.timeout * 2, answer).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ApiError::Unavailable),
            Err(_) => Err(ApiError::Unavailable),
        }
    }
}

struct Worker {
    receiver: Arc<Mutex<mpsc::Receiver<Job>>>,
    connect: PgConnectOptions,
    connection: Option<PgConnection>,
    team_ids: Arc<RwLock<HashMap<String, i64>>>,
    max_rows: usize,
    timeout: Duration,
    metrics: Arc<Metrics>,
    /// Batches still to be written with `Claim::OnConflict` after an optimistic claim found a
    /// taken key: while clients resend, most batches would find one, and a failed optimistic
    /// statement is wasted work.
    careful_batches: u32,
}

/// How many batches a worker writes with `Claim::OnConflict` after an optimistic claim failed;
/// at most one batch in this many is written twice when duplicates never stop.
const CAREFUL_BATCHES: u32 = 64;

impl Worker {
    async fn run(mut self, mut stopped: watch::Receiver<bool>) {
        loop {
            let jobs = {
                let mut receiver = self.receiver.lock().await;
                let first = tokio::select! {
                    job = receiver.recv() => job,
                    _ = stopped.wait_for(|s| *s) => receiver.try_recv().ok(),
                };
                let Some(first) = first else { return };
                let mut rows = first.events.len();
                let mut jobs = vec![first];
                while rows < self.max_rows {
                    match receiver.try_recv() {
                        Ok(job) => {
                            rows += job.events.len();
                            jobs.push(job);
                        }
                        Err(_) => break,
                    }
                }
                jobs
            };
            self.commit(jobs).await;
        }
    }

    /// Writes the events of several requests as one batch and answers each request.
    async fn commit(&mut self, jobs: Vec<Job>) {
        let started = Instant::now();
        let total: usize = jobs.iter().map(|j| j.events.len()).sum();
        self.metrics
            .writer_batch_events
            .with_label_values(&[] as &[&str])
            .observe(total as f64);
        let result = tokio::time::timeout(self.timeout, self.write_group(&jobs)).await;
        let result = match result {
            Ok(result) => result,
            Err(_) => {
                // The statement may still commit; the client retries and gets a duplicate.
                self.connection = None;
                Err(ApiError::Unavailable)
            }
        };
        let label = match &result {
            Ok(_) => "ok",
            Err(ApiError::Unavailable) => "unavailable",
            Err(_) => "error",
        };
        self.metrics
            .writer_commit
            .with_label_values(&[label])
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(mut outcomes) => {
                for job in jobs.into_iter().rev() {
                    let mine = outcomes.split_off(outcomes.len() - job.events.len());
                    let _ = job.reply.send(Ok(mine));
                }
            }
            Err(error) => {
                let unavailable = matches!(error, ApiError::Unavailable);
                // The cause chain, logged here once: each request is answered an opaque error.
                let cause = match &error {
                    ApiError::Internal(cause) => format!("{cause:#}"),
                    other => other.to_string(),
                };
                tracing::warn!(events = total, error = %cause, "event batch not committed");
                for job in jobs {
                    let answer = if unavailable {
                        ApiError::Unavailable
                    } else {
                        ApiError::Internal(anyhow::anyhow!("event batch failed"))
                    };
                    let _ = job.reply.send(Err(answer));
                }
            }
        }
    }

    async fn write_group(&mut self, jobs: &[Job]) -> Result<Vec<Outcome>, ApiError> {
        let events: Vec<&PendingEvent> = jobs.iter().flat_map(|j| j.events.iter()).collect();
        let result = self.write_events(&events).await;
        if let Err(error) = &result {
            // After any database error the connection's state is unknown: start afresh.
            self.connection = None;
            if is_unavailable(error) {
                return Err(ApiError::Unavailable);
            }
        }
        result.map_err(ApiError::from)
    }

    async fn write_events(&mut self, events: &[&PendingEvent]) -> Result<Vec<Outcome>, sqlx::Error> {
        if self.connection.is_none() {
            self.connection = Some(PgConnection::connect_with(&self.connect).await?);
        }
        let Some(conn) = self.connection.as_mut() else {
            return Err(sqlx::Error::PoolClosed);
        };

        let missing: Vec<String> = {
            let known = self.team_ids.read().map_err(|_| sqlx::Error::PoolClosed)?;
            let mut missing: Vec<String> = events
                .iter()
                .map(|e| &e.event.team)
                .filter(|t| !known.contains_key(*t))
                .cloned()
                .collect();
            missing.sort();
            missing.dedup();
            missing
        };
        if !missing.is_empty() {
            let created = teams::ensure(conn, &missing).await?;
            if let Ok(mut known) = self.team_ids.write() {
                known.extend(created);
            }
        }
        let known = self.team_ids.read().map_err(|_| sqlx::Error::PoolClosed)?.clone();

        // Within the group, the first event with a (team, id) is the candidate; later ones are
        // judged against whatever version stands after the write.
        let mut first_of: HashMap<(i64, [u8; 16]), usize> = HashMap::with_capacity(events.len());
        let mut candidates: Vec<NewEvent> = Vec::with_capacity(events.len());
        let mut slot: Vec<(usize, [u8; 16], bool)> = Vec::with_capacity(events.len());
        for pending in events {
            let team_id = known
                .get(&pending.event.team)
                .copied()
                .ok_or_else(|| sqlx::Error::RowNotFound)?;
            let id_hash = pending.event.id_hash();
            let content_hash = pending.event.content_hash();
            match first_of.get(&(team_id, id_hash)) {
                Some(&index) => slot.push((index, content_hash, false)),
                None => {
                    first_of.insert((team_id, id_hash), candidates.len());
                    slot.push((candidates.len(), content_hash, true));
                    candidates.push(NewEvent {
                        team_id,
                        id_hash,
                        content_hash,
                        event: pending.event.clone(),
                        priced: pending.priced.clone(),
                    });
                }
            }
        }
        let claim = if self.careful_batches > 0 {
            self.careful_batches -= 1;
            Claim::OnConflict
        } else {
            Claim::Optimistic
        };
        let written = insert_batch(conn, &candidates, claim).await?;
        if written.key_taken {
            self.careful_batches = CAREFUL_BATCHES;
            self.metrics.writer_claim_retries.inc();
        }
        let inserted = written.outcomes;
        let standing: Vec<Vec<u8>> = candidates
            .iter()
            .zip(&inserted)
            .map(|(c, i)| match i {
                Insert::Inserted => c.content_hash.to_vec(),
                Insert::Exists { content_hash } => content_hash.clone(),
            })
            .collect();
        Ok(slot
            .into_iter()
            .map(|(index, content_hash, first)| {
                if first && inserted[index] == Insert::Inserted {
                    Outcome::Accepted
                } else if standing[index] == content_hash {
                    Outcome::Duplicate
                } else {
                    Outcome::Conflict
                }
            })
            .collect())
    }
}
