//! Asset sensors: sensors that react to new materializations of assets.
//!
//! - [`SensorDefinition::asset`] watches one key and is called once for each new
//!   materialization of it, oldest first (Dagster's `asset_sensor`).
//! - [`SensorDefinition::multi_asset`] watches several keys and sees, in one call,
//!   what is new for each. It moves each key's cursor on itself
//!   ([`MultiAssetSensorContext::advance`]), so it can wait until every upstream it
//!   needs has been updated (Dagster's `multi_asset_sensor`).
//!
//! The daemon reads the materializations after each key's cursor from the asset index
//! and hands them over; user code never reads the event log. A key the cursor does not
//! name yet (a new sensor, or a key added to it) shows only its latest materialization,
//! so that a sensor reacts to the state of its assets once, not to their whole history.
//!
//! The cursor is a JSON object from asset key to the storage id of the last
//! materialization consumed: `{"raw/orders": 1042}`.
//!
//! ```
//! use sluice_core::prelude::*;
//!
//! let key = AssetKey::parse("raw/orders").unwrap();
//! let on_orders = SensorDefinition::asset("on_orders", key, |ctx| async move {
//!     let partition = ctx.materialization().and_then(|m| m.partition.clone());
//!     let request = RunRequest::new().run_key(ctx.event.storage_id.to_string());
//!     Ok(vec![match partition {
//!         Some(p) => request.partition_key(p),
//!         None => request,
//!     }])
//! })
//! .job("refresh_staging")
//! .build();
//! assert_eq!(on_orders.asset_watch().unwrap().asset_keys.len(), 1);
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::asset::AssetKey;
use crate::events::{AssetMaterialization, EventRecord};
use crate::resource::Resources;
use crate::run_request::{EvaluationError, RunRequest, SkipReason, TickOutcome};

use super::SensorEvaluationContext;

/// The assets an asset sensor watches.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetWatch {
    /// The watched assets.
    pub asset_keys: Vec<AssetKey>,
    /// A multi-asset sensor sees all its keys in one call and moves their cursors
    /// itself; an asset sensor is called once per materialization.
    pub multi: bool,
}

/// Where an asset sensor has read up to: for each watched key, the storage id of the
/// last materialization it consumed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AssetCursor(BTreeMap<AssetKey, i64>);

/// A sensor cursor that is not an asset cursor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the cursor \"{cursor}\" is not an asset sensor's cursor (a JSON object from asset key to \
     event id, like {{\"raw/orders\": 1042}}): {reason}"
)]
pub struct AssetCursorError {
    /// The cursor as stored.
    pub cursor: String,
    /// Why it does not parse.
    pub reason: String,
}

