//! Who may use the instance: its API tokens, and the audit log of what callers did.
//!
//! Storage keeps a token's secret only as its SHA-256; what a role allows is the service
//! layer's business (`sluice_service::access`), so roles are plain names here.

use async_trait::async_trait;

use crate::error::Result;

/// An API token as stored: everything but its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    /// Its id (not secret; `sluice token revoke` takes it).
    pub token_id: String,
    /// Who or what it is for.
    pub name: String,
    /// Its role's name.
    pub role: String,
    /// Unix seconds.
    pub created_at: f64,
    /// When it was revoked (Unix seconds), if it was; a revoked token lets no one in.
    pub revoked_at: Option<f64>,
}

/// A token to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewApiToken {
    /// Its id.
    pub token_id: String,
    /// Who or what it is for.
    pub name: String,
    /// Its role's name.
    pub role: String,
    /// The SHA-256 of its secret, in hex.
    pub secret_sha256: String,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// Unix seconds.
    pub timestamp: f64,
    /// Who: a token's name, or `anonymous` when authentication is off.
    pub actor: String,
    /// The caller's role.
    pub role: String,
    /// What: the operation.
    pub action: String,
    /// On what.
    pub target: String,
    /// How it ended: `ok`, `denied`, or the error.
    pub outcome: String,
}

/// API tokens and the audit log.
#[async_trait]
pub trait AccessStorage: Send + Sync {
    /// Store a new token; its stored form.
    async fn create_token(&self, token: &NewApiToken) -> Result<ApiToken>;

    /// The token whose secret has this SHA-256, revoked or not.
    async fn token_by_secret_hash(&self, secret_sha256: &str) -> Result<Option<ApiToken>>;

    /// Every token, oldest first.
    async fn tokens(&self) -> Result<Vec<ApiToken>>;

    /// Revoke the token with this id; `false` if there is no such token still valid.
    async fn revoke_token(&self, token_id: &str, at: f64) -> Result<bool>;

    /// Append an entry to the audit log.
    async fn record_audit(&self, entry: &AuditEntry) -> Result<()>;

    /// The newest `limit` entries of the audit log, newest first.
    async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>>;
}
