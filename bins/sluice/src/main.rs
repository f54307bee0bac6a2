//! `sluice`: the Sluice command line. `sluice dev` for local work, instance
//! administration, and run inspection.

mod dev;
mod instigators;
mod new;
mod partitions;
mod tokens;

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use sluice::core::run::RunStatus;
use sluice_codeserver::Workspace;
use sluice_service::{RunsQuery, Service, run_config_yaml};
use sluice_storage::{RunsFilter, StorageConfig, instance_home};

#[derive(Parser)]
#[command(name = "sluice", version, about = "The Sluice command line")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the workspace's code servers, and the webserver (UI and GraphQL) and the
    /// daemon in this process.
    Dev {
        /// The workspace file naming the code locations.
        #[arg(short = 'w', long, default_value = "workspace.yaml")]
        workspace: PathBuf,
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        #[arg(short = 'p', long, default_value_t = 3000)]
        port: u16,
    },
    /// Create a cargo crate for a code location of your own: definitions, tests, a
    /// workspace.yaml for `sluice dev`, and a Dockerfile for its user-code image.
    New {
        /// The location's name, which is also its crate's and binary's.
        name: String,
        /// The directory to create (./NAME by default); it must be empty or absent.
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Depend on Sluice from this git repository instead of the checkout this
        /// `sluice` was built from.
        #[arg(long)]
        sluice_git: Option<String>,
        /// The revision of --sluice-git to use.
        #[arg(long, requires = "sluice_git")]
        rev: Option<String>,
    },
    /// Manage the instance ($SLUICE_HOME, default ./.sluice).
    #[command(subcommand)]
    Instance(InstanceCommand),
    /// Inspect runs stored in the instance.
    #[command(subcommand)]
    Run(RunCommand),
    /// List, start, stop and reset schedules.
    #[command(subcommand)]
    Schedule(instigators::InstigatorCommand),
    /// List, start, stop and reset sensors, and set their cursors.
    #[command(subcommand)]
    Sensor(instigators::InstigatorCommand),
    /// List, add and delete the keys of dynamic partitions.
    #[command(subcommand)]
    Partition(partitions::PartitionCommand),
    /// Create, list and revoke the webserver's API tokens.
    #[command(subcommand)]
    Token(tokens::TokenCommand),
    /// Print the audit log: who did what through the webserver, newest first.
    Audit {
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

#[derive(Subcommand)]
enum InstanceCommand {
    /// Bring the instance storage schema up to date.
    Migrate,
}

#[derive(Subcommand)]
enum RunCommand {
    /// List runs, newest first.
    List {
        /// Only runs with this status (QUEUED, STARTED, SUCCESS, FAILURE, ...). Repeatable.
        #[arg(long, value_parser = parse_status)]
        status: Vec<RunStatus>,
        /// Only runs of this job.
        #[arg(long)]
        job: Option<String>,
        /// Only runs with this tag, as KEY=VALUE. Repeatable; all must match.
        #[arg(long = "tag", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
        /// Runs older than this run id (for paging).
        #[arg(long)]
        cursor: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Print a run: its job, status, times, tags and run config (secrets hidden).
    Show { run_id: String },
    /// Print a run's event log (secrets hidden).
    Logs { run_id: String },
    /// Delete a run and its events.
    Delete { run_id: String },
}

fn parse_status(s: &str) -> Result<RunStatus, String> {
    RunStatus::parse(&s.to_ascii_uppercase()).ok_or_else(|| {
        let all: Vec<&str> = RunStatus::ALL.iter().map(|s| s.as_str()).collect();
        format!(
            "unknown run status \"{s}\"; expected one of {}",
            all.join(", ")
        )
    })
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got \"{s}\"")),
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    sluice::memory::limit_malloc_arenas();
    let cli = Cli::parse();
    let level = match cli.command {
        Command::Dev { .. } => "info",
        _ => "warn",
    };
    sluice::logging::init(level);
    match cli.command {
        Command::Dev {
            workspace,
            host,
            port,
        } => dev::run(&workspace, &host, port).await,
        Command::New {
            name,
            dir,
            sluice_git,
            rev,
        } => {
            let source = match sluice_git {
                Some(url) => new::SluiceSource::Git { url, rev },
                None => new::SluiceSource::Checkout,
            };
            new::run(&name, dir, source)
        }
        Command::Instance(command) => instance(command).await,
        Command::Run(command) => run_command(command).await,
        Command::Schedule(command) => {
            instigators::run(sluice_storage::InstigatorType::Schedule, command).await
        }
        Command::Sensor(command) => {
            instigators::run(sluice_storage::InstigatorType::Sensor, command).await
        }
        Command::Partition(command) => partitions::run(command).await,
        Command::Token(command) => tokens::token(&instance_service().await?, command).await,
        Command::Audit { limit } => tokens::audit(&instance_service().await?, limit).await,
    }
}

async fn open_storage() -> Result<std::sync::Arc<sluice_storage::SqlStorage>> {
    let config = StorageConfig::from_env().context("reading the instance config")?;
    sluice_storage::open(&config)
        .await
        .context("opening instance storage")
}

async fn instance(command: InstanceCommand) -> Result<()> {
    match command {
        InstanceCommand::Migrate => {
            // Opening the storage applies any pending migration.
            open_storage().await?;
            println!("Instance storage is up to date.");
        }
    }
    Ok(())
}

/// The instance's operations without a workspace: enough for commands that only read
/// and change stored runs.
async fn instance_service() -> Result<Service> {
    let storage = open_storage().await?;
    Ok(Service::new(
        storage,
        Workspace::connect(Vec::new()).await,
        instance_home(),
    ))
}

async fn run_command(command: RunCommand) -> Result<()> {
    let service = instance_service().await?;
    match command {
        RunCommand::List {
            status,
            job,
            tags,
            cursor,
            limit,
        } => {
            let query = RunsQuery {
                filter: RunsFilter {
                    statuses: status,
                    job_name: job,
                    tags: tags.into_iter().collect::<BTreeMap<_, _>>(),
                    ..RunsFilter::default()
                },
                cursor,
                limit: Some(limit),
            };
            for run in service.runs(&query).await? {
                println!(
                    "{}  {:<10} {}  {}",
                    run.run_id,
                    run.status.as_str(),
                    sluice::core::events::clock_time(run.create_time),
                    run.job_name
                );
            }
        }
        RunCommand::Show { run_id } => {
            let run = service.run(&run_id).await?;
            let time = |t: Option<f64>| t.map_or("-".to_owned(), sluice::core::events::clock_time);
            println!("run:      {}", run.run_id);
            println!("job:      {}", run.job_name);
            println!("location: {}", run.location_name.as_deref().unwrap_or("-"));
            println!("status:   {}", run.status);
            println!("created:  {}", time(Some(run.create_time)));
            println!("started:  {}", time(run.start_time));
            println!("ended:    {}", time(run.end_time));
            println!("tags:");
            for (key, value) in &run.tags {
                println!("  {key}: {value}");
            }
            print!("config:\n{}", indent(&run_config_yaml(&run.run_config)));
        }
        RunCommand::Logs { run_id } => {
            service.run(&run_id).await?;
            for record in service.run_events(&run_id).await? {
                println!("{}", record.event);
            }
        }
        RunCommand::Delete { run_id } => {
            service.delete_run(&run_id).await?;
            println!("Deleted run {run_id}.");
        }
    }
    Ok(())
}

/// `text` with every line indented by two spaces.
fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}