impl AssetCursor {
    /// Read a stored cursor; none is an empty cursor.
    pub fn parse(cursor: Option<&str>) -> Result<Self, AssetCursorError> {
        let Some(text) = cursor.filter(|c| !c.trim().is_empty()) else {
            return Ok(Self::default());
        };
        let error = |reason: String| AssetCursorError {
            cursor: text.to_owned(),
            reason,
        };
        let ids: BTreeMap<String, i64> =
            serde_json::from_str(text).map_err(|e| error(e.to_string()))?;
        ids.into_iter()
            .map(|(key, id)| {
                AssetKey::parse(&key)
                    .map(|k| (k, id))
                    .map_err(|e| error(format!("\"{key}\": {e}")))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    /// The id of the last materialization of `key` consumed, if any.
    pub fn get(&self, key: &AssetKey) -> Option<i64> {
        self.0.get(key).copied()
    }

    /// Mark the materializations of `key` up to `storage_id` consumed. A cursor never
    /// moves back.
    pub fn advance(&mut self, key: &AssetKey, storage_id: i64) {
        let at = self.0.entry(key.clone()).or_insert(storage_id);
        *at = (*at).max(storage_id);
    }

    /// The cursor as it is stored.
    pub fn encode(&self) -> String {
        let ids: BTreeMap<String, i64> = self.0.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        serde_json::to_string(&ids).unwrap_or_default()
    }
}

/// What an asset sensor's function sees: one new materialization of its asset.
#[derive(Debug, Clone)]
pub struct AssetSensorContext {
    /// The sensor's name.
    pub sensor_name: String,
    /// The time this evaluation is for (the daemon's clock).
    pub evaluation_time: DateTime<Utc>,
    /// The materialization's event, with its storage id.
    pub event: EventRecord,
    resources: Arc<Resources>,
}

impl AssetSensorContext {
    /// The resource bound to `key` (declared with
    /// [`required_resource`](super::SensorBuilder::required_resource)), as type `R`.
    pub fn resource<R: Send + Sync + 'static>(&self, key: &str) -> Result<Arc<R>, EvaluationError> {
        self.resources.for_evaluation(key)
    }

    /// The materialization: asset key, partition and metadata.
    pub fn materialization(&self) -> Option<&AssetMaterialization> {
        self.event.event.materialization()
    }
}

/// What a multi-asset sensor's function sees: the new materializations of each watched
/// key, and the cursor it moves on as it consumes them.
#[derive(Debug, Clone)]
pub struct MultiAssetSensorContext {
    /// The sensor's name.
    pub sensor_name: String,
    /// The time this evaluation is for (the daemon's clock).
    pub evaluation_time: DateTime<Utc>,
    watched: Vec<AssetKey>,
    events: BTreeMap<AssetKey, Vec<EventRecord>>,
    cursor: Arc<Mutex<AssetCursor>>,
    resources: Arc<Resources>,
}

impl MultiAssetSensorContext {
    /// The resource bound to `key` (declared with
    /// [`required_resource`](super::SensorBuilder::required_resource)), as type `R`.
    pub fn resource<R: Send + Sync + 'static>(&self, key: &str) -> Result<Arc<R>, EvaluationError> {
        self.resources.for_evaluation(key)
    }

    /// The new materializations of `key` since its cursor, oldest first.
    pub fn events(&self, key: &AssetKey) -> &[EventRecord] {
        self.events.get(key).map_or(&[], Vec::as_slice)
    }

    /// The newest of them.
    pub fn latest(&self, key: &AssetKey) -> Option<&EventRecord> {
        self.events(key).last()
    }

    /// The watched keys that have something new.
    pub fn updated_keys(&self) -> impl Iterator<Item = &AssetKey> {
        self.watched.iter().filter(|k| !self.events(k).is_empty())
    }

    /// Whether every watched key has something new.
    pub fn all_updated(&self) -> bool {
        self.watched.iter().all(|k| !self.events(k).is_empty())
    }

    /// Consume what is new for `key`: the next evaluation sees only what comes after.
    pub fn advance(&self, key: &AssetKey) {
        if let Some(latest) = self.latest(key) {
            lock(&self.cursor).advance(key, latest.storage_id);
        }
    }

    /// Consume what is new for every watched key.
    pub fn advance_all(&self) {
        for key in &self.watched {
            self.advance(key);
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) type AssetSensorFn = Arc<
    dyn Fn(AssetSensorContext) -> BoxFuture<'static, Result<Vec<RunRequest>, EvaluationError>>
        + Send
        + Sync,
>;
pub(super) type MultiAssetSensorFn = Arc<
    dyn Fn(MultiAssetSensorContext) -> BoxFuture<'static, Result<TickOutcome, EvaluationError>>
        + Send
        + Sync,
>;

/// The materializations of `watch`'s keys in `events`, grouped by key, oldest first.
fn by_key(watch: &AssetWatch, events: Vec<EventRecord>) -> BTreeMap<AssetKey, Vec<EventRecord>> {
    let mut grouped: BTreeMap<AssetKey, Vec<EventRecord>> = BTreeMap::new();
    for record in events {
        let key = record.event.materialization().map(|m| &m.asset_key);
        if let Some(key) = key.filter(|k| watch.asset_keys.contains(k)) {
            grouped.entry(key.clone()).or_default().push(record);
        }
    }
    for events in grouped.values_mut() {
        events.sort_by_key(|e| e.storage_id);
    }
    grouped
}

fn cursor_of(cursor: Option<&str>) -> Result<AssetCursor, EvaluationError> {
    AssetCursor::parse(cursor).map_err(|e| EvaluationError::msg(e.to_string()))
}

/// Call an asset sensor's function once per new materialization, moving the cursor
/// past each.
pub(super) async fn evaluate_asset(
    sensor: &SensorEvaluationContext,
    watch: &AssetWatch,
    f: &AssetSensorFn,
    events: Vec<EventRecord>,
) -> Result<TickOutcome, EvaluationError> {
    let mut cursor = cursor_of(sensor.cursor())?;
    let mut outcome = TickOutcome::default();
    let mut seen = 0;
    for (key, events) in by_key(watch, events) {
        for event in events {
            seen += 1;
            let id = event.storage_id;
            let ctx = AssetSensorContext {
                sensor_name: sensor.sensor_name().to_owned(),
                evaluation_time: sensor.evaluation_time(),
                event,
                resources: Arc::clone(&sensor.resources),
            };
            outcome.run_requests.extend(f(ctx).await?);
            cursor.advance(&key, id);
        }
    }
    if outcome.run_requests.is_empty() {
        outcome.skip_reason = Some(SkipReason::new(match seen {
            0 => "no new materialization".to_owned(),
            n => format!("{n} new materialization(s) seen; none requested a run"),
        }));
    }
    outcome.cursor = Some(cursor.encode());
    Ok(outcome)
}

/// Call a multi-asset sensor's function once with what is new for each key; the cursor
/// moves as far as it advanced.
pub(super) async fn evaluate_multi_asset(
    sensor: &SensorEvaluationContext,
    watch: &AssetWatch,
    f: &MultiAssetSensorFn,
    events: Vec<EventRecord>,
) -> Result<TickOutcome, EvaluationError> {
    let cursor = Arc::new(Mutex::new(cursor_of(sensor.cursor())?));
    let ctx = MultiAssetSensorContext {
        sensor_name: sensor.sensor_name().to_owned(),
        evaluation_time: sensor.evaluation_time(),
        watched: watch.asset_keys.clone(),
        events: by_key(watch, events),
        cursor: Arc::clone(&cursor),
        resources: Arc::clone(&sensor.resources),
    };
    let mut outcome = f(ctx).await?;
    outcome.cursor = Some(lock(&cursor).encode());
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_never_move_back() {
        let key = AssetKey::parse("raw/orders").unwrap();
        let mut cursor = AssetCursor::parse(None).unwrap();
        assert_eq!(cursor.get(&key), None);
        cursor.advance(&key, 7);
        cursor.advance(&key, 3);
        assert_eq!(cursor.encode(), r#"{"raw/orders":7}"#);
        let read = AssetCursor::parse(Some(&cursor.encode())).unwrap();
        assert_eq!(read.get(&key), Some(7));
    }

    #[test]
    fn a_cursor_that_is_not_one_names_what_is_wrong() {
        let error = AssetCursor::parse(Some("42")).unwrap_err();
        assert_eq!(error.cursor, "42");
        assert!(error.to_string().contains("JSON object"), "{error}");
        let error = AssetCursor::parse(Some(r#"{"a//b": 1}"#)).unwrap_err();
        assert!(error.reason.contains("\"a//b\""), "{error}");
    }
}
