//! IO managers: where step outputs are kept, so that a later run can load what an
//! earlier one produced. That is what lets a re-execution from failure skip the steps
//! that already succeeded.
//!
//! [`FsIoManager`] is the default, as Dagster's `fs_io_manager` is: an op output is a file
//! `<base_dir>/<run_id>/<step_key>/<output_name>`, an asset is a file at its key's path
//! `<base_dir>/<part>/<part>[/<partition>]`, here holding the value as JSON. An asset's
//! file is replaced by each materialization, so a later run reads the latest.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::asset::AssetKey;
use crate::metadata::{Metadata, MetadataValue};
use crate::op::{OutputDefinition, StepValue};

/// What a stored value is: one output of one step of one run, or (the latest value of)
/// an asset or one partition of it.
#[derive(Debug, Clone, Copy)]
pub enum OutputKey<'a> {
    /// One output of one step of one run.
    Step {
        /// The run that produced it.
        run_id: &'a str,
        /// The step that produced it.
        step_key: &'a str,
        /// The step's output.
        output_name: &'a str,
    },
    /// The latest value of an asset or one partition of it.
    Asset {
        /// The asset.
        key: &'a AssetKey,
        /// The partition; `None` for an unpartitioned asset.
        partition: Option<&'a str>,
    },
}

impl fmt::Display for OutputKey<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Step {
                run_id,
                step_key,
                output_name,
            } => write!(
                f,
                "output \"{output_name}\" of step \"{step_key}\" in run {run_id}"
            ),
            Self::Asset {
                key,
                partition: None,
            } => write!(f, "asset \"{key}\""),
            Self::Asset {
                key,
                partition: Some(p),
            } => write!(f, "partition \"{p}\" of asset \"{key}\""),
        }
    }
}

/// Why an output could not be stored or loaded.
#[derive(Debug, thiserror::Error)]
pub enum IoManagerError {
    /// Nothing is stored under the key (for an asset: it was never materialized).
    #[error("{what} is not stored{}", if *.is_asset { " (it was never materialized)" } else { "" })]
    NotStored {
        /// The output key, described.
        what: String,
        /// Whether the key is an asset's.
        is_asset: bool,
    },
    /// A file could not be read, written or removed.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done (`read`, `write`, `remove`, ...).
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// A value could not be turned into bytes or back.
    #[error("cannot {action} {what}: {reason}")]
    Codec {
        /// `serialize` or `deserialize`.
        action: &'static str,
        /// The output key, described.
        what: String,
        /// The codec's message.
        reason: String,
    },
    /// The storage behind the IO manager failed (an object store's error, say).
    #[error("cannot {action} {what} at {location}: {reason}")]
    Storage {
        /// What was being done (`read`, `write`, ...).
        action: &'static str,
        /// The output key, described.
        what: String,
        /// Where the value is kept (a URL or path).
        location: String,
        /// The storage's message.
        reason: String,
    },
    /// The IO manager could not be set up for the run.
    #[error("cannot set up the IO manager: {0}")]
    Setup(String),
}

impl IoManagerError {
    /// Nothing is stored under `key`.
    pub fn not_stored(key: OutputKey<'_>) -> Self {
        Self::NotStored {
            what: key.to_string(),
            is_asset: matches!(key, OutputKey::Asset { .. }),
        }
    }

    /// The value of `key` could not be serialized or deserialized (`action`) for `reason`.
    pub fn codec(action: &'static str, key: OutputKey<'_>, reason: impl Into<String>) -> Self {
        Self::Codec {
            action,
            what: key.to_string(),
            reason: reason.into(),
        }
    }
}

/// How a code location's runs keep their outputs (Dagster's `io_manager` resource):
/// builds the IO manager of each run from the instance's storage directory
/// (`$SLUICE_HOME/storage`). A location that sets none uses [`FsIoManager`] there.
#[derive(Clone)]
pub struct IoManagerDefinition(Arc<IoManagerFactory>);

