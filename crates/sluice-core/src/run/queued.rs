//! The one way to make a new QUEUED run: whoever asks for it (a launch, a re-execution, a
//! schedule or sensor tick, a backfill), its tags are laid down in one order and by one
//! rule.
//!
//! # Tags and who may set them
//!
//! A run's tags come from, lowest precedence first:
//!
//! 1. its **base**: the job's own tags, or, for a re-execution that keeps them, the
//!    parent run's tags (without those that place the parent in its run group);
//! 2. the **request**: tags a person, a client or user code asked for
//!    ([`QueuedRunBuilder::request_tags`]), laid over the base;
//! 3. the **system tags** of its [`RunOrigin`] (`dagster/code_location`,
//!    `dagster/parent_run_id`, `dagster/schedule_name`, `dagster/backfill`, ...), which
//!    always win.
//!
//! A request may not set a system tag: [`QueuedRunBuilder::request_tags`] refuses one
//! with [`RunTagError::SystemTag`] naming it, rather than letting it be overridden in
//! silence. Tags a user is meant to set, such as `dagster/partition` or
//! `dagster/priority`, are not system tags.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{
    CODE_LOCATION_TAG, NewRun, PARENT_RUN_ID_TAG, RESUME_RETRY_TAG, ROOT_RUN_ID_TAG, RUN_KEY_TAG,
    RunStatus, SCHEDULE_NAME_TAG, SENSOR_NAME_TAG, TICK_TAG,
};
use crate::events::{EventType, LogLevel, RunEvent};

/// The backfill a run belongs to.
pub const BACKFILL_ID_TAG: &str = "dagster/backfill";
/// The backfill a backfill re-executes (on the runs of the new one).
pub const PARENT_BACKFILL_TAG: &str = "dagster/parent_backfill_id";
/// Why a run failed, as Dagster records it.
pub const FAILURE_REASON_TAG: &str = "dagster/failure_reason";

/// The tags Sluice sets on a run itself, from where the run comes from. No request may
/// set them.
pub const SYSTEM_TAGS: [&str; 11] = [
    CODE_LOCATION_TAG,
    PARENT_RUN_ID_TAG,
    ROOT_RUN_ID_TAG,
    RESUME_RETRY_TAG,
    SCHEDULE_NAME_TAG,
    SENSOR_NAME_TAG,
    RUN_KEY_TAG,
    TICK_TAG,
    BACKFILL_ID_TAG,
    PARENT_BACKFILL_TAG,
    FAILURE_REASON_TAG,
];

/// Tags that place a run in its run group; a re-execution does not inherit them from its
/// parent.
const RUN_GROUP_TAGS: [&str; 4] = [
    PARENT_RUN_ID_TAG,
    ROOT_RUN_ID_TAG,
    RESUME_RETRY_TAG,
    FAILURE_REASON_TAG,
];

/// Whether `key` is one of the [`SYSTEM_TAGS`].
pub fn is_system_tag(key: &str) -> bool {
    SYSTEM_TAGS.contains(&key)
}

/// The most tags one request may give a run.
pub const MAX_REQUEST_TAGS: usize = 100;
/// The longest tag key, in bytes.
pub const MAX_TAG_KEY_BYTES: usize = 255;
/// The longest tag value, in bytes. Tags are shown in every list of runs: larger data
/// belongs in run config or metadata.
pub const MAX_TAG_VALUE_BYTES: usize = 4096;

/// A request's tags that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RunTagError {
    /// More tags than [`MAX_REQUEST_TAGS`].
    #[error("{count} tags were given; a run takes at most {MAX_REQUEST_TAGS} from a request")]
    TooMany {
        /// How many were given.
        count: usize,
    },
    /// An empty tag key.
    #[error("a tag key is empty")]
    EmptyKey,
    /// A key longer than [`MAX_TAG_KEY_BYTES`].
    #[error(
        "tag key \"{key}…\" is {bytes} bytes long; a tag key may be at most {MAX_TAG_KEY_BYTES}"
    )]
    KeyTooLong {
        /// The key's first characters.
        key: String,
        /// Its length.
        bytes: usize,
    },
    /// A value longer than [`MAX_TAG_VALUE_BYTES`].
    #[error(
        "the value of tag \"{key}\" is {bytes} bytes long; a tag value may be at most \
         {MAX_TAG_VALUE_BYTES} (put larger data in run config)"
    )]
    ValueTooLong {
        /// The tag.
        key: String,
        /// The value's length.
        bytes: usize,
    },
    /// The request sets a tag that Sluice sets itself.
    #[error(
        "tag \"{tag}\" is set by Sluice from where the run comes from and cannot be given \
         with a request; remove it (Sluice's own tags are: {})",
        SYSTEM_TAGS.join(", ")
    )]
    SystemTag {
        /// The tag.
        tag: String,
    },
}

