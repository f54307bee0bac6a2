//! [`EventWriter`]: the batching event sink in front of [`Storage`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sluice_core::events::{EventSink, RunEvent};
use sluice_core::run::RunStatus;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::Storage;
use crate::error::{Result, StorageError};

/// Most messages taken from the channel per batch.
const MAX_BATCH: usize = 1024;
/// How long a batch waits for more events before it is written: a short run's events,
/// from its start to its end, then cost one transaction. A flush or close does not wait.
const LINGER: Duration = Duration::from_millis(5);
/// Pauses before retrying a failed batch.
const RETRY_DELAYS: [Duration; 3] = [
    Duration::from_millis(20),
    Duration::from_millis(100),
    Duration::from_millis(500),
];
/// When salvaging a failed batch event by event, give up after this many failures in a
/// row (the database is down, not one event bad).
const SALVAGE_MAX_CONSECUTIVE_FAILURES: usize = 3;

enum Msg {
    Event(RunEvent),
    Flush(oneshot::Sender<()>),
    Close(oneshot::Sender<()>),
}

#[derive(Default)]
struct Losses {
    lost: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl Losses {
    fn record(&self, count: usize, error: &str) {
        if count == 0 {
            return;
        }
        self.lost.fetch_add(count as u64, Ordering::SeqCst);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error.to_owned());
        }
        tracing::error!(
            lost = count,
            error,
            "run events could not be stored and are lost"
        );
    }

    fn check(&self) -> Result<()> {
        let lost = self.lost.load(Ordering::SeqCst);
        if lost == 0 {
            return Ok(());
        }
        let last_error = self
            .last_error
            .lock()
            .ok()
            .and_then(|e| e.clone())
            .unwrap_or_default();
        Err(StorageError::EventsLost { lost, last_error })
    }
}

struct Shared {
    tx: mpsc::UnboundedSender<Msg>,
    losses: Arc<Losses>,
    fence: Option<Arc<Fence>>,
    task: Mutex<Option<JoinHandle<()>>>,
}

/// The [`EventSink`] that writes to instance storage.
///
/// [`emit`](EventSink::emit) never blocks: it queues the event on an unbounded channel.
/// A background task takes whatever has queued up, lets more gather for a few
/// milliseconds, and stores it all with one
/// [`EventStorage::store_events`](crate::EventStorage::store_events) call, so that a
/// busy run costs few transactions. A batch that fails is retried a few times with
/// short pauses; events that still cannot be stored are logged, counted, and reported
/// by [`flush`](Self::flush) and [`close`](Self::close).
///
/// Clones share the same queue and task; emitting from many tasks at once is the normal
/// case. Events of one emitter are stored in emission order.
#[derive(Clone)]
pub struct EventWriter {
    shared: Arc<Shared>,
}

/// The fence of a writer for one attempt at a run: once storage refuses the attempt
/// ([`StorageError::RunFenced`]), every later event is dropped and `on_refused` is
/// called, once.
struct Fence {
    run_id: String,
    refused: Mutex<Option<RunStatus>>,
    on_refused: Box<dyn Fn() + Send + Sync>,
}

impl Fence {
    /// The status the run had when storage refused the attempt, if it did.
    fn refused(&self) -> Option<RunStatus> {
        self.refused.lock().ok().and_then(|r| *r)
    }

    fn trip(&self, status: RunStatus, dropped: usize) {
        let first = match self.refused.lock() {
            Ok(mut refused) => refused.replace(status).is_none(),
            Err(_) => false,
        };
        if first {
            tracing::warn!(
                run_id = %self.run_id,
                %status,
                dropped,
                "the run ended elsewhere; this attempt's events are refused and it stops"
            );
            (self.on_refused)();
        }
    }

    fn error(&self, status: RunStatus) -> StorageError {
        StorageError::RunFenced {
            run_id: self.run_id.clone(),
            status,
        }
    }
}

