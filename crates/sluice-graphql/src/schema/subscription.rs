//! The subscription root: a run's events as they are stored.
//!
//! Each subscriber polls storage every [`POLL_INTERVAL`] for now; a notification from the
//! event writers would remove the polling.

use std::sync::Arc;
use std::time::Duration;

use async_graphql::{Context, ID, SimpleObject, Subscription as SubscriptionRoot, Union};
use futures::Stream;
use sluice_core::run::Run as CoreRun;

use crate::schema::events::DagsterRunEvent;
use crate::schema::runs::Run;
use crate::service::{EVENT_CHUNK_SIZE, Service, decode_event_cursor, encode_event_cursor};

/// How often a log subscription looks for new events.
pub const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// A batch of a run's events.
#[derive(SimpleObject, Clone, Debug)]
pub struct PipelineRunLogsSubscriptionSuccess {
    /// The run, as it was when the subscription started.
    pub run: Run,
    /// The events.
    pub messages: Vec<DagsterRunEvent>,
    /// Whether more stored events follow in the next message.
    pub has_more_past_events: bool,
    /// The cursor after these events.
    pub cursor: String,
}

/// The run does not exist.
#[derive(SimpleObject, Clone, Debug)]
pub struct PipelineRunLogsSubscriptionFailure {
    /// Why.
    pub message: String,
    /// The run asked for.
    pub missing_run_id: Option<String>,
}

/// A message of the log subscription.
#[derive(Union, Clone, Debug)]
#[allow(clippy::large_enum_variant)]
pub enum PipelineRunLogsSubscriptionPayload {
    /// Events.
    PipelineRunLogsSubscriptionSuccess(PipelineRunLogsSubscriptionSuccess),
    /// Unknown run.
    PipelineRunLogsSubscriptionFailure(PipelineRunLogsSubscriptionFailure),
}

enum State {
    Start {
        service: Arc<Service>,
        run_id: String,
        cursor: Option<String>,
    },
    Replay {
        service: Arc<Service>,
        run: CoreRun,
        after: Option<i64>,
    },
    Live {
        service: Arc<Service>,
        run: CoreRun,
        after: Option<i64>,
    },
    Done,
}

fn failure(run_id: &str, message: String) -> PipelineRunLogsSubscriptionPayload {
    PipelineRunLogsSubscriptionPayload::PipelineRunLogsSubscriptionFailure(
        PipelineRunLogsSubscriptionFailure {
            message,
            missing_run_id: Some(run_id.to_owned()),
        },
    )
}

async fn step(state: State) -> Option<(PipelineRunLogsSubscriptionPayload, State)> {
    match state {
        State::Done => None,
        State::Start {
            service,
            run_id,
            cursor,
        } => {
            let run = match service.storage().get_run(&run_id).await {
                Ok(Some(run)) => run,
                Ok(None) => {
                    let message = format!("Could not load run with id {run_id}");
                    return Some((failure(&run_id, message), State::Done));
                }
                Err(e) => return Some((failure(&run_id, e.to_string()), State::Done)),
            };
            let after = match cursor.as_deref() {
                None => None,
                Some("HEAD") => match service.storage().latest_event_id().await {
                    Ok(id) => id,
                    Err(e) => return Some((failure(&run_id, e.to_string()), State::Done)),
                },
                Some(c) => match decode_event_cursor(c) {
                    Ok(id) => Some(id),
                    Err(e) => return Some((failure(&run_id, e.to_string()), State::Done)),
                },
            };
            if cursor.as_deref() == Some("HEAD") {
                return Box::pin(step(State::Live {
                    service,
                    run,
                    after,
                }))
                .await;
            }
            Box::pin(step(State::Replay {
                service,
                run,
                after,
            }))
            .await
        }
        State::Replay {
            service,
            run,
            after,
        } => {
            let mut events = match service
                .storage()
                .events_for_run(&run.run_id, after, Some(EVENT_CHUNK_SIZE + 1))
                .await
            {
                Ok(events) => events,
                Err(e) => return Some((failure(&run.run_id, e.to_string()), State::Done)),
            };
            let more = events.len() > EVENT_CHUNK_SIZE;
            events.truncate(EVENT_CHUNK_SIZE);
            let after = events.last().map(|e| e.storage_id).or(after);
            let payload = success(&run, events, more, after);
            let next = if more {
                State::Replay {
                    service,
                    run,
                    after,
                }
            } else {
                State::Live {
                    service,
                    run,
                    after,
                }
            };
            Some((payload, next))
        }
        State::Live {
            service,
            run,
            mut after,
        } => loop {
            tokio::time::sleep(POLL_INTERVAL).await;
            match service
                .storage()
                .events_for_run(&run.run_id, after, Some(EVENT_CHUNK_SIZE))
                .await
            {
                Ok(events) if !events.is_empty() => {
                    after = events.last().map(|e| e.storage_id);
                    let payload = success(&run, events, false, after);
                    return Some((
                        payload,
                        State::Live {
                            service,
                            run,
                            after,
                        },
                    ));
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(run_id = %run.run_id, error = %e, "log subscription cannot read events");
                }
            }
        },
    }
}

fn success(
    run: &CoreRun,
    events: Vec<sluice_core::events::EventRecord>,
    more: bool,
    after: Option<i64>,
) -> PipelineRunLogsSubscriptionPayload {
    PipelineRunLogsSubscriptionPayload::PipelineRunLogsSubscriptionSuccess(
        PipelineRunLogsSubscriptionSuccess {
            run: Run(run.clone()),
            messages: events
                .into_iter()
                .map(|r| DagsterRunEvent::new(r, &run.job_name))
                .collect(),
            has_more_past_events: more,
            cursor: encode_event_cursor(after.unwrap_or(-1)),
        },
    )
}

/// The root for all subscriptions to retrieve real-time data from the Sluice instance.
pub struct Subscription;

#[SubscriptionRoot]
impl Subscription {
    /// Retrieve real-time event logs after applying a filter on run id and cursor.
    async fn pipeline_run_logs(
        &self,
        ctx: &Context<'_>,
        run_id: ID,
        #[graphql(
            desc = "A cursor retrieved from the API. Pass 'HEAD' to stream from the current event onward."
        )]
        cursor: Option<String>,
    ) -> impl Stream<Item = PipelineRunLogsSubscriptionPayload> + use<> {
        let service = ctx.data_unchecked::<Arc<Service>>().clone();
        futures::stream::unfold(
            State::Start {
                service,
                run_id: run_id.0,
                cursor,
            },
            step,
        )
    }
}
