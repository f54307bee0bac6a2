//! The subscription root: a run's events as they are stored.
//!
//! The log is followed through [`Service::follow_events`], which polls storage every
//! [`FOLLOW_POLL_INTERVAL`](sluice_service::events::FOLLOW_POLL_INTERVAL) once it has caught up; a
//! notification from the event writers would remove the polling.

use std::sync::Arc;

use async_graphql::{Context, ID, SimpleObject, Subscription as SubscriptionRoot, Union};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt, future};
use sluice_core::run::Run as CoreRun;

use crate::schema::events::DagsterRunEvent;
use crate::schema::runs::Run;
use sluice_service::{Service, decode_event_cursor, encode_event_cursor};

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

fn failure(run_id: &str, message: String) -> PipelineRunLogsSubscriptionPayload {
    PipelineRunLogsSubscriptionPayload::PipelineRunLogsSubscriptionFailure(
        PipelineRunLogsSubscriptionFailure {
            message,
            missing_run_id: Some(run_id.to_owned()),
        },
    )
}

/// Resolve the run and the cursor, then follow the run's log.
async fn follow(
    service: Arc<Service>,
    run_id: String,
    cursor: Option<String>,
) -> Result<
    BoxStream<'static, PipelineRunLogsSubscriptionPayload>,
    PipelineRunLogsSubscriptionPayload,
> {
    let fail = |message: String| failure(&run_id, message);
    let run = match service.run(&run_id).await {
        Ok(run) => run,
        Err(sluice_service::Error::RunNotFound(_)) => {
            return Err(fail(format!("Could not load run with id {run_id}")));
        }
        Err(e) => return Err(fail(e.to_string())),
    };
    let head = cursor.as_deref() == Some("HEAD");
    let after = match cursor.as_deref() {
        None => None,
        Some("HEAD") => service
            .latest_event_id()
            .await
            .map_err(|e| fail(e.to_string()))?,
        Some(c) => Some(decode_event_cursor(c).map_err(|e| fail(e.to_string()))?),
    };
    let batches = service.follow_events(run_id.clone(), after);
    // From HEAD there is nothing to catch up with: the first message is the first new event.
    let payloads = batches
        .filter(move |batch| {
            future::ready(!(head && batch.as_ref().is_ok_and(|b| b.events.is_empty())))
        })
        .map(move |batch| match batch {
            Ok(batch) => success(&run, batch.events, batch.more, batch.after),
            Err(e) => failure(&run.run_id, e.to_string()),
        });
    Ok(payloads.boxed())
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
        futures::stream::once(follow(service, run_id.0, cursor)).flat_map(|followed| match followed
        {
            Ok(payloads) => payloads,
            Err(failure) => futures::stream::once(future::ready(failure)).boxed(),
        })
    }
}