/// Check `tags`, given with a request: no system tag, and within the limits on their
/// number and size.
pub fn check_request_tags<'a>(
    tags: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Result<(), RunTagError> {
    let mut count = 0;
    for (key, value) in tags {
        count += 1;
        check_tag_size(key, value)?;
        if is_system_tag(key) {
            return Err(RunTagError::SystemTag { tag: key.clone() });
        }
    }
    check_tag_count(count)
}

fn check_tag_count(count: usize) -> Result<(), RunTagError> {
    if count > MAX_REQUEST_TAGS {
        return Err(RunTagError::TooMany { count });
    }
    Ok(())
}

/// Check one tag's key and value against the size limits.
fn check_tag_size(key: &str, value: &str) -> Result<(), RunTagError> {
    if key.is_empty() {
        return Err(RunTagError::EmptyKey);
    }
    if key.len() > MAX_TAG_KEY_BYTES {
        return Err(RunTagError::KeyTooLong {
            key: key.chars().take(40).collect(),
            bytes: key.len(),
        });
    }
    if value.len() > MAX_TAG_VALUE_BYTES {
        return Err(RunTagError::ValueTooLong {
            key: key.to_owned(),
            bytes: value.len(),
        });
    }
    Ok(())
}

/// Where a new run comes from; it decides the run's system tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunOrigin {
    /// Launched by a person or a client (GraphQL `launchRun`, the UI's launchpad).
    Launch,
    /// A re-execution of `parent_run_id`, whose run group starts at `root_run_id`.
    Reexecution {
        /// The run re-executed.
        parent_run_id: String,
        /// The first run of the group.
        root_run_id: String,
        /// Whether only the steps that did not succeed run (`dagster/is_resume_retry`).
        from_failure: bool,
    },
    /// Requested by a tick of a schedule.
    Schedule {
        /// The schedule.
        name: String,
        /// The tick's id.
        tick_id: i64,
        /// The request's run key, if any.
        run_key: Option<String>,
    },
    /// Requested by a tick of a sensor.
    Sensor {
        /// The sensor.
        name: String,
        /// The tick's id.
        tick_id: i64,
        /// The request's run key, if any.
        run_key: Option<String>,
    },
    /// One of the runs of a backfill.
    Backfill {
        /// The backfill's id.
        backfill_id: String,
    },
}

impl RunOrigin {
    /// The system tags this origin gives a run of `location`.
    fn system_tags(&self, location: &str) -> Vec<(&'static str, String)> {
        let mut tags = vec![(CODE_LOCATION_TAG, location.to_owned())];
        match self {
            Self::Launch => {}
            Self::Reexecution {
                parent_run_id,
                root_run_id,
                from_failure,
            } => {
                tags.push((PARENT_RUN_ID_TAG, parent_run_id.clone()));
                tags.push((ROOT_RUN_ID_TAG, root_run_id.clone()));
                if *from_failure {
                    tags.push((RESUME_RETRY_TAG, "true".to_owned()));
                }
            }
            Self::Schedule {
                name,
                tick_id,
                run_key,
            }
            | Self::Sensor {
                name,
                tick_id,
                run_key,
            } => {
                let name_tag = if matches!(self, Self::Schedule { .. }) {
                    SCHEDULE_NAME_TAG
                } else {
                    SENSOR_NAME_TAG
                };
                tags.push((name_tag, name.clone()));
                tags.push((TICK_TAG, tick_id.to_string()));
                if let Some(key) = run_key {
                    tags.push((RUN_KEY_TAG, key.clone()));
                }
            }
            Self::Backfill { backfill_id } => tags.push((BACKFILL_ID_TAG, backfill_id.clone())),
        }
        tags
    }
}

/// Builds a QUEUED [`NewRun`]; see the [module docs](self) for the tag rule.
#[derive(Debug, Clone)]
#[must_use = "a run builder does nothing until `build`"]
pub struct QueuedRunBuilder {
    run: NewRun,
    location: String,
    origin: RunOrigin,
}

