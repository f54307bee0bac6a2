//! A run's event log: pages of it by Dagster's cursors, and following it live.

use std::sync::Arc;

use base64::Engine as _;
use serde_json::Value;
use sluice_core::events::EventRecord;

use crate::Service;
use crate::error::{Error, Result};
use crate::redaction::Redactor;

/// How many past events the log subscription sends per message.
pub const EVENT_CHUNK_SIZE: usize = 1000;

/// How often a follower of a run's log looks for new events.
pub const FOLLOW_POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// A page of a run's event log.
#[derive(Debug, Clone)]
pub struct EventPage {
    /// The events, in log order.
    pub events: Vec<EventRecord>,
    /// The cursor after the last event of the page (or the one given, if none).
    pub cursor: String,
    /// Whether more events follow.
    pub has_more: bool,
}

/// Events of a run's log as [`Service::follow_events`] delivers them.
#[derive(Debug, Clone)]
pub struct EventBatch {
    /// The events, in log order (empty only for the first batch of an empty log).
    pub events: Vec<EventRecord>,
    /// Whether more stored events follow at once.
    pub more: bool,
    /// The storage id of the last event delivered so far, if any.
    pub after: Option<i64>,
}

/// Encode an event storage id as Dagster's log cursor: base64 of
/// `{"type": "STORAGE_ID", "value": N}`.
pub fn encode_event_cursor(storage_id: i64) -> String {
    let json = format!("{{\"type\": \"STORAGE_ID\", \"value\": {storage_id}}}");
    base64::engine::general_purpose::STANDARD.encode(json)
}

/// Decode a log cursor made by [`encode_event_cursor`] (a plain storage id is accepted too).
pub fn decode_event_cursor(cursor: &str) -> Result<i64> {
    let bad = || {
        Error::InvalidArgument(format!(
            "invalid event cursor {cursor:?}: pass back a cursor this API returned"
        ))
    };
    if let Ok(id) = cursor.trim().parse::<i64>() {
        return Ok(id);
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(cursor.trim())
        .map_err(|_| bad())?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    value
        .get("value")
        .and_then(Value::as_i64)
        .filter(|_| value.get("type").and_then(Value::as_str) == Some("STORAGE_ID"))
        .ok_or_else(bad)
}

impl Service {
    /// Every event of a run's log, in log order.
    pub async fn run_events(&self, run_id: &str) -> Result<Vec<EventRecord>> {
        let redactor = self.redactor(run_id).await?;
        let events = self.storage().events_for_run(run_id, None, None).await?;
        Ok(redactor.events(events))
    }

    /// How to hide the secrets of run `run_id` in what is shown of it (nothing to hide
    /// when there is no such run).
    async fn redactor(&self, run_id: &str) -> Result<Redactor> {
        Ok(match self.storage().get_run(run_id).await? {
            Some(run) => Redactor::of_run(&run),
            None => Redactor::default(),
        })
    }

    /// The storage id of the newest event of the instance (Dagster's `HEAD` cursor).
    pub async fn latest_event_id(&self) -> Result<Option<i64>> {
        Ok(self.storage().latest_event_id().await?)
    }

    /// A page of a run's events after `cursor`, at most `limit`.
    pub async fn events(
        &self,
        run_id: &str,
        cursor: Option<&str>,
        limit: Option<usize>,
    ) -> Result<EventPage> {
        let after = cursor.map(decode_event_cursor).transpose()?;
        let redactor = self.redactor(run_id).await?;
        let mut events = self
            .storage
            .events_for_run(run_id, after, limit.map(|l| l.saturating_add(1)))
            .await?;
        let has_more = limit.is_some_and(|l| events.len() > l);
        if let Some(l) = limit {
            events.truncate(l);
        }
        let last = events.last().map(|e| e.storage_id).or(after).unwrap_or(-1);
        Ok(EventPage {
            events: redactor.events(events),
            cursor: encode_event_cursor(last),
            has_more,
        })
    }

    /// Follow a run's log after the event `after` (from the start when `None`): the
    /// stored events first, [`EVENT_CHUNK_SIZE`] at a time, then new events as they are
    /// written, every [`FOLLOW_POLL_INTERVAL`] at most. The stream ends with the first
    /// error while catching up; once live, a failed read is logged and tried again.
    pub fn follow_events(
        self: Arc<Self>,
        run_id: String,
        after: Option<i64>,
    ) -> impl futures::Stream<Item = Result<EventBatch>> + Send + 'static {
        let start = (self, run_id, after, false, None);
        futures::stream::unfold(Some(start), |state| async move {
            let (service, run_id, mut after, mut live, redactor) = state?;
            let redactor = match redactor {
                Some(redactor) => redactor,
                None => match service.redactor(&run_id).await {
                    Ok(redactor) => Arc::new(redactor),
                    Err(e) => return Some((Err(e), None)),
                },
            };
            loop {
                if live {
                    tokio::time::sleep(FOLLOW_POLL_INTERVAL).await;
                }
                let read = service
                    .storage
                    .events_for_run(&run_id, after, Some(EVENT_CHUNK_SIZE + 1))
                    .await;
                let mut events = match read {
                    Ok(events) => events,
                    Err(e) if live => {
                        tracing::warn!(%run_id, error = %e, "cannot read the run's events");
                        continue;
                    }
                    Err(e) => return Some((Err(e.into()), None)),
                };
                let more = events.len() > EVENT_CHUNK_SIZE;
                events.truncate(EVENT_CHUNK_SIZE);
                after = events.last().map(|e| e.storage_id).or(after);
                let catching_up = !live;
                live = !more;
                if events.is_empty() && !catching_up {
                    continue;
                }
                let batch = EventBatch {
                    events: redactor.events(events),
                    more,
                    after,
                };
                let next = (service, run_id, after, live, Some(redactor));
                return Some((Ok(batch), Some(next)));
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_cursors_are_dagsters() {
        assert_eq!(
            encode_event_cursor(16),
            "eyJ0eXBlIjogIlNUT1JBR0VfSUQiLCAidmFsdWUiOiAxNn0="
        );
        assert_eq!(
            decode_event_cursor("eyJ0eXBlIjogIlNUT1JBR0VfSUQiLCAidmFsdWUiOiAzfQ==").unwrap(),
            3
        );
        assert_eq!(decode_event_cursor("42").unwrap(), 42);
        assert!(decode_event_cursor("bogus!").is_err());
    }
}
