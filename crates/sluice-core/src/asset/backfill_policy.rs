//! [`BackfillPolicy`]: how a backfill groups an asset's partitions into runs.

use std::fmt;

use serde::{Deserialize, Serialize};

/// How many partitions of an asset one backfill run may materialize (Dagster's
/// `BackfillPolicy`). An asset without one is backfilled one partition per run.
///
/// A run over several partitions gives each step the range
/// ([`OpContext::partition_keys`](crate::op::OpContext::partition_keys),
/// [`OpContext::partition_time_window`](crate::op::OpContext::partition_time_window)
/// spanning it) and records a materialization of every partition in it. Its asset
/// outputs are stored per partition, so such an asset writes its data itself and
/// returns `()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackfillPolicy {
    /// At most this many partitions per run; `None`: all of them in one run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_partitions_per_run: Option<usize>,
}

impl BackfillPolicy {
    /// Every partition of a backfill in one run.
    pub fn single_run() -> Self {
        Self {
            max_partitions_per_run: None,
        }
    }

    /// Runs of at most `max_partitions_per_run` partitions (at least 1).
    pub fn multi_run(max_partitions_per_run: usize) -> Self {
        Self {
            max_partitions_per_run: Some(max_partitions_per_run.max(1)),
        }
    }

    /// The policy of a backfill of several assets: the strictest of theirs, and one
    /// partition per run when any of them has no policy.
    pub fn combined<'a>(policies: impl IntoIterator<Item = Option<&'a Self>>) -> Option<Self> {
        let mut combined = Self::single_run();
        for policy in policies {
            let limit = policy?.max_partitions_per_run;
            combined.max_partitions_per_run = match (combined.max_partitions_per_run, limit) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Some(combined)
    }
}

impl fmt::Display for BackfillPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.max_partitions_per_run {
            None => f.write_str("all partitions in one run"),
            Some(1) => f.write_str("one partition per run"),
            Some(n) => write!(f, "at most {n} partitions per run"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_combined_policy_is_the_strictest_and_needs_every_asset_to_have_one() {
        let single = BackfillPolicy::single_run();
        let ten = BackfillPolicy::multi_run(10);
        let three = BackfillPolicy::multi_run(3);
        assert_eq!(
            BackfillPolicy::combined([Some(&single), Some(&single)]),
            Some(single)
        );
        assert_eq!(
            BackfillPolicy::combined([Some(&single), Some(&ten), Some(&three)]),
            Some(three)
        );
        assert_eq!(BackfillPolicy::combined([Some(&ten), None]), None);
        assert_eq!(BackfillPolicy::multi_run(0), BackfillPolicy::multi_run(1));
        assert_eq!(ten.to_string(), "at most 10 partitions per run");
    }
}