impl NewRun {
    /// A QUEUED run of `job` in code location `location`, coming from `origin`.
    pub fn queued(
        job: impl Into<String>,
        location: impl Into<String>,
        origin: RunOrigin,
    ) -> QueuedRunBuilder {
        let location = location.into();
        let (parent_run_id, root_run_id) = match &origin {
            RunOrigin::Reexecution {
                parent_run_id,
                root_run_id,
                ..
            } => (Some(parent_run_id.clone()), Some(root_run_id.clone())),
            _ => (None, None),
        };
        QueuedRunBuilder {
            run: NewRun {
                location_name: Some(location.clone()),
                status: RunStatus::Queued,
                parent_run_id,
                root_run_id,
                ..NewRun::new(job)
            },
            location,
            origin,
        }
    }

    /// The RUN_ENQUEUED event that is stored with a QUEUED run (in the same write).
    pub fn enqueued_event(&self) -> RunEvent {
        RunEvent::new(&self.run_id, EventType::RunEnqueued, "").level(LogLevel::Info)
    }
}

impl QueuedRunBuilder {
    /// The tags the run starts from: the job's tags (or a backfill's, which hold them).
    pub fn base_tags(mut self, tags: &BTreeMap<String, String>) -> Self {
        self.run.tags = tags.clone();
        self
    }

    /// The tags the run starts from: a parent run's, without those that place the parent
    /// in its run group (the origin gives the new run its own).
    pub fn inherited_tags(mut self, tags: &BTreeMap<String, String>) -> Self {
        self.run.tags = tags
            .iter()
            .filter(|(key, _)| !RUN_GROUP_TAGS.contains(&key.as_str()))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        self
    }

