//! IO managers: where step outputs are kept, so that a later run can load what an
//! earlier one produced. That is what lets a re-execution from failure skip the steps
//! that already succeeded.
//!
//! [`FsIoManager`] is the default, as Dagster's `fs_io_manager` is: each output is a file
//! `<base_dir>/<run_id>/<step_key>/<output_name>`, here holding the value as JSON.

use std::io;
use std::path::{Path, PathBuf};

use crate::op::{OutputDefinition, StepValue};

/// Which output of which run.
#[derive(Debug, Clone, Copy)]
pub struct OutputKey<'a> {
    pub run_id: &'a str,
    pub step_key: &'a str,
    pub output_name: &'a str,
}

/// Why an output could not be stored or loaded.
#[derive(Debug, thiserror::Error)]
pub enum IoManagerError {
    #[error("output \"{output}\" of step \"{step}\" was not stored by run {run_id}")]
    NotStored {
        run_id: String,
        step: String,
        output: String,
    },
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("cannot {action} output \"{output}\" of step \"{step}\": {reason}")]
    Codec {
        action: &'static str,
        step: String,
        output: String,
        reason: String,
    },
}

/// Stores step outputs and loads them back, for this run or a later one.
///
/// Calls are synchronous: the default keeps small values in local files. An IO manager
/// for slow storage should do its work on a blocking thread of its own.
pub trait IoManager: Send + Sync {
    /// Keep `value`, the output `key` declared as `output`.
    fn handle_output(
        &self,
        key: OutputKey<'_>,
        output: &OutputDefinition,
        value: &StepValue,
    ) -> Result<(), IoManagerError>;

    /// The value of output `key`, stored earlier, as a value of `output`'s type.
    fn load_input(
        &self,
        key: OutputKey<'_>,
        output: &OutputDefinition,
    ) -> Result<StepValue, IoManagerError>;
}

/// Outputs as JSON files under a base directory (`$SLUICE_HOME/storage` for runs of an
/// instance).
#[derive(Debug, Clone)]
pub struct FsIoManager {
    base_dir: PathBuf,
}

impl FsIoManager {
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        Self {
            base_dir: base_dir.into(),
        }
    }

    /// Where output `key` is kept.
    pub fn path(&self, key: OutputKey<'_>) -> PathBuf {
        self.base_dir
            .join(key.run_id)
            .join(key.step_key)
            .join(key.output_name)
    }

    /// Remove everything stored for `run_id` (nothing to remove is not an error).
    pub fn delete_run(&self, run_id: &str) -> Result<(), IoManagerError> {
        let dir = self.base_dir.join(run_id);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(IoManagerError::Io {
                action: "remove",
                path: dir,
                source: e,
            }),
            _ => Ok(()),
        }
    }
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(io::Error) -> IoManagerError {
    let path = path.to_owned();
    move |source| IoManagerError::Io {
        action,
        path,
        source,
    }
}

impl IoManager for FsIoManager {
    fn handle_output(
        &self,
        key: OutputKey<'_>,
        output: &OutputDefinition,
        value: &StepValue,
    ) -> Result<(), IoManagerError> {
        let bytes = output
            .encode(value)
            .map_err(|reason| IoManagerError::Codec {
                action: "serialize",
                step: key.step_key.to_owned(),
                output: key.output_name.to_owned(),
                reason,
            })?;
        let path = self.path(key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_error("create", dir))?;
        }
        // Written aside and renamed: a reader never sees half a value.
        let partial = path.with_extension("partial");
        std::fs::write(&partial, bytes).map_err(io_error("write", &partial))?;
        std::fs::rename(&partial, &path).map_err(io_error("write", &path))
    }

    fn load_input(
        &self,
        key: OutputKey<'_>,
        output: &OutputDefinition,
    ) -> Result<StepValue, IoManagerError> {
        let path = self.path(key);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(IoManagerError::NotStored {
                    run_id: key.run_id.to_owned(),
                    step: key.step_key.to_owned(),
                    output: key.output_name.to_owned(),
                });
            }
            Err(e) => return Err(io_error("read", &path)(e)),
        };
        output
            .decode(&bytes)
            .map_err(|reason| IoManagerError::Codec {
                action: "deserialize",
                step: key.step_key.to_owned(),
                output: key.output_name.to_owned(),
                reason,
            })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::op::OpDefinition;

    fn output_of_type_vec() -> OutputDefinition {
        let op = OpDefinition::builder("make")
            .output::<Vec<u32>>("result")
            .compute(|_, _| async { Ok(vec![1, 2]) });
        op.output("result").expect("declared").clone()
    }

    const KEY: OutputKey<'static> = OutputKey {
        run_id: "r1",
        step_key: "make",
        output_name: "result",
    };

    #[test]
    fn stores_and_loads_values_by_run_step_and_output() {
        let dir = tempfile::tempdir().unwrap();
        let io = FsIoManager::new(dir.path());
        let output = output_of_type_vec();
        let key = KEY;
        let value: StepValue = Arc::new(vec![3u32, 4, 5]);
        io.handle_output(key, &output, &value).unwrap();
        assert!(dir.path().join("r1/make/result").is_file());
        let loaded = io.load_input(key, &output).unwrap();
        assert_eq!(loaded.downcast_ref::<Vec<u32>>(), Some(&vec![3, 4, 5]));

        let other_run = OutputKey {
            run_id: "r2",
            ..key
        };
        let err = io.load_input(other_run, &output).unwrap_err();
        assert!(matches!(err, IoManagerError::NotStored { .. }), "{err}");
        assert!(err.to_string().contains("r2"), "{err}");

        io.delete_run("r1").unwrap();
        assert!(!dir.path().join("r1").exists());
        io.delete_run("r1").unwrap();
    }

    #[test]
    fn a_value_of_another_type_is_a_codec_error_naming_the_output() {
        let dir = tempfile::tempdir().unwrap();
        let io = FsIoManager::new(dir.path());
        let output = output_of_type_vec();
        let key = KEY;
        let wrong: StepValue = Arc::new("text".to_owned());
        let err = io.handle_output(key, &output, &wrong).unwrap_err();
        assert!(
            err.to_string().contains("\"result\" of step \"make\""),
            "{err}"
        );
        std::fs::create_dir_all(dir.path().join("r1/make")).unwrap();
        std::fs::write(dir.path().join("r1/make/result"), b"{\"not\": \"a list\"}").unwrap();
        let err = io.load_input(key, &output).unwrap_err();
        assert!(
            matches!(
                err,
                IoManagerError::Codec {
                    action: "deserialize",
                    ..
                }
            ),
            "{err}"
        );
    }
}
