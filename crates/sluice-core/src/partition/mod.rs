//! Partitions: an asset or job split into slices (a day, a region, one uploaded dataset)
//! that are materialized and tracked one by one, as in Dagster.
//!
//! - [`PartitionsDefinition`]: static keys, time windows ([`TimeWindowPartitions`]),
//!   dynamic sets whose keys live in the instance's storage, and two-dimensional
//!   combinations of these ([`MultiPartitions`]).
//! - [`PartitionMapping`]: which partitions of an upstream asset a partition of a
//!   downstream one reads.
//! - [`PartitionsContext`]: what the keys depend on besides the definition: the time, and
//!   the keys of dynamic sets read from storage.
//!
//! A partitioned run carries its key as the `dagster/partition` tag.

mod mapping;
mod time_window;

use std::collections::{HashMap, HashSet};
use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use mapping::PartitionMapping;
pub use time_window::{Cadence, TimeWindow, TimeWindowPartitions, Windows};

/// The separator of the dimension keys in a multi-partition key (`2024-01-01|eu`).
pub const MULTI_KEY_SEPARATOR: char = '|';

/// How an asset or job is partitioned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PartitionsDefinition {
    /// A fixed list of keys.
    Static {
        /// The keys, in the order Dagster shows them.
        keys: Vec<String>,
    },
    /// One key per hour, day, week or month from a start date.
    TimeWindow(TimeWindowPartitions),
    /// A named set whose keys are added and deleted at runtime.
    Dynamic {
        /// The set's name, which its keys are stored under.
        name: String,
    },
    /// Two partitionings combined.
    Multi(MultiPartitions),
}

/// Two partitionings combined: each key is one key of each dimension, in the order of
/// the dimensions' names, joined by `|`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiPartitions {
    /// The dimensions, sorted by name.
    pub dimensions: Vec<PartitionDimension>,
}

/// One dimension of a [`MultiPartitions`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionDimension {
    /// The dimension's name (`date`, `region`).
    pub name: String,
    /// Its partitioning; not itself multi-partitioned.
    pub partitions: PartitionsDefinition,
}

impl PartitionsDefinition {
    /// A fixed list of keys (Dagster's `StaticPartitionsDefinition`).
    pub fn static_keys<I, S>(keys: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Static {
            keys: keys.into_iter().map(Into::into).collect(),
        }
    }

    /// One partition per hour from `start` (`2024-01-01` or `2024-01-01-06:00`).
    pub fn hourly(start: impl Into<String>) -> TimeWindowPartitions {
        TimeWindowPartitions::new(Cadence::Hourly, start)
    }

    /// One partition per day from `start` (`2024-01-01`).
    pub fn daily(start: impl Into<String>) -> TimeWindowPartitions {
        TimeWindowPartitions::new(Cadence::Daily, start)
    }

    /// One partition per week, starting on Sundays unless `day_offset` says otherwise.
    pub fn weekly(start: impl Into<String>) -> TimeWindowPartitions {
        TimeWindowPartitions::new(Cadence::Weekly, start)
    }

    /// One partition per month, starting on the 1st unless `day_offset` says otherwise.
    pub fn monthly(start: impl Into<String>) -> TimeWindowPartitions {
        TimeWindowPartitions::new(Cadence::Monthly, start)
    }

    /// The keys of the dynamic set `name`, kept in the instance's storage.
    pub fn dynamic(name: impl Into<String>) -> Self {
        Self::Dynamic { name: name.into() }
    }

    /// Two named dimensions; keys are `<key of the first name>|<key of the second>` with
    /// the names in alphabetical order.
    pub fn multi<I, S>(dimensions: I) -> Self
    where
        I: IntoIterator<Item = (S, PartitionsDefinition)>,
        S: Into<String>,
    {
        let mut dimensions: Vec<PartitionDimension> = dimensions
            .into_iter()
            .map(|(name, partitions)| PartitionDimension {
                name: name.into(),
                partitions,
            })
            .collect();
        dimensions.sort_by(|a, b| a.name.cmp(&b.name));
        Self::Multi(MultiPartitions { dimensions })
    }

