//! API tokens and the audit log on SQL: `api_tokens` and `audit_log`.

use async_trait::async_trait;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::{NotSet, Set},
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use super::SqlStorage;
use crate::entity::{api_tokens, audit_log};
use crate::error::{Result, StorageError};
use crate::{AccessStorage, ApiToken, AuditEntry, NewApiToken};

fn token(row: api_tokens::Model) -> ApiToken {
    ApiToken {
        token_id: row.token_id,
        name: row.name,
        role: row.role,
        created_at: row.created_at,
        revoked_at: row.revoked_at,
    }
}

#[async_trait]
impl AccessStorage for SqlStorage {
    async fn create_token(&self, new: &NewApiToken) -> Result<ApiToken> {
        let row = api_tokens::Model {
            token_id: new.token_id.clone(),
            name: new.name.clone(),
            role: new.role.clone(),
            secret_sha256: new.secret_sha256.clone(),
            created_at: sluice_core::events::now_timestamp(),
            revoked_at: None,
        };
        let action = format!("create API token {}", new.name);
        let _guard = self.lock_writes().await;
        api_tokens::Entity::insert(api_tokens::ActiveModel::from(row.clone()))
            .exec_without_returning(&self.db)
            .await
            .map_err(StorageError::db(action))?;
        Ok(token(row))
    }

    async fn token_by_secret_hash(&self, secret_sha256: &str) -> Result<Option<ApiToken>> {
        let row = api_tokens::Entity::find()
            .filter(api_tokens::Column::SecretSha256.eq(secret_sha256))
            .one(&self.db)
            .await
            .map_err(StorageError::db("look up an API token"))?;
        Ok(row.map(token))
    }

    async fn tokens(&self) -> Result<Vec<ApiToken>> {
        let rows = api_tokens::Entity::find()
            .order_by_asc(api_tokens::Column::CreatedAt)
            .all(&self.db)
            .await
            .map_err(StorageError::db("list API tokens"))?;
        Ok(rows.into_iter().map(token).collect())
    }

    async fn revoke_token(&self, token_id: &str, at: f64) -> Result<bool> {
        let _guard = self.lock_writes().await;
        let updated = api_tokens::Entity::update_many()
            .col_expr(api_tokens::Column::RevokedAt, Expr::val(at))
            .filter(api_tokens::Column::TokenId.eq(token_id))
            .filter(api_tokens::Column::RevokedAt.is_null())
            .exec(&self.db)
            .await
            .map_err(StorageError::db(format!("revoke API token {token_id}")))?;
        Ok(updated.rows_affected > 0)
    }

    async fn record_audit(&self, entry: &AuditEntry) -> Result<()> {
        let row = audit_log::ActiveModel {
            id: NotSet,
            timestamp: Set(entry.timestamp),
            actor: Set(entry.actor.clone()),
            role: Set(entry.role.clone()),
            action: Set(entry.action.clone()),
            target: Set(entry.target.clone()),
            outcome: Set(entry.outcome.clone()),
        };
        let _guard = self.lock_writes().await;
        audit_log::Entity::insert(row)
            .exec_without_returning(&self.db)
            .await
            .map_err(StorageError::db(format!("audit {}", entry.action)))?;
        Ok(())
    }

    async fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>> {
        let rows = audit_log::Entity::find()
            .order_by_desc(audit_log::Column::Id)
            .limit(u64::try_from(limit).unwrap_or(u64::MAX))
            .all(&self.db)
            .await
            .map_err(StorageError::db("read the audit log"))?;
        Ok(rows
            .into_iter()
            .map(|row| AuditEntry {
                timestamp: row.timestamp,
                actor: row.actor,
                role: row.role,
                action: row.action,
                target: row.target,
                outcome: row.outcome,
            })
            .collect())
    }
}