type IoManagerFactory =
    dyn Fn(&Path) -> Result<Arc<dyn IoManager>, IoManagerError> + Send + Sync + 'static;

impl IoManagerDefinition {
    /// An IO manager built by `f` from the instance's storage directory.
    pub fn new(
        f: impl Fn(&Path) -> Result<Arc<dyn IoManager>, IoManagerError> + Send + Sync + 'static,
    ) -> Self {
        Self(Arc::new(f))
    }

    /// The default: [`FsIoManager`] in the instance's storage directory.
    pub fn fs() -> Self {
        Self::new(|dir| Ok(Arc::new(FsIoManager::new(dir))))
    }

    /// The IO manager of a run of the instance whose storage directory is `storage_dir`.
    pub fn build(&self, storage_dir: &Path) -> Result<Arc<dyn IoManager>, IoManagerError> {
        (self.0)(storage_dir)
    }
}

impl Default for IoManagerDefinition {
    fn default() -> Self {
        Self::fs()
    }
}

impl fmt::Debug for IoManagerDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IoManagerDefinition")
    }
}

/// Stores step outputs and loads them back, for this run or a later one.
///
/// Calls are synchronous: the default keeps small values in local files. An IO manager
/// for slow storage should do its work on a blocking thread of its own.
pub trait IoManager: Send + Sync {
    /// Keep `value`, the output `key` declared as `output`. The metadata returned (where
    /// the value went, how big it is) is added to the asset's materialization.
    fn handle_output(
        &self,
        key: OutputKey<'_>,
        output: &OutputDefinition,
        value: &StepValue,
    ) -> Result<Metadata, IoManagerError>;

    /// The value of output `key`, stored earlier, as a value of `output`'s type.
    fn load_input(
        &self,
        key: OutputKey<'_>,
        output: &OutputDefinition,
    ) -> Result<StepValue, IoManagerError>;
}

/// Outputs kept in this process's memory, as the values themselves (Dagster's
/// `mem_io_manager`): what in-process tests use (`sluice::testing`), which read typed
/// outputs back from it, and a way to pass assets from one in-process run to the next.
#[derive(Default)]
pub struct MemoryIoManager {
    values: std::sync::Mutex<std::collections::HashMap<MemoryKey, StepValue>>,
}

/// An [`OutputKey`], owned.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum MemoryKey {
    Step {
        run_id: String,
        step_key: String,
        output_name: String,
    },
    Asset {
        key: AssetKey,
        partition: Option<String>,
    },
}

impl From<OutputKey<'_>> for MemoryKey {
    fn from(key: OutputKey<'_>) -> Self {
        match key {
            OutputKey::Step {
                run_id,
                step_key,
                output_name,
            } => Self::Step {
                run_id: run_id.to_owned(),
                step_key: step_key.to_owned(),
                output_name: output_name.to_owned(),
            },
            OutputKey::Asset { key, partition } => Self::Asset {
                key: key.clone(),
                partition: partition.map(str::to_owned),
            },
        }
    }
}

impl MemoryIoManager {
    /// An empty one.
    pub fn new() -> Self {
        Self::default()
    }

    /// The value stored under `key`, if any.
    pub fn get(&self, key: OutputKey<'_>) -> Option<StepValue> {
        self.lock().get(&MemoryKey::from(key)).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<MemoryKey, StepValue>> {
        // A panic while holding the lock leaves the map whole: one insert or lookup.
        self.values
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl fmt::Debug for MemoryIoManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryIoManager")
            .field("values", &self.lock().len())
            .finish()
    }
}

impl IoManager for MemoryIoManager {
    fn handle_output(
        &self,
        key: OutputKey<'_>,
        _output: &OutputDefinition,
        value: &StepValue,
    ) -> Result<Metadata, IoManagerError> {
        self.lock().insert(MemoryKey::from(key), Arc::clone(value));
        Ok(Metadata::new())
    }

