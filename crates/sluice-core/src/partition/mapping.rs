//! Partition mappings: which partitions of an upstream asset one partition of a
//! downstream asset depends on, when the two are partitioned differently.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{PartitionError, PartitionsContext, PartitionsDefinition};

/// Which upstream partitions a downstream partition reads. Without one, Dagster's
/// defaults apply ([`PartitionMapping::default_for`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PartitionMapping {
    /// The upstream partition with the same key.
    Identity,
    /// The upstream partitions whose windows overlap the downstream window, its start and
    /// end first moved by whole downstream windows (`-1, -1`: the previous window).
    TimeWindow {
        /// Whole windows to move the start by (negative: earlier).
        start_offset: i64,
        /// Whole windows to move the end by (negative: earlier).
        end_offset: i64,
    },
    /// Every upstream partition (a downstream that aggregates them all).
    AllPartitions,
    /// The newest upstream partition.
    LastPartition,
    /// An explicit table: for each upstream key, the downstream keys that read it.
    Static {
        /// For each upstream key, the downstream keys that read it.
        downstream_by_upstream: BTreeMap<String, Vec<String>>,
    },
}

impl PartitionMapping {
    /// The previous window: a daily asset that reads yesterday's partition.
    pub fn time_window(start_offset: i64, end_offset: i64) -> Self {
        Self::TimeWindow {
            start_offset,
            end_offset,
        }
    }

    /// A static table, given as (upstream key, downstream keys) pairs.
    pub fn static_mapping<I, U, D, S>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (U, D)>,
        U: Into<String>,
        D: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::Static {
            downstream_by_upstream: pairs
                .into_iter()
                .map(|(u, ds)| (u.into(), ds.into_iter().map(Into::into).collect()))
                .collect(),
        }
    }

    /// The mapping used when none is declared: identity between equal partitionings,
    /// the overlapping windows between two time partitionings, and every upstream
    /// partition for an unpartitioned downstream asset.
    pub fn default_for(
        upstream: &PartitionsDefinition,
        downstream: Option<&PartitionsDefinition>,
    ) -> Self {
        match downstream {
            None => Self::AllPartitions,
            Some(d) if d == upstream => Self::Identity,
            Some(PartitionsDefinition::TimeWindow(_))
                if matches!(upstream, PartitionsDefinition::TimeWindow(_)) =>
            {
                Self::time_window(0, 0)
            }
            Some(_) => Self::Identity,
        }
    }

    /// Whether the mapping can apply between these partitionings at all, as a reason
    /// when it cannot.
    pub fn check(
        &self,
        upstream: &PartitionsDefinition,
        downstream: Option<&PartitionsDefinition>,
    ) -> Result<(), String> {
        match (self, downstream) {
            (Self::Identity | Self::TimeWindow { .. } | Self::Static { .. }, None) => {
                Err("the downstream asset is not partitioned".into())
            }
            (Self::TimeWindow { .. }, Some(d))
                if d.as_time_window().is_none() || upstream.as_time_window().is_none() =>
            {
                Err("both assets must be partitioned by time windows".into())
            }
            (Self::Identity, Some(d)) if d.kind_name() != upstream.kind_name() => Err(format!(
                "identity needs the same kind of partitions, not {} upstream and {} downstream",
                upstream.kind_name(),
                d.kind_name()
            )),
            (Self::Static { .. }, _)
                if !matches!(upstream, PartitionsDefinition::Static { .. }) =>
            {
                Err("a static mapping needs static upstream partitions".into())
            }
            (
                Self::Static {
                    downstream_by_upstream,
                },
                _,
            ) => {
                let PartitionsDefinition::Static { keys } = upstream else {
                    unreachable!("checked above");
                };
                match downstream_by_upstream
                    .keys()
                    .find(|k| !keys.iter().any(|u| u == *k))
                {
                    Some(unknown) => Err(format!(
                        "upstream key \"{unknown}\" is not one of the upstream partitions"
                    )),
                    None => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// The upstream keys that partition `downstream_key` of `downstream` reads (or that
    /// an unpartitioned downstream reads, with `None`), in upstream order.
    pub fn upstream_keys(
        &self,
        downstream: Option<(&PartitionsDefinition, &str)>,
        upstream: &PartitionsDefinition,
        ctx: &PartitionsContext,
    ) -> Result<Vec<String>, PartitionError> {
        let fail = |reason: String| PartitionError::Mapping {
            mapping: self.to_string(),
            downstream: downstream.map_or_else(
                || "an unpartitioned asset".to_owned(),
                |(_, key)| format!("partition \"{key}\""),
            ),
            upstream: upstream.to_string(),
            reason,
        };
        self.check(upstream, downstream.map(|(d, _)| d))
            .map_err(fail)?;
        match self {
            Self::AllPartitions => upstream.keys(ctx),
            Self::LastPartition => Ok(upstream.keys(ctx)?.pop().into_iter().collect()),
            Self::Identity => {
                let (_, key) = downstream.expect("checked: the downstream is partitioned");
                upstream.check_key(key, ctx)?;
                Ok(vec![key.to_owned()])
            }
            Self::Static {
                downstream_by_upstream,
            } => {
                let (_, key) = downstream.expect("checked: the downstream is partitioned");
                Ok(downstream_by_upstream
                    .iter()
                    .filter(|(_, ds)| ds.iter().any(|d| d == key))
                    .map(|(u, _)| u.clone())
                    .collect())
            }
            Self::TimeWindow {
                start_offset,
                end_offset,
            } => {
                let (d, key) = downstream.expect("checked: the downstream is partitioned");
                let (Some(d), Some(u)) = (d.as_time_window(), upstream.as_time_window()) else {
                    unreachable!("checked: both are time windows");
                };
                let (d, u) = (d.resolve()?, u.resolve()?);
                let windows = d.all(ctx.now);
                let Some(i) = windows.iter().position(|w| d.key(w.start) == key) else {
                    return Err(fail(format!(
                        "downstream partition \"{key}\" does not exist"
                    )));
                };
                let shifted = |offset: i64| {
                    i64::try_from(i)
                        .ok()
                        .and_then(|i| i.checked_add(offset))
                        .and_then(|j| usize::try_from(j).ok())
                        .and_then(|j| windows.get(j))
                };
                // Offsets that reach outside the downstream partitions read nothing.
                let (Some(from), Some(to)) = (shifted(*start_offset), shifted(*end_offset)) else {
                    return Ok(Vec::new());
                };
                let (start, end) = (from.start, to.end);
                let upstream_windows = u.all(ctx.now);
                let first = upstream_windows.partition_point(|w| w.end <= start);
                Ok(upstream_windows[first..]
                    .iter()
                    .take_while(|w| w.start < end)
                    .map(|w| u.key(w.start))
                    .collect())
            }
        }
    }
}

/// Dagster's class names, as GraphQL shows a dependency's mapping.
impl fmt::Display for PartitionMapping {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Identity => f.write_str("IdentityPartitionMapping"),
            Self::TimeWindow {
                start_offset,
                end_offset,
            } => write!(
                f,
                "TimeWindowPartitionMapping(start_offset={start_offset}, end_offset={end_offset})"
            ),
            Self::AllPartitions => f.write_str("AllPartitionMapping"),
            Self::LastPartition => f.write_str("LastPartitionMapping"),
            Self::Static { .. } => f.write_str("StaticPartitionMapping"),
        }
    }
}