    /// Checks the definition: settings in range, keys unique and well formed.
    pub fn validate(&self) -> Result<(), PartitionDefinitionError> {
        match self {
            Self::Static { keys } => {
                let mut seen = HashSet::with_capacity(keys.len());
                for key in keys {
                    check_key(key)?;
                    if !seen.insert(key.as_str()) {
                        return Err(PartitionDefinitionError::DuplicateStaticKey(key.clone()));
                    }
                }
                Ok(())
            }
            Self::TimeWindow(t) => t.resolve().map(drop),
            Self::Dynamic { name } => {
                if name.trim().is_empty() {
                    Err(PartitionDefinitionError::EmptyDynamicName)
                } else {
                    Ok(())
                }
            }
            Self::Multi(multi) => {
                if multi.dimensions.len() != 2 {
                    return Err(PartitionDefinitionError::MultiDimensions(
                        multi.dimensions.len(),
                    ));
                }
                if multi.dimensions[0].name == multi.dimensions[1].name {
                    return Err(PartitionDefinitionError::DuplicateDimension(
                        multi.dimensions[0].name.clone(),
                    ));
                }
                for dimension in &multi.dimensions {
                    if matches!(dimension.partitions, Self::Multi(_)) {
                        return Err(PartitionDefinitionError::NestedMulti(
                            dimension.name.clone(),
                        ));
                    }
                    dimension.partitions.validate()?;
                }
                Ok(())
            }
        }
    }

    /// The names of the dynamic sets the keys come from, to read before asking for keys.
    pub fn dynamic_names(&self) -> Vec<&str> {
        match self {
            Self::Dynamic { name } => vec![name],
            Self::Multi(multi) => multi
                .dimensions
                .iter()
                .flat_map(|d| d.partitions.dynamic_names())
                .collect(),
            _ => Vec::new(),
        }
    }

    /// Every key, in order (oldest first for time windows).
    pub fn keys(&self, ctx: &PartitionsContext) -> Result<Vec<String>, PartitionError> {
        match self {
            Self::Static { keys } => Ok(keys.clone()),
            Self::TimeWindow(t) => {
                let windows = t.resolve()?;
                Ok(windows
                    .all(ctx.now)
                    .into_iter()
                    .map(|w| windows.key(w.start))
                    .collect())
            }
            Self::Dynamic { name } => Ok(ctx.dynamic_keys(name)?.to_vec()),
            Self::Multi(multi) => {
                let [first, second] = multi.pair()?;
                let outer = first.partitions.keys(ctx)?;
                let inner = second.partitions.keys(ctx)?;
                let mut keys = Vec::with_capacity(outer.len() * inner.len());
                for a in &outer {
                    for b in &inner {
                        keys.push(format!("{a}{MULTI_KEY_SEPARATOR}{b}"));
                    }
                }
                Ok(keys)
            }
        }
    }

    /// Whether `key` is one of the keys, with an error naming the key and the
    /// definition when it is not.
    pub fn check_key(&self, key: &str, ctx: &PartitionsContext) -> Result<(), PartitionError> {
        let exists = match self {
            Self::Static { keys } => keys.iter().any(|k| k == key),
            Self::TimeWindow(t) => {
                let windows = t.resolve()?;
                windows.window_of_key(key).is_some_and(|window| {
                    let all = windows.all(ctx.now);
                    all.first().is_some_and(|first| window.start >= first.start)
                        && all.last().is_some_and(|last| window.start <= last.start)
                })
            }
            Self::Dynamic { name } => ctx.dynamic_keys(name)?.iter().any(|k| k == key),
            Self::Multi(multi) => {
                let [first, second] = multi.pair()?;
                match key.split_once(MULTI_KEY_SEPARATOR) {
                    Some((a, b)) => {
                        first.partitions.check_key(a, ctx).is_ok()
                            && second.partitions.check_key(b, ctx).is_ok()
                    }
                    None => false,
                }
            }
        };
        if exists {
            Ok(())
        } else {
            Err(PartitionError::UnknownKey {
                key: key.to_owned(),
                definition: self.to_string(),
            })
        }
    }

    /// The time window of partition `key`, when the partitioning (or one of its two
    /// dimensions) is by time.
    pub fn time_window(&self, key: &str) -> Option<TimeWindow> {
        match self {
            Self::TimeWindow(t) => t.resolve().ok()?.window_of_key(key),
            Self::Multi(multi) => {
                let (a, b) = key.split_once(MULTI_KEY_SEPARATOR)?;
                let [first, second] = multi.pair().ok()?;
                first
                    .partitions
                    .time_window(a)
                    .or_else(|| second.partitions.time_window(b))
            }
            _ => None,
        }
    }

