//! What a run's event log says about the run and each of its steps: when they were
//! queued, started and ended, and every attempt of every step. GraphQL's `stats` and
//! `stepStats` and the UI's step timeline both read these.

use std::collections::HashMap;

use sluice_core::events::{EventRecord, EventType};

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepStatus {
    /// Started (or restarted) and not finished.
    InProgress,
    /// Finished successfully.
    Success,
    /// Failed (after its last retry).
    Failure,
    /// Did not run.
    Skipped,
}

impl StepStatus {
    /// The word a person reads.
    pub fn label(self) -> &'static str {
        match self {
            Self::InProgress => "Running",
            Self::Success => "Succeeded",
            Self::Failure => "Failed",
            Self::Skipped => "Skipped",
        }
    }
}

/// One attempt of a step: from its start (or restart) to its end or retry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Attempt {
    /// When it began (Unix seconds).
    pub start: f64,
    /// When it ended, if it has.
    pub end: Option<f64>,
    /// Whether it ended with a retry (rather than success or failure).
    pub retried: bool,
}

/// A step of a run as its events describe it.
#[derive(Debug, Clone, PartialEq)]
pub struct StepStats {
    /// The step.
    pub step_key: String,
    /// Where it stands, if it has started or been skipped.
    pub status: Option<StepStatus>,
    /// When its first attempt began.
    pub start_time: Option<f64>,
    /// When it finished.
    pub end_time: Option<f64>,
    /// Every attempt, in order.
    pub attempts: Vec<Attempt>,
}

/// The run-level times of a run's log.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RunTimes {
    /// RUN_ENQUEUED.
    pub enqueued: Option<f64>,
    /// RUN_STARTING.
    pub launched: Option<f64>,
    /// RUN_START.
    pub started: Option<f64>,
    /// RUN_SUCCESS, RUN_FAILURE or RUN_CANCELED.
    pub ended: Option<f64>,
}

impl RunTimes {
    /// The first time of each kind in `events`.
    pub fn of(events: &[EventRecord]) -> Self {
        let mut times = Self::default();
        for record in events {
            let t = record.event.timestamp;
            let slot = match record.event.event_type {
                EventType::RunEnqueued => &mut times.enqueued,
                EventType::RunStarting => &mut times.launched,
                EventType::RunStart => &mut times.started,
                EventType::RunSuccess | EventType::RunFailure | EventType::RunCanceled => {
                    &mut times.ended
                }
                _ => continue,
            };
            slot.get_or_insert(t);
        }
        times
    }
}

/// Every step of a run's log, in the order steps first appear. One pass over the events.
pub fn step_stats(events: &[EventRecord]) -> Vec<StepStats> {
    let mut stats: Vec<StepStats> = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::new();
    for record in events {
        let e = &record.event;
        let Some(key) = e.step_key.as_deref() else {
            continue;
        };
        let i = *index.entry(key).or_insert_with(|| {
            stats.push(StepStats {
                step_key: key.to_owned(),
                status: None,
                start_time: None,
                end_time: None,
                attempts: Vec::new(),
            });
            stats.len() - 1
        });
        let step = &mut stats[i];
        let close_attempt = |step: &mut StepStats, retried: bool| {
            if let Some(last) = step.attempts.last_mut()
                && last.end.is_none()
            {
                last.end = Some(e.timestamp);
                last.retried = retried;
            }
        };
        match e.event_type {
            EventType::StepStart | EventType::StepRestarted => {
                step.start_time.get_or_insert(e.timestamp);
                step.status = Some(StepStatus::InProgress);
                step.attempts.push(Attempt {
                    start: e.timestamp,
                    end: None,
                    retried: false,
                });
            }
            EventType::StepUpForRetry => close_attempt(step, true),
            EventType::StepSuccess => {
                close_attempt(step, false);
                step.status = Some(StepStatus::Success);
                step.end_time = Some(e.timestamp);
            }
            EventType::StepFailure => {
                close_attempt(step, false);
                step.status = Some(StepStatus::Failure);
                step.end_time = Some(e.timestamp);
            }
            EventType::StepSkipped => {
                step.status = Some(StepStatus::Skipped);
                step.end_time = Some(e.timestamp);
            }
            _ => {}
        }
    }
    stats
}

#[cfg(test)]
mod tests {
    use sluice_core::events::RunEvent;

    use super::*;

    fn record(id: i64, t: f64, event_type: EventType, step: Option<&str>) -> EventRecord {
        let mut event = RunEvent::new("r", event_type, "");
        event.timestamp = t;
        event.step_key = step.map(str::to_owned);
        EventRecord {
            storage_id: id,
            event,
        }
    }

    #[test]
    fn attempts_retries_and_times_come_from_one_pass() {
        let events = [
            record(1, 1.0, EventType::RunEnqueued, None),
            record(2, 2.0, EventType::RunStart, None),
            record(3, 3.0, EventType::StepStart, Some("a")),
            record(4, 4.0, EventType::StepUpForRetry, Some("a")),
            record(5, 5.0, EventType::StepRestarted, Some("a")),
            record(6, 5.5, EventType::StepStart, Some("b")),
            record(7, 6.0, EventType::StepSuccess, Some("a")),
            record(8, 7.0, EventType::StepFailure, Some("b")),
            record(9, 7.5, EventType::StepSkipped, Some("c")),
            record(10, 8.0, EventType::RunFailure, None),
        ];
        let steps = step_stats(&events);
        assert_eq!(
            steps
                .iter()
                .map(|s| s.step_key.as_str())
                .collect::<Vec<_>>(),
            ["a", "b", "c"]
        );
        let a = &steps[0];
        assert_eq!(a.status, Some(StepStatus::Success));
        assert_eq!((a.start_time, a.end_time), (Some(3.0), Some(6.0)));
        assert_eq!(
            a.attempts,
            [
                Attempt {
                    start: 3.0,
                    end: Some(4.0),
                    retried: true
                },
                Attempt {
                    start: 5.0,
                    end: Some(6.0),
                    retried: false
                }
            ]
        );
        assert_eq!(steps[1].status, Some(StepStatus::Failure));
        assert_eq!(steps[2].status, Some(StepStatus::Skipped));
        assert!(steps[2].attempts.is_empty());
        let times = RunTimes::of(&events);
        assert_eq!(
            times,
            RunTimes {
                enqueued: Some(1.0),
                launched: None,
                started: Some(2.0),
                ended: Some(8.0)
            }
        );
    }
}
