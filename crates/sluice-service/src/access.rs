//! Who may do what: API tokens, the roles they carry, the permission each operation
//! needs, and the audit log of what callers did.
//!
//! | role | may |
//! | --- | --- |
//! | `viewer` | read everything |
//! | `launcher` | also launch and re-execute runs, and terminate the runs it launched |
//! | `editor` | also everything on runs, schedules, sensors, backfills, assets and partitions |
//! | `admin` | also reload and shut down code locations, and manage tokens |
//!
//! A token is `sluice_` and 64 hex digits of randomness; storage keeps only its SHA-256,
//! so a leaked database holds no usable token. It is shown once, when created.
//! Permissions carry Dagster's names (`launch_pipeline_execution`, ...), the ones its
//! GraphQL `permissions` field lists.

use std::fmt;

use sha2::{Digest, Sha256};
use sluice_core::events::now_timestamp;
use sluice_storage::{ApiToken, AuditEntry, NewApiToken};

use crate::Service;
use crate::error::{Error, Result};

/// The tag a run gets naming who launched it, when someone is signed in.
pub const USER_TAG: &str = "dagster/user";

/// What a caller may do; each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads everything, changes nothing.
    Viewer,
    /// Launches and re-executes runs, and terminates its own.
    Launcher,
    /// Everything on runs, schedules, sensors, backfills, assets and partitions.
    Editor,
    /// Everything: code locations, tokens and the instance too.
    Admin,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Launcher, Role::Editor, Role::Admin];

    /// The role's name, as `--role` takes it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Launcher => "launcher",
            Self::Editor => "editor",
            Self::Admin => "admin",
        }
    }

    /// The role named `name`.
    pub fn parse(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .ok_or_else(|| {
                Error::InvalidArgument(format!(
                    "no role named {name:?}; the roles are viewer, launcher, editor and admin"
                ))
            })
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An operation that changes something, by Dagster's permission names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Launch a run.
    LaunchRun,
    /// Re-execute a run.
    ReexecuteRun,
    /// Terminate a run (a launcher only its own).
    TerminateRun,
    /// Delete a run.
    DeleteRun,
    /// Start a schedule.
    StartSchedule,
    /// Stop or reset a schedule.
    StopSchedule,
    /// Start, stop or reset a sensor.
    EditSensor,
    /// Set a sensor's cursor.
    UpdateSensorCursor,
    /// Wipe assets.
    WipeAssets,
    /// Report runless asset events.
    ReportAssetEvents,
    /// Launch a backfill.
    LaunchBackfill,
    /// Cancel or resume a backfill.
    CancelBackfill,
    /// Add or delete dynamic partitions.
    EditDynamicPartitions,
    /// Reload or shut down a code location.
    ReloadLocation,
    /// Reload the whole workspace.
    ReloadWorkspace,
    /// Create, list and revoke API tokens.
    ManageTokens,
}

impl Permission {
    /// Every permission, in the order GraphQL lists them.
    pub const ALL: [Permission; 16] = [
        Permission::LaunchRun,
        Permission::ReexecuteRun,
        Permission::TerminateRun,
        Permission::DeleteRun,
        Permission::StartSchedule,
        Permission::StopSchedule,
        Permission::EditSensor,
        Permission::UpdateSensorCursor,
        Permission::WipeAssets,
        Permission::ReportAssetEvents,
        Permission::LaunchBackfill,
        Permission::CancelBackfill,
        Permission::EditDynamicPartitions,
        Permission::ReloadLocation,
        Permission::ReloadWorkspace,
        Permission::ManageTokens,
    ];