    /// The keys from `start` to `end`, both included, in the definition's order.
    pub fn key_range(
        &self,
        start: &str,
        end: &str,
        ctx: &PartitionsContext,
    ) -> Result<Vec<String>, PartitionError> {
        let keys = self.keys(ctx)?;
        let position = |key: &str| {
            keys.iter()
                .position(|k| k == key)
                .ok_or_else(|| PartitionError::UnknownKey {
                    key: key.to_owned(),
                    definition: self.to_string(),
                })
        };
        let (from, to) = (position(start)?, position(end)?);
        if from > to {
            return Err(PartitionError::ReversedRange {
                start: start.to_owned(),
                end: end.to_owned(),
            });
        }
        Ok(keys[from..=to].to_vec())
    }

    /// Dagster's name for the kind of partitioning, as GraphQL shows it.
    pub fn kind_name(&self) -> &'static str {
        match self {
            Self::Static { .. } => "STATIC",
            Self::TimeWindow(_) => "TIME_WINDOW",
            Self::Dynamic { .. } => "DYNAMIC",
            Self::Multi(_) => "MULTIPARTITIONED",
        }
    }

    /// The time-window partitioning, or `None` for another kind.
    pub fn as_time_window(&self) -> Option<&TimeWindowPartitions> {
        match self {
            Self::TimeWindow(t) => Some(t),
            _ => None,
        }
    }
}

impl MultiPartitions {
    fn pair(&self) -> Result<[&PartitionDimension; 2], PartitionDefinitionError> {
        match self.dimensions.as_slice() {
            [a, b] => Ok([a, b]),
            other => Err(PartitionDefinitionError::MultiDimensions(other.len())),
        }
    }
}

impl From<TimeWindowPartitions> for PartitionsDefinition {
    fn from(t: TimeWindowPartitions) -> Self {
        Self::TimeWindow(t)
    }
}

/// How Dagster describes a partitioning: `'a', 'b'`, `Daily, starting 2024-01-01 UTC.`,
/// `Dynamic partitions: "datasets"`, and both dimensions for a multi-partitioning.
impl fmt::Display for PartitionsDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static { keys } => {
                for (i, key) in keys.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "'{key}'")?;
                }
                Ok(())
            }
            Self::TimeWindow(t) => t.fmt(f),
            Self::Dynamic { name } => write!(f, "Dynamic partitions: \"{name}\""),
            Self::Multi(multi) => {
                f.write_str("Multi-partitioned, with dimensions: \n")?;
                for (i, d) in multi.dimensions.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" \n")?;
                    }
                    write!(f, "{}: {}", capitalized(&d.name), d.partitions)?;
                }
                Ok(())
            }
        }
    }
}

fn capitalized(name: &str) -> String {
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A partition key must be non-empty, and must not contain the characters that
/// separate keys in multi-partition keys and key ranges.
pub fn check_key(key: &str) -> Result<(), PartitionDefinitionError> {
    const FORBIDDEN: &[char] = &[MULTI_KEY_SEPARATOR, '[', ']', ',', '\n', '\r', '\t'];
    if key.is_empty() {
        return Err(PartitionDefinitionError::InvalidKey {
            key: key.to_owned(),
            reason: "it is empty".into(),
        });
    }
    if let Some(c) = key.chars().find(|c| FORBIDDEN.contains(c)) {
        return Err(PartitionDefinitionError::InvalidKey {
            key: key.to_owned(),
            reason: format!("it contains {c:?}"),
        });
    }
    Ok(())
}

/// Keys in their partitioning's order, with the position of each: finds the keys of a
/// range in constant time, for the runs of a backfill or a partition set.
#[derive(Debug, Clone)]
pub struct PartitionIndex<'a> {
    keys: &'a [String],
    position: HashMap<&'a str, usize>,
}

impl<'a> PartitionIndex<'a> {
    /// An index of `keys`, which must be in their partitioning's order.
    pub fn new(keys: &'a [String]) -> Self {
        let position = keys
            .iter()
            .enumerate()
            .map(|(i, k)| (k.as_str(), i))
            .collect();
        Self { keys, position }
    }

    /// Where `key` is in the order; `None` when it is not a key.
    pub fn position(&self, key: &str) -> Option<usize> {
        self.position.get(key).copied()
    }

    /// The keys from `start` to `end`, both included; `None` when either is unknown or
    /// `end` comes first.
    pub fn range(&self, start: &str, end: &str) -> Option<&'a [String]> {
        let (from, to) = (self.position(start)?, self.position(end)?);
        self.keys.get(from..=to)
    }
}