/// Where a writer's task stores events: anywhere, or behind one attempt's fence.
struct Sink {
    storage: Arc<dyn Storage>,
    fence: Option<Arc<Fence>>,
}

impl Sink {
    async fn store(&self, events: &[RunEvent]) -> Result<Vec<i64>> {
        match &self.fence {
            None => self.storage.store_events(events).await,
            Some(fence) => self.storage.store_run_events(&fence.run_id, events).await,
        }
    }
}

impl EventWriter {
    /// Start the background task (on the current tokio runtime) writing to `storage`.
    pub fn spawn(storage: Arc<dyn Storage>) -> EventWriter {
        Self::start(Sink {
            storage,
            fence: None,
        })
    }

    /// A writer for one attempt at running `run_id` (a run worker's): its events go
    /// through [`store_run_events`](crate::EventStorage::store_run_events), so once the
    /// run has ended elsewhere (failed by the monitor, say) storage refuses them. Then the
    /// writer drops every later event, calls `on_refused` (once: the worker stops), and
    /// [`flush`](Self::flush) and [`close`](Self::close) answer
    /// [`StorageError::RunFenced`].
    pub fn for_attempt(
        storage: Arc<dyn Storage>,
        run_id: &str,
        on_refused: impl Fn() + Send + Sync + 'static,
    ) -> EventWriter {
        Self::start(Sink {
            storage,
            fence: Some(Arc::new(Fence {
                run_id: run_id.to_owned(),
                refused: Mutex::new(None),
                on_refused: Box::new(on_refused),
            })),
        })
    }

    fn start(sink: Sink) -> EventWriter {
        let (tx, rx) = mpsc::unbounded_channel();
        let losses = Arc::new(Losses::default());
        let fence = sink.fence.clone();
        let task = tokio::spawn(drain(sink, rx, losses.clone()));
        EventWriter {
            shared: Arc::new(Shared {
                tx,
                losses,
                fence,
                task: Mutex::new(Some(task)),
            }),
        }
    }

    /// Wait until every event emitted before this call is stored (or given up on).
    /// Fails with [`StorageError::EventsLost`] if any event of this writer has been lost
    /// since it started, and with [`StorageError::WriterStopped`] after
    /// [`close`](Self::close).
    pub async fn flush(&self) -> Result<()> {
        let (ack, done) = oneshot::channel();
        self.shared
            .tx
            .send(Msg::Flush(ack))
            .map_err(|_| StorageError::WriterStopped)?;
        done.await.map_err(|_| StorageError::WriterStopped)?;
        self.check()
    }

    /// The fence's refusal first, then any loss.
    fn check(&self) -> Result<()> {
        if let Some(fence) = &self.shared.fence
            && let Some(status) = fence.refused()
        {
            return Err(fence.error(status));
        }
        self.shared.losses.check()
    }

    /// Store everything emitted so far, then stop the background task. Events emitted
    /// afterwards (through clones) are lost and logged. Fails with
    /// [`StorageError::EventsLost`] if any event was lost.
    pub async fn close(self) -> Result<(), StorageError> {
        let (ack, done) = oneshot::channel();
        if self.shared.tx.send(Msg::Close(ack)).is_ok() {
            let _ = done.await;
        }
        let task = self.shared.task.lock().ok().and_then(|mut t| t.take());
        if let Some(task) = task
            && task.await.is_err()
        {
            return Err(StorageError::WriterStopped);
        }
        self.check()
    }

    /// How many events could not be stored since the writer started.
    pub fn lost_events(&self) -> u64 {
        self.shared.losses.lost.load(Ordering::SeqCst)
    }
}

impl EventSink for EventWriter {
    fn emit(&self, event: RunEvent) {
        if let Err(mpsc::error::SendError(msg)) = self.shared.tx.send(Msg::Event(event)) {
            if let Msg::Event(event) = msg {
                tracing::error!(
                    run_id = %event.run_id,
                    event_type = %event.event_type,
                    "event emitted after the event writer was closed"
                );
            }
            self.shared
                .losses
                .record(1, "event emitted after the event writer was closed");
        }
    }
}