    /// Dagster's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Self::LaunchRun => "launch_pipeline_execution",
            Self::ReexecuteRun => "launch_pipeline_reexecution",
            Self::TerminateRun => "terminate_pipeline_execution",
            Self::DeleteRun => "delete_pipeline_run",
            Self::StartSchedule => "start_schedule",
            Self::StopSchedule => "stop_running_schedule",
            Self::EditSensor => "edit_sensor",
            Self::UpdateSensorCursor => "update_sensor_cursor",
            Self::WipeAssets => "wipe_assets",
            Self::ReportAssetEvents => "report_runless_asset_events",
            Self::LaunchBackfill => "launch_partition_backfill",
            Self::CancelBackfill => "cancel_partition_backfill",
            Self::EditDynamicPartitions => "edit_dynamic_partitions",
            Self::ReloadLocation => "reload_repository_location",
            Self::ReloadWorkspace => "reload_workspace",
            Self::ManageTokens => "manage_api_tokens",
        }
    }

    /// The least role that has it.
    pub fn least_role(self) -> Role {
        match self {
            Self::LaunchRun | Self::ReexecuteRun | Self::TerminateRun => Role::Launcher,
            Self::ReloadLocation | Self::ReloadWorkspace | Self::ManageTokens => Role::Admin,
            _ => Role::Editor,
        }
    }
}

/// Who is asking: a token's name and role, or, with authentication off, anyone (an
/// admin).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name; `anonymous` with authentication off.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// Whether it signed in (with authentication off, no one does).
    pub authenticated: bool,
}

impl Caller {
    /// The caller when authentication is off: anyone, who may do anything.
    pub fn anonymous() -> Self {
        Self {
            name: "anonymous".to_owned(),
            role: Role::Admin,
            authenticated: false,
        }
    }

    /// The caller a request names, or the anonymous one when it names none (the webserver
    /// always names one; GraphQL or UI routers used without it get anonymous callers).
    pub fn of(request_caller: Option<&Caller>) -> Self {
        request_caller.cloned().unwrap_or_else(Self::anonymous)
    }

    /// Whether the caller's role has `permission`.
    pub fn may(&self, permission: Permission) -> bool {
        self.role >= permission.least_role()
    }

    /// [`Error::Unauthorized`] unless the caller's role has `permission`.
    pub fn require(&self, permission: Permission) -> Result<()> {
        if self.may(permission) {
            Ok(())
        } else {
            Err(self.refusal(permission))
        }
    }

    /// Whether the caller may terminate a run launched by `launched_by` (its
    /// [`USER_TAG`]): an editor any, a launcher its own.
    pub fn may_terminate(&self, launched_by: Option<&str>) -> bool {
        self.role >= Role::Editor
            || (self.may(Permission::TerminateRun) && launched_by == Some(self.name.as_str()))
    }

    /// The refusal of `permission` to this caller.
    pub fn refusal(&self, permission: Permission) -> Error {
        Error::Unauthorized {
            caller: self.name.clone(),
            role: self.role,
            permission: permission.name(),
        }
    }

    /// The tags a run launched by this caller gets: who launched it.
    pub fn run_tags(&self) -> Vec<(String, String)> {
        if self.authenticated {
            vec![(USER_TAG.to_owned(), self.name.clone())]
        } else {
            Vec::new()
        }
    }
}

/// A token just created: the secret, shown once, and what is stored.
#[derive(Debug, Clone)]
pub struct CreatedToken {
    /// The secret to send as `Authorization: Bearer SECRET`.
    pub secret: String,
    /// The token as stored.
    pub token: ApiToken,
}

