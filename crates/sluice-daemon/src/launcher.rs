//! Who launched a run: the machine's boot and the daemon process that marked it
//! STARTING. The RUN_STARTING event records it, so that a daemon starting after a crash
//! can tell a run whose launcher is gone (fail it now) from one another daemon is still
//! launching (leave it to `start_timeout_seconds`).

use serde_json::{Value, json};
use sluice_core::events::{EventData, RunEvent};

/// The machine's boot (Linux's `boot_id`) and a process on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launcher {
    boot_id: String,
    pid: u32,
}

impl Launcher {
    /// This process, when the machine says which boot it is in (Linux); `None` elsewhere.
    pub fn this_process() -> Option<Self> {
        let boot_id = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").ok()?;
        Some(Self {
            boot_id: boot_id.trim().to_owned(),
            pid: std::process::id(),
        })
    }

    /// The metadata the RUN_STARTING event carries.
    pub(crate) fn event_data(&self) -> EventData {
        EventData::Engine {
            metadata: json!({"launcher_boot_id": self.boot_id, "launcher_pid": self.pid}),
        }
    }

    /// The launcher a RUN_STARTING event records, if it does.
    pub(crate) fn of_event(event: &RunEvent) -> Option<Self> {
        let EventData::Engine { metadata } = &event.data else {
            return None;
        };
        Some(Self {
            boot_id: metadata.get("launcher_boot_id")?.as_str()?.to_owned(),
            pid: metadata
                .get("launcher_pid")
                .and_then(Value::as_u64)
                .and_then(|p| u32::try_from(p).ok())?,
        })
    }

    /// Whether this launcher is certainly gone, as seen from `here`: a process of the
    /// same boot, not `here` itself, that no longer exists. A launcher of another boot
    /// (or machine) cannot be told apart from a live one.
    pub(crate) fn is_gone(&self, here: &Launcher) -> bool {
        self.boot_id == here.boot_id && self.pid != here.pid && !process_exists(self.pid)
    }

    /// The launching process's id.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }
}

/// Whether a process with this id exists on this machine.
fn process_exists(pid: u32) -> bool {
    std::path::Path::new("/proc").join(pid.to_string()).exists()
}

#[cfg(test)]
mod tests {
    use super::*;
    use sluice_core::events::EventType;

    #[test]
    fn a_dead_launcher_of_this_boot_is_gone_and_no_other_is() {
        let Some(here) = Launcher::this_process() else {
            return; // not Linux
        };
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let dead_pid = child.id();
        child.wait().expect("wait");
        let event = RunEvent::new("r", EventType::RunStarting, "").data(
            Launcher {
                pid: dead_pid,
                ..here.clone()
            }
            .event_data(),
        );
        let dead = Launcher::of_event(&event).expect("recorded");
        assert_eq!(dead.pid(), dead_pid);
        assert!(dead.is_gone(&here));
        assert!(!here.is_gone(&here), "this process");
        let parent = Launcher {
            pid: std::os::unix::process::parent_id(),
            ..here.clone()
        };
        assert!(!parent.is_gone(&here), "a live process");
        let elsewhere = Launcher {
            boot_id: "another-boot".into(),
            ..dead
        };
        assert!(!elsewhere.is_gone(&here), "another boot cannot be told");
        let plain = RunEvent::new("r", EventType::RunStarting, "");
        assert_eq!(Launcher::of_event(&plain), None);
    }
}