    /// Tags asked for with the request, laid over the base tags. A system tag among
    /// them is refused ([`RunTagError::SystemTag`]), unless it only repeats the value the
    /// run's origin gives it (Dagster's clients send a re-execution's parent and root run
    /// ids both ways); so are too many tags, or tags too large.
    pub fn request_tags(
        mut self,
        tags: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, RunTagError> {
        let system = self.origin.system_tags(&self.location);
        let mut count = 0;
        for (key, value) in tags {
            count += 1;
            check_tag_count(count)?;
            check_tag_size(&key, &value)?;
            if is_system_tag(&key) {
                if system.iter().any(|(k, v)| *k == key && *v == value) {
                    continue;
                }
                return Err(RunTagError::SystemTag { tag: key });
            }
            self.run.tags.insert(key, value);
        }
        Ok(self)
    }

    /// The run config.
    pub fn run_config(mut self, config: Value) -> Self {
        self.run.run_config = config;
        self
    }

    /// The steps to execute (`None`: all).
    pub fn step_keys(mut self, steps: Option<Vec<String>>) -> Self {
        self.run.step_keys_to_execute = steps;
        self
    }

    /// The steps the run will execute (`None`: all).
    pub fn step_keys_to_execute(&self) -> Option<&[String]> {
        self.run.step_keys_to_execute.as_deref()
    }

    /// The run's tags as they will be stored (system tags included).
    pub fn tags(&self) -> BTreeMap<String, String> {
        let mut tags = self.run.tags.clone();
        for (key, value) in self.origin.system_tags(&self.location) {
            tags.insert(key.to_owned(), value);
        }
        tags
    }

    /// The run, with its system tags in place.
    pub fn build(mut self) -> NewRun {
        self.run.tags = self.tags();
        self.run
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn system_tags_win_over_the_base_and_requests_may_not_set_them() {
        let job = tags(&[
            ("team", "data"),
            ("owner", "a"),
            (CODE_LOCATION_TAG, "stale"),
        ]);
        let run = NewRun::queued("job", "demo", RunOrigin::Launch)
            .base_tags(&job)
            .request_tags([("owner".to_owned(), "b".to_owned())])
            .unwrap()
            .build();
        assert_eq!(run.status, RunStatus::Queued);
        assert_eq!(run.location_name.as_deref(), Some("demo"));
        assert_eq!(
            run.tags,
            tags(&[
                ("team", "data"),
                ("owner", "b"),
                (CODE_LOCATION_TAG, "demo")
            ])
        );

        for system in SYSTEM_TAGS {
            let refused = NewRun::queued("job", "demo", RunOrigin::Launch)
                .request_tags([(system.to_owned(), "x".to_owned())])
                .unwrap_err();
            assert_eq!(
                refused,
                RunTagError::SystemTag {
                    tag: system.to_owned()
                }
            );
            assert!(refused.to_string().contains(system), "{refused}");
        }
        // Repeating what the origin sets is not an attempt to change it.
        let origin = RunOrigin::Reexecution {
            parent_run_id: "p".into(),
            root_run_id: "r".into(),
            from_failure: false,
        };
        let same = [(PARENT_RUN_ID_TAG.to_owned(), "p".to_owned())];
        let run = NewRun::queued("job", "demo", origin.clone())
            .request_tags(same)
            .unwrap()
            .build();
        assert_eq!(run.tags[PARENT_RUN_ID_TAG], "p");
        let other = [(PARENT_RUN_ID_TAG.to_owned(), "q".to_owned())];
        assert!(
            NewRun::queued("job", "demo", origin)
                .request_tags(other)
                .is_err()
        );
        // Tags a user is meant to set are not system tags.
        for user in [super::super::PARTITION_TAG, super::super::PRIORITY_TAG] {
            assert!(!is_system_tag(user));
        }
    }

    #[test]
    fn a_reexecution_inherits_its_parents_tags_but_not_its_place_in_the_group() {
        let parent = tags(&[
            ("team", "data"),
            (CODE_LOCATION_TAG, "demo"),
            (PARENT_RUN_ID_TAG, "grandparent"),
            (ROOT_RUN_ID_TAG, "root"),
            (RESUME_RETRY_TAG, "true"),
            (FAILURE_REASON_TAG, "STEP_FAILURE"),
        ]);
        let origin = RunOrigin::Reexecution {
            parent_run_id: "parent".into(),
            root_run_id: "root".into(),
            from_failure: false,
        };
        let run = NewRun::queued("job", "demo", origin)
            .inherited_tags(&parent)
            .build();
        assert_eq!(run.parent_run_id.as_deref(), Some("parent"));
        assert_eq!(run.root_run_id.as_deref(), Some("root"));
        assert_eq!(
            run.tags,
            tags(&[
                ("team", "data"),
                (CODE_LOCATION_TAG, "demo"),
                (PARENT_RUN_ID_TAG, "parent"),
                (ROOT_RUN_ID_TAG, "root"),
            ])
        );
    }

    #[test]
    fn ticks_and_backfills_tag_their_runs() {
        let sensor = RunOrigin::Sensor {
            name: "s".into(),
            tick_id: 7,
            run_key: Some("k".into()),
        };
        let run = NewRun::queued("job", "demo", sensor).build();
        assert_eq!(
            run.tags,
            tags(&[
                (CODE_LOCATION_TAG, "demo"),
                (SENSOR_NAME_TAG, "s"),
                (TICK_TAG, "7"),
                (RUN_KEY_TAG, "k"),
            ])
        );
        let backfill = RunOrigin::Backfill {
            backfill_id: "b1".into(),
        };
        let run = NewRun::queued("job", "demo", backfill).build();
        assert_eq!(run.tags[BACKFILL_ID_TAG], "b1");
        assert_eq!(run.enqueued_event().event_type, EventType::RunEnqueued);
    }

    #[test]
    fn requests_are_held_to_the_tag_limits() {
        let launch = || NewRun::queued("job", "demo", RunOrigin::Launch);
        let big = "x".repeat(MAX_TAG_VALUE_BYTES + 1);
        let error = launch()
            .request_tags([("note".to_owned(), big.clone())])
            .unwrap_err();
        assert_eq!(
            error,
            RunTagError::ValueTooLong {
                key: "note".into(),
                bytes: MAX_TAG_VALUE_BYTES + 1
            }
        );
        assert!(error.to_string().contains("at most 4096"), "{error}");
        let long_key = "k".repeat(MAX_TAG_KEY_BYTES + 1);
        assert!(matches!(
            launch().request_tags([(long_key, "v".to_owned())]),
            Err(RunTagError::KeyTooLong { bytes: 256, .. })
        ));
        assert!(matches!(
            launch().request_tags([(String::new(), "v".to_owned())]),
            Err(RunTagError::EmptyKey)
        ));
        let many = (0..=MAX_REQUEST_TAGS).map(|i| (format!("t{i}"), "v".to_owned()));
        assert!(matches!(
            launch().request_tags(many),
            Err(RunTagError::TooMany { count: 101 })
        ));
        // At the limits exactly, all is well; the standalone check agrees.
        let most: BTreeMap<String, String> = (0..MAX_REQUEST_TAGS)
            .map(|i| (format!("t{i}"), "v".repeat(MAX_TAG_VALUE_BYTES)))
            .collect();
        assert!(launch().request_tags(most.clone()).is_ok());
        assert_eq!(check_request_tags(&most), Ok(()));
        let mut over = most;
        over.insert("note".into(), big);
        assert!(check_request_tags(&over).is_err());
    }
}