/// The SHA-256 of `secret`, in hex: what storage keeps.
fn secret_hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new secret: `sluice_` and 32 random bytes in hex.
fn new_secret() -> Result<String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::Unsupported(format!("no randomness for a token: {e}")))?;
    Ok(format!(
        "sluice_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// The longest token name.
const MAX_TOKEN_NAME: usize = 100;

impl Service {
    /// Create a token named `name` with `role`.
    pub async fn create_token(&self, name: &str, role: Role) -> Result<CreatedToken> {
        let name = name.trim();
        if name.is_empty() || name.len() > MAX_TOKEN_NAME {
            return Err(Error::InvalidArgument(format!(
                "a token's name must have 1 to {MAX_TOKEN_NAME} characters, got {:?}",
                name
            )));
        }
        let secret = new_secret()?;
        let token = self
            .storage
            .create_token(&NewApiToken {
                token_id: uuid::Uuid::new_v4().simple().to_string(),
                name: name.to_owned(),
                role: role.as_str().to_owned(),
                secret_sha256: secret_hash(&secret),
            })
            .await?;
        Ok(CreatedToken { secret, token })
    }

    /// Every token, oldest first (revoked ones too).
    pub async fn tokens(&self) -> Result<Vec<ApiToken>> {
        Ok(self.storage.tokens().await?)
    }

    /// Revoke the token `token_id`; an error if there is no such valid token.
    pub async fn revoke_token(&self, token_id: &str) -> Result<()> {
        if self.storage.revoke_token(token_id, now_timestamp()).await? {
            Ok(())
        } else {
            Err(Error::InvalidArgument(format!(
                "no valid token has the id {token_id:?} (`sluice token list` shows them)"
            )))
        }
    }

    /// The caller a secret stands for: its token's name and role. A secret that is
    /// unknown, revoked or names no role is refused with [`Error::Unauthenticated`].
    pub async fn authenticate(&self, secret: &str) -> Result<Caller> {
        let refused = || Error::Unauthenticated("the token is unknown or revoked".to_owned());
        if !secret.starts_with("sluice_") {
            return Err(refused());
        }
        let token = self
            .storage
            .token_by_secret_hash(&secret_hash(secret))
            .await?
            .filter(|t| t.revoked_at.is_none())
            .ok_or_else(refused)?;
        Ok(Caller {
            role: Role::parse(&token.role).map_err(|_| refused())?,
            name: token.name,
            authenticated: true,
        })
    }

    /// Record in the audit log that `caller` did `action` on `target`, ending with
    /// `outcome` (`ok`, `denied`, or what went wrong). A failure to record is logged,
    /// not returned: the operation has happened.
    pub async fn audit(&self, caller: &Caller, action: &str, target: &str, outcome: &str) {
        let entry = AuditEntry {
            timestamp: now_timestamp(),
            actor: caller.name.clone(),
            role: caller.role.as_str().to_owned(),
            action: action.to_owned(),
            target: target.to_owned(),
            outcome: outcome.to_owned(),
        };
        if let Err(e) = self.storage.record_audit(&entry).await {
            tracing::error!(action, "cannot record the audit entry: {e}");
        }
    }

    /// The newest `limit` audit entries, newest first.
    pub async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        Ok(self.storage.audit_log(limit).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_role_may_what_the_ones_before_it_may() {
        let caller = |role| Caller {
            name: "ci".into(),
            role,
            authenticated: true,
        };
        assert!(!caller(Role::Viewer).may(Permission::LaunchRun));
        assert!(caller(Role::Launcher).may(Permission::LaunchRun));
        assert!(!caller(Role::Launcher).may(Permission::DeleteRun));
        assert!(caller(Role::Editor).may(Permission::WipeAssets));
        assert!(!caller(Role::Editor).may(Permission::ReloadLocation));
        assert!(caller(Role::Admin).may(Permission::ManageTokens));
        assert!(Caller::anonymous().may(Permission::ManageTokens));
        let refusal = caller(Role::Viewer)
            .require(Permission::LaunchRun)
            .unwrap_err();
        assert_eq!(
            refusal.to_string(),
            "ci (role viewer) may not launch_pipeline_execution"
        );
    }

    #[test]
    fn a_launcher_terminates_only_its_own_runs() {
        let launcher = Caller {
            name: "ci".into(),
            role: Role::Launcher,
            authenticated: true,
        };
        assert!(launcher.may_terminate(Some("ci")));
        assert!(!launcher.may_terminate(Some("someone")));
        assert!(!launcher.may_terminate(None));
        let editor = Caller {
            role: Role::Editor,
            ..launcher.clone()
        };
        assert!(editor.may_terminate(None));
        assert_eq!(
            launcher.run_tags(),
            vec![(USER_TAG.to_owned(), "ci".to_owned())]
        );
        assert!(Caller::anonymous().run_tags().is_empty());
    }

    #[test]
    fn secrets_are_random_and_kept_as_hashes() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), "sluice_".len() + 64);
        assert_eq!(secret_hash(&a).len(), 64);
        assert_ne!(secret_hash(&a), secret_hash(&b));
        assert_eq!(Role::parse("editor").unwrap(), Role::Editor);
        assert!(
            Role::parse("root")
                .unwrap_err()
                .to_string()
                .contains("viewer, launcher")
        );
    }
}
