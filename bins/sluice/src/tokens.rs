//! `sluice token …`: API tokens for the webserver, and `sluice audit`: what callers did.
//! Whoever can run these on the instance (its storage) is its administrator.

use anyhow::{Context, Result};
use clap::Subcommand;
use sluice::core::events::clock_time;
use sluice_service::Service;
use sluice_service::access::Role;

/// What to do with API tokens.
#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a token and print its secret, once: send it as `Authorization: Bearer
    /// SECRET`, or sign in to the UI with it.
    Create {
        /// Who or what it is for.
        #[arg(long)]
        name: String,
        /// viewer, launcher, editor or admin.
        #[arg(long, value_parser = parse_role)]
        role: Role,
    },
    /// List tokens: id, name, role, created, revoked.
    List,
    /// Revoke a token by its id: it lets no one in from now on.
    Revoke { token_id: String },
}

fn parse_role(name: &str) -> Result<Role, String> {
    Role::parse(name).map_err(|e| e.to_string())
}

/// Run a token command.
pub(crate) async fn token(service: &Service, command: TokenCommand) -> Result<()> {
    match command {
        TokenCommand::Create { name, role } => {
            let created = service
                .create_token(&name, role)
                .await
                .context("no token was created")?;
            eprintln!(
                "Created token {} for \"{}\" with role {role}. Its secret, shown only now:",
                created.token.token_id, created.token.name
            );
            println!("{}", created.secret);
        }
        TokenCommand::List => {
            println!(
                "{:<34} {:<10} {:<17} {:<17} name",
                "id", "role", "created", "revoked"
            );
            for t in service.tokens().await? {
                println!(
                    "{:<34} {:<10} {:<17} {:<17} {}",
                    t.token_id,
                    t.role,
                    clock_time(t.created_at),
                    t.revoked_at.map_or_else(|| "-".to_owned(), clock_time),
                    t.name
                );
            }
        }
        TokenCommand::Revoke { token_id } => {
            service.revoke_token(&token_id).await?;
            println!("Revoked token {token_id}.");
        }
    }
    Ok(())
}

/// Print the newest `limit` entries of the audit log.
pub(crate) async fn audit(service: &Service, limit: usize) -> Result<()> {
    for e in service.audit_log(limit).await? {
        println!(
            "{}  {} ({})  {}  {}  {}",
            clock_time(e.timestamp),
            e.actor,
            e.role,
            e.action,
            e.outcome,
            e.target
        );
    }
    Ok(())
}
