//! The queued run coordinator: launches QUEUED runs within the instance's limits.

use std::sync::Arc;
use std::time::Duration;

use sluice_codeserver::{LocationState, Workspace};
use sluice_core::events::{EventData, EventType, RunEvent};
use sluice_core::run::{Run, RunStatus};
use sluice_storage::{RunsFilter, Storage, WakeupListener};
use tokio_util::sync::CancellationToken;

use crate::launcher::Launcher;
use crate::settings::RunCoordinatorConfig;
use crate::{DaemonError, Heartbeat, end_run};

/// How long the queue waits for a wake-up before it looks at storage anyway.
const FALLBACK_CHECK: Duration = Duration::from_secs(2);

/// The fewest queued runs read at a time (more when tag limits hold runs back).
const MIN_PAGE: usize = 4;

/// The queued run coordinator.
pub struct RunQueue {
    storage: Arc<dyn Storage>,
    workspace: Workspace,
    config: RunCoordinatorConfig,
    /// This process, recorded on the runs it marks STARTING.
    launcher: Option<Launcher>,
}

impl RunQueue {
    /// The queued run coordinator over `storage`, launching through `workspace`'s code
    /// servers within `config`'s limits.
    pub fn new(
        storage: Arc<dyn Storage>,
        workspace: Workspace,
        config: RunCoordinatorConfig,
    ) -> Self {
        Self {
            storage,
            workspace,
            config,
            launcher: Launcher::this_process(),
        }
    }

    /// Launch every queued run that the limits admit now, and wait for the launches;
    /// returns how many were launched (runs whose launch failed are failed, and counted
    /// too).
    pub async fn dequeue(&self) -> Result<usize, DaemonError> {
        let admitted = self.admit().await?;
        let count = admitted.len();
        launch_all(Arc::clone(&self.storage), self.workspace.clone(), admitted).await?;
        Ok(count)
    }

    /// Mark STARTING, in one write, every queued run that the limits admit now, and return
    /// them, to be launched.
    ///
    /// Reads the runs in progress, then only as many queued runs, in launch order, as it
    /// takes to fill the free slots: a deep queue costs nothing while the instance is busy.
    async fn admit(&self) -> Result<Vec<Run>, DaemonError> {
        let in_progress = RunsFilter {
            statuses: vec![
                RunStatus::Starting,
                RunStatus::Started,
                RunStatus::Canceling,
            ],
            ..RunsFilter::default()
        };
        let limits = &self.config.tag_concurrency_limits;
        // The runs in progress themselves matter only for tag limits; otherwise, count.
        let (running, active) = if limits.is_empty() {
            (
                self.storage.count_runs(&in_progress).await? as usize,
                Vec::new(),
            )
        } else {
            let active = self.storage.list_runs(&in_progress, None, None).await?;
            (active.len(), active)
        };
        let free = self.config.max_concurrent_runs.saturating_sub(running);
        if free == 0 {
            return Ok(Vec::new());
        }
        let matches = |run: &Run, i: usize| {
            let limit = &limits[i];
            run.tags
                .get(&limit.key)
                .is_some_and(|v| limit.value.as_ref().is_none_or(|want| want == v))
        };
        let mut tag_counts: Vec<usize> = (0..limits.len())
            .map(|i| active.iter().filter(|r| matches(r, i)).count())
            .collect();
        let page = (free * 2).max(MIN_PAGE);
        let mut admitted = Vec::new();
        let mut offset = 0;
        'pages: loop {
            let queued = self.storage.queued_runs(offset, page).await?;
            let exhausted = queued.len() < page;
            offset += queued.len();
            for run in queued {
                let applicable: Vec<usize> =
                    (0..limits.len()).filter(|i| matches(&run, *i)).collect();
                if applicable
                    .iter()
                    .any(|i| tag_counts[*i] >= limits[*i].limit)
                {
                    continue;
                }
                for i in applicable {
                    tag_counts[i] += 1;
                }
                admitted.push(run);
                if admitted.len() == free {
                    break 'pages;
                }
            }
            if exhausted {
                break;
            }
        }
        if !admitted.is_empty() {
            self.storage
                .store_events(&starting_events(&admitted, self.launcher.as_ref()))
                .await?;
        }
        Ok(admitted)
    }

    /// Dequeue whenever woken (a run was queued or ended), and every few seconds anyway,
    /// until `shutdown`; then wait for the launches under way.
    ///
    /// Admitted runs are launched in the background: the queue looks again as soon as it
    /// is woken, without waiting for the code servers to answer, so a slot freed by a
    /// run that ends is filled at once. (The admitted runs are STARTING, so they count
    /// against the limits while their launch is under way.) Awaiting each pass's
    /// launches kept fewer than half of the slots busy during a burst.
    pub async fn run(&self, wakeups: WakeupListener, daemon_id: &str, shutdown: CancellationToken) {
        let mut heartbeat = Heartbeat::new(
            Arc::clone(&self.storage),
            "QUEUED_RUN_COORDINATOR",
            daemon_id,
        );
        let mut launches = tokio::task::JoinSet::new();
        loop {
            let mut error = match self.admit().await {
                Ok(admitted) => {
                    if !admitted.is_empty() {
                        let (storage, workspace) =
                            (Arc::clone(&self.storage), self.workspace.clone());
                        launches.spawn(launch_all(storage, workspace, admitted));
                    }
                    None
                }
                Err(e) => Some(e.to_string()),
            };
            while let Some(launched) = launches.try_join_next() {
                if let Some(e) = launch_error(launched) {
                    error = Some(e);
                }
            }
            heartbeat.beat(error).await;
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = wakeups.wait(FALLBACK_CHECK) => {}
            }
        }
        while let Some(launched) = launches.join_next().await {
            if let Some(e) = launch_error(launched) {
                tracing::error!("{e}");
            }
        }
    }
}