/// What partition keys depend on besides their definition: the current time (time
/// windows end at the last complete one) and the keys of dynamic sets.
#[derive(Debug, Clone)]
pub struct PartitionsContext {
    /// The time the keys are computed at: the last time window is the last one complete
    /// by then.
    pub now: DateTime<Utc>,
    dynamic: HashMap<String, Vec<String>>,
}

impl PartitionsContext {
    /// A context at `now`, with no dynamic set loaded yet.
    pub fn at(now: DateTime<Utc>) -> Self {
        Self {
            now,
            dynamic: HashMap::new(),
        }
    }

    /// The keys of dynamic set `name`, as read from storage.
    pub fn with_dynamic(mut self, name: impl Into<String>, keys: Vec<String>) -> Self {
        self.dynamic.insert(name.into(), keys);
        self
    }

    /// The keys of dynamic set `name`; an error if they were not loaded with
    /// [`with_dynamic`](Self::with_dynamic).
    pub fn dynamic_keys(&self, name: &str) -> Result<&[String], PartitionError> {
        self.dynamic
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| PartitionError::DynamicNotLoaded(name.to_owned()))
    }
}

/// A partitions definition that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionDefinitionError {
    /// A time-window partitioning with a bad start, end, offset or format.
    #[error("time-window partitions \"{definition}\": {reason}")]
    TimeWindow {
        /// The time-window partitioning, described.
        definition: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A static key listed twice.
    #[error("static partition key \"{0}\" is listed twice")]
    DuplicateStaticKey(String),
    /// A key that is empty or has a character keys cannot have (`|`, `[`, `]`, `,`, or a
    /// line break or tab).
    #[error("partition key {key:?} is invalid: {reason}")]
    InvalidKey {
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A dynamic partitioning with an empty name.
    #[error("a dynamic partitions definition needs a name")]
    EmptyDynamicName,
    /// A multi-partitioning without exactly two dimensions (it has this many).
    #[error("multi-partitions need exactly two dimensions, not {0}")]
    MultiDimensions(usize),
    /// Two dimensions of a multi-partitioning share this name.
    #[error("multi-partitions dimension \"{0}\" is named twice")]
    DuplicateDimension(String),
    /// A dimension that is itself multi-partitioned.
    #[error("multi-partitions dimension \"{0}\" is itself multi-partitioned")]
    NestedMulti(String),
}

/// A partition that cannot be found or used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    /// A key the partitioning does not have (now).
    #[error("partition \"{key}\" does not exist in {definition}")]
    UnknownKey {
        /// The key.
        key: String,
        /// The partitioning, described.
        definition: String,
    },
    /// A range whose start comes after its end.
    #[error("partition range starts at \"{start}\", after its end \"{end}\"")]
    ReversedRange {
        /// The range's first key.
        start: String,
        /// The range's last key.
        end: String,
    },
    /// A run of partitioned assets names no partition; holds the partitioning, described.
    #[error("the run has no partition (tag dagster/partition), but the asset is partitioned: {0}")]
    Missing(String),
    /// The run's partitions, as [`RunPartitions`](crate::run::RunPartitions) shows them.
    #[error("the run's assets are not partitioned, but it names {0}")]
    NotPartitioned(String),
    /// The partitioned assets of one run have different partitionings (described).
    #[error("the assets of one run must share a partitioning, not {}", .0.join("; "))]
    Mixed(Vec<String>),
    /// A run's partition tags that name neither one key nor a whole range (the tags given).
    #[error("a run names one partition (dagster/partition) or a range (both dagster/asset_partition_range_start and _end), not tags {}", .0.join(", "))]
    RunTags(Vec<String>),
    /// The keys of this dynamic set were not loaded into the [`PartitionsContext`].
    #[error("the keys of dynamic partitions \"{0}\" were not read from storage")]
    DynamicNotLoaded(String),
    /// A partition mapping that cannot map a downstream partition to upstream ones.
    #[error("partition mapping {mapping} cannot map from {downstream} to {upstream}: {reason}")]
    Mapping {
        /// The mapping, described.
        mapping: String,
        /// The downstream partition (or `an unpartitioned asset`).
        downstream: String,
        /// The upstream partitioning, described.
        upstream: String,
        /// Why it cannot.
        reason: String,
    },
    /// The partitions definition itself is not valid.
    #[error(transparent)]
    Definition(#[from] PartitionDefinitionError),
}