    fn load_input(
        &self,
        key: OutputKey<'_>,
        _output: &OutputDefinition,
    ) -> Result<StepValue, IoManagerError> {
        self.get(key).ok_or_else(|| IoManagerError::NotStored {
            what: key.to_string(),
            is_asset: matches!(key, OutputKey::Asset { .. }),
        })
    }
}

/// Outputs as JSON files under a base directory (`$SLUICE_HOME/storage` for runs of an
/// instance).
#[derive(Debug, Clone)]
pub struct FsIoManager {
    base_dir: PathBuf,
}

impl FsIoManager {
    /// An IO manager keeping its files under `base_dir` (created as needed).
    pub fn new(base_dir: impl Into<PathBuf>) -> Self {
        Self {
            base_dir: base_dir.into(),
        }
    }

    /// Where output `key` is kept.
    pub fn path(&self, key: OutputKey<'_>) -> PathBuf {
        match key {
            OutputKey::Step {
                run_id,
                step_key,
                output_name,
            } => self.base_dir.join(run_id).join(step_key).join(output_name),
            OutputKey::Asset { key, partition } => {
                let mut path = self.base_dir.clone();
                path.extend(key.path());
                if let Some(p) = partition {
                    path.push(p);
                }
                path
            }
        }
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
    ) -> Result<Metadata, IoManagerError> {
        let bytes = output
            .encode(value)
            .map_err(|reason| IoManagerError::codec("serialize", key, reason))?;
        let path = self.path(key);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io_error("create", dir))?;
        }
        // Written aside and renamed: a reader never sees half a value.
        let mut partial = path.clone().into_os_string();
        partial.push(".partial");
        let partial = PathBuf::from(partial);
        std::fs::write(&partial, &bytes).map_err(io_error("write", &partial))?;
        std::fs::rename(&partial, &path).map_err(io_error("write", &path))?;
        Ok(Metadata::from([
            (
                "path".to_owned(),
                MetadataValue::Path(path.display().to_string()),
            ),
            ("bytes".to_owned(), MetadataValue::Int(bytes.len() as i64)),
        ]))
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
                return Err(IoManagerError::not_stored(key));
            }
            Err(e) => return Err(io_error("read", &path)(e)),
        };
        output
            .decode(&bytes)
            .map_err(|reason| IoManagerError::codec("deserialize", key, reason))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::OpDefinition;

    fn output_of_type_vec() -> OutputDefinition {
        let op = OpDefinition::builder("make")
            .output::<Vec<u32>>("result")
            .compute(|_, _| async { Ok(vec![1, 2]) });
        op.output("result").expect("declared").clone()
    }

    const KEY: OutputKey<'static> = OutputKey::Step {
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

        let other_run = OutputKey::Step {
            run_id: "r2",
            step_key: "make",
            output_name: "result",
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

        // An asset is kept at its key's path, one file a partition.
        let orders = crate::asset::AssetKey::parse("warehouse/orders").unwrap();
        let daily = crate::asset::AssetKey::parse("warehouse/daily").unwrap();
        let value: StepValue = Arc::new(vec![7u32]);
        for (asset, partition) in [(&orders, None), (&daily, Some("2024-03-10"))] {
            let key = OutputKey::Asset {
                key: asset,
                partition,
            };
            let meta = io.handle_output(key, &output, &value).unwrap();
            assert!(matches!(meta["bytes"], MetadataValue::Int(3)), "{meta:?}");
            let loaded = io.load_input(key, &output).unwrap();
            assert_eq!(loaded.downcast_ref::<Vec<u32>>(), Some(&vec![7]));
        }
        assert!(dir.path().join("warehouse/orders").is_file());
        assert!(dir.path().join("warehouse/daily/2024-03-10").is_file());
        let missing = crate::asset::AssetKey::parse("warehouse/customers").unwrap();
        let err = io
            .load_input(
                OutputKey::Asset {
                    key: &missing,
                    partition: None,
                },
                &output,
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "asset \"warehouse/customers\" is not stored (it was never materialized)"
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