/// Why a background launch of admitted runs failed, if it did.
fn launch_error(
    launched: Result<Result<(), DaemonError>, tokio::task::JoinError>,
) -> Option<String> {
    match launched {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.to_string()),
        Err(e) => Some(format!("launching runs failed: {e}")),
    }
}

/// RUN_DEQUEUED and RUN_STARTING for each of `runs`, the latter naming their launcher.
fn starting_events(runs: &[Run], launcher: Option<&Launcher>) -> Vec<RunEvent> {
    runs.iter()
        .flat_map(|run| {
            let location = run.location_name.as_deref().unwrap_or_default();
            [
                RunEvent::new(
                    &run.run_id,
                    EventType::RunDequeued,
                    "Run dequeued by the run coordinator.",
                ),
                RunEvent::new(
                    &run.run_id,
                    EventType::RunStarting,
                    format!("Launching run in code location \"{location}\"."),
                )
                .data(launcher.map_or(EventData::None, Launcher::event_data)),
            ]
        })
        .collect()
}

/// Ask the code servers of `runs` (marked STARTING) to launch them, all at once. A run
/// that cannot be launched is failed with the reason.
async fn launch_all(
    storage: Arc<dyn Storage>,
    workspace: Workspace,
    runs: Vec<Run>,
) -> Result<(), DaemonError> {
    let outcomes = futures::future::join_all(runs.iter().map(|run| launch(&workspace, run))).await;
    for (run, outcome) in runs.iter().zip(outcomes) {
        if let Err(reason) = outcome {
            let message = format!("Run {} could not be launched: {reason}", run.run_id);
            tracing::warn!(run_id = %run.run_id, "{message}");
            end_run(
                storage.as_ref(),
                &run.run_id,
                EventType::RunFailure,
                message,
            )
            .await?;
        }
    }
    Ok(())
}

/// Ask the code server of `run`'s location to launch it.
async fn launch(workspace: &Workspace, run: &Run) -> Result<(), String> {
    let location_name = run.location_name.as_deref().unwrap_or_default();
    let location = workspace.location(location_name).await.ok_or_else(|| {
        format!("code location \"{location_name}\" is not in the daemon's workspace")
    })?;
    match location.state {
        LocationState::Loaded(_) => location
            .client
            .launch_run(&run.run_id)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string()),
        LocationState::Failed(error) => Err(format!(
            "code location \"{location_name}\" is not loaded: {error}"
        )),
    }
}