async fn drain(sink: Sink, mut rx: mpsc::UnboundedReceiver<Msg>, losses: Arc<Losses>) {
    let mut messages = Vec::with_capacity(MAX_BATCH);
    let mut events = Vec::with_capacity(MAX_BATCH);
    let mut close_acks = Vec::new();
    while rx.recv_many(&mut messages, MAX_BATCH).await > 0 {
        linger(&mut rx, &mut messages).await;
        for msg in messages.drain(..) {
            match msg {
                Msg::Event(event) => events.push(event),
                Msg::Flush(ack) => {
                    write(&sink, &mut events, &losses).await;
                    let _ = ack.send(());
                }
                Msg::Close(ack) => {
                    // Refuse new messages; what is queued is still drained below.
                    rx.close();
                    close_acks.push(ack);
                }
            }
        }
        write(&sink, &mut events, &losses).await;
    }
    for ack in close_acks {
        let _ = ack.send(());
    }
}

/// Unless `messages` already asks for a flush or close, gather more for up to
/// [`LINGER`], stopping early at a flush, a close, or a full batch.
async fn linger(rx: &mut mpsc::UnboundedReceiver<Msg>, messages: &mut Vec<Msg>) {
    let is_control = |m: &Msg| !matches!(m, Msg::Event(_));
    if messages.iter().any(is_control) {
        return;
    }
    let deadline = tokio::time::Instant::now() + LINGER;
    while messages.len() < MAX_BATCH {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(msg)) => {
                let stop = is_control(&msg);
                messages.push(msg);
                if stop {
                    return;
                }
            }
            // The deadline passed, or every sender is gone.
            Ok(None) | Err(_) => return,
        }
    }
}

/// Store `events` (and clear it), retrying, then salvaging event by event.
async fn write(sink: &Sink, events: &mut Vec<RunEvent>, losses: &Losses) {
    if events.is_empty() {
        return;
    }
    if let Some(fence) = &sink.fence
        && let Some(status) = fence.refused()
    {
        fence.trip(status, events.len());
        events.clear();
        return;
    }
    let mut attempt = 0;
    let error = loop {
        match sink.store(events).await {
            Ok(_) => {
                events.clear();
                return;
            }
            Err(StorageError::RunFenced { status, .. }) => {
                if let Some(fence) = &sink.fence {
                    fence.trip(status, events.len());
                }
                events.clear();
                return;
            }
            Err(e) if attempt < RETRY_DELAYS.len() => {
                tracing::warn!(
                    events = events.len(),
                    attempt = attempt + 1,
                    error = %e,
                    "storing run events failed; retrying"
                );
                tokio::time::sleep(RETRY_DELAYS[attempt]).await;
                attempt += 1;
            }
            Err(e) => break e.to_string(),
        }
    };
    if events.len() == 1 {
        losses.record(1, &error);
        events.clear();
        return;
    }
    // One event the database refuses should not take its whole batch with it.
    let mut failures_in_a_row = 0;
    let mut pending = events.drain(..);
    for event in pending.by_ref() {
        match sink.store(std::slice::from_ref(&event)).await {
            Ok(_) => failures_in_a_row = 0,
            Err(StorageError::RunFenced { status, .. }) => {
                if let Some(fence) = &sink.fence {
                    fence.trip(status, 1 + pending.len());
                }
                pending.by_ref().for_each(drop);
                return;
            }
            Err(e) => {
                losses.record(1, &e.to_string());
                failures_in_a_row += 1;
                if failures_in_a_row >= SALVAGE_MAX_CONSECUTIVE_FAILURES {
                    break;
                }
            }
        }
    }
    let rest = pending.count();
    losses.record(rest, &error);
}
