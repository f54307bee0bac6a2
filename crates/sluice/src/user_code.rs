//! The user-code entry point: the command line of a code location's binary.
//!
//! ```text
//! sluice-user-code [--location NAME] job list
//! sluice-user-code [--location NAME] job execute -j JOB [-c CONFIG]... [--tag KEY=VALUE]...
//! sluice-user-code [--location NAME] definitions validate
//! sluice-user-code [--location NAME] serve [--host H] [--port P]
//! sluice-user-code [--location NAME] execute-run --run-id ID
//! ```
//!
//! `serve` is the location's code server; `execute-run` is the run worker it starts for
//! each launched run (one process per run).
//!
//! Exit codes: 0 success; 1 a failed run or an unusable instance or location; 2 bad
//! input (unknown location or job, invalid config or tags), with nothing created;
//! 130 a run terminated by Ctrl-C or SIGTERM.

use std::any::Any;
use std::collections::BTreeMap;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};
use serde_json::Value;
use sluice_codeserver::{CodeServer, ForkServer, WorkerCommand, WorkerError, WorkerLauncher};
use sluice_core::asset::{ASSET_JOB_NAME, AssetSelection, SelectionError};
use sluice_core::config::{self, ConfigParseError};
use sluice_core::events::{EventSink, RunEvent};
use sluice_core::executor::human_ms;
use sluice_core::partition::PartitionError;
use sluice_core::run::{NewRun, PARTITION_TAG, Run, RunStatus, RunTagError, check_request_tags};
use sluice_core::run_config::{self, RunConfigError};
use sluice_core::{DefinitionError, Definitions};
use sluice_storage::{SqlStorage, Storage, StorageConfig, StorageError};

/// A code location compiled into a user-code binary: a name and the function that
/// builds its definitions.
#[derive(Clone)]
pub struct CodeLocation {
    name: String,
    load: Loader,
}

/// The error an async loader may return: any error at all.
pub type LoaderError = Box<dyn std::error::Error + Send + Sync>;

type AsyncLoad = Arc<
    dyn Fn() -> std::pin::Pin<Box<dyn Future<Output = Result<Definitions, LoaderError>> + Send>>
        + Send
        + Sync,
>;

/// How a location's definitions are built.
#[derive(Clone)]
enum Loader {
    /// From code alone.
    Sync(fn() -> Result<Definitions, DefinitionError>),
    /// From data read at load time (an API, a database).
    Async(AsyncLoad),
}

impl CodeLocation {
    /// The location `name`, whose definitions `load` builds (when a command needs them).
    pub fn new(
        name: impl Into<String>,
        load: fn() -> Result<Definitions, DefinitionError>,
    ) -> Self {
        Self {
            name: name.into(),
            load: Loader::Sync(load),
        }
    }

    /// The location `name`, whose definitions `load` builds from data it reads when the
    /// location loads: one job per report an API lists, say. `load` may fail with any
    /// error; a failure (or a panic) is the location's load error, shown in the UI and
    /// GraphQL, and stops nothing else.
    ///
    /// The code server calls it once, when it starts (and again on each reload); the
    /// run workers it forks inherit the definitions it built, so a run does not call
    /// the API again (workers started with `--start-method exec` do).
    ///
    /// ```no_run
    /// # use sluice::prelude::*;
    /// # async fn list_reports() -> Result<Vec<String>, std::io::Error> { Ok(vec![]) }
    /// # fn report_job(name: &str) -> JobDefinition { JobDefinition::builder(name).build() }
    /// let reports = CodeLocation::new_async("reports", || async {
    ///     let names = list_reports().await?;
    ///     let defs = Definitions::builder().jobs(names.iter().map(|n| report_job(n))).build()?;
    ///     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(defs)
    /// });
    /// ```
    pub fn new_async<F, Fut, E>(name: impl Into<String>, load: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Definitions, E>> + Send + 'static,
        E: Into<LoaderError> + 'static,
    {
        let load: AsyncLoad = Arc::new(move || {
            let future = load();
            Box::pin(async move { future.await.map_err(Into::into) })
        });
        Self {
            name: name.into(),
            load: Loader::Async(load),
        }
    }

    /// The location's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Build and validate the location's definitions. A loader that panics is an
    /// error here, like one that fails.
    pub fn load(&self) -> Result<Definitions, UserCodeError> {
        let location = self.name.clone();
        let panicked = |payload: Box<dyn Any + Send>| UserCodeError::Loader {
            location: location.clone(),
            message: format!("the loader panicked: {}", panic_message(&*payload)),
        };
        match &self.load {
            Loader::Sync(load) => {
                std::panic::catch_unwind(load)
                    .map_err(panicked)?
                    .map_err(|source| UserCodeError::Definitions {
                        location: location.clone(),
                        source,
                    })
            }
            Loader::Async(load) => {
                // A runtime of its own on this thread, shut down (its blocking threads
                // joined) before this returns: the fork server must be forked from a
                // process with one thread.
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(UserCodeError::Runtime)?;
                let outcome =
                    std::panic::catch_unwind(AssertUnwindSafe(|| runtime.block_on(load())));
                runtime.shutdown_timeout(Duration::from_secs(10));
                outcome.map_err(panicked)?.map_err(|error| {
                    match error.downcast::<DefinitionError>() {
                        Ok(source) => UserCodeError::Definitions {
                            location: location.clone(),
                            source: *source,
                        },
                        Err(error) => UserCodeError::Loader {
                            location: location.clone(),
                            message: error.to_string(),
                        },
                    }
                })
            }
        }
    }
}

/// The message a panic carried, when it is text.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// What can go wrong in a user-code command, each with what to do about it.
#[derive(Debug, thiserror::Error)]
pub enum UserCodeError {
    /// `--location` names a location this binary does not have.
    #[error("no code location named \"{name}\"; this binary has: {available}")]
    UnknownLocation {
        /// The name given.
        name: String,
        /// The binary's locations, comma-separated.
        available: String,
    },
    /// The binary has several locations and no `--location` chose one.
    #[error("this binary has several code locations ({available}); choose one with --location")]
    LocationRequired {
        /// The binary's locations, comma-separated.
        available: String,
    },
    /// The location's loader failed or panicked.
    #[error("code location \"{location}\" failed to load: {message}")]
    Loader {
        /// The location's name.
        location: String,
        /// The loader's error, or its panic's message.
        message: String,
    },
    /// The location's definitions are invalid.
    #[error("code location \"{location}\" failed to load: {source}")]
    Definitions {
        /// The location's name.
        location: String,
        /// Every problem found.
        #[source]
        source: DefinitionError,
    },
    /// The job named is not in the location.
    #[error("job \"{job}\" not found in code location \"{location}\"; its jobs are: {available}")]
    JobNotFound {
        /// The job name given.
        job: String,
        /// The location's name.
        location: String,
        /// The location's jobs, comma-separated.
        available: String,
    },
    /// The asset selection (`--select`) cannot be parsed or resolved.
    #[error("code location \"{location}\": {source}")]
    AssetSelection {
        /// The location's name.
        location: String,
        /// What is wrong with the selection.
        #[source]
        source: SelectionError,
    },
    /// The partition named does not fit the job's partitioning.
    #[error("job \"{job}\": {source}")]
    Partition {
        /// The job.
        job: String,
        /// What is wrong with the partition.
        #[source]
        source: PartitionError,
    },
    /// The run config given is not valid JSON or YAML, or cannot be read.
    #[error("invalid run config: {0}")]
    ConfigParse(#[from] ConfigParseError),
    /// The run config does not fit the job's config schema.
    #[error("{0}")]
    RunConfig(RunConfigError),
    /// Instance storage failed.
    #[error("instance storage: {0}")]
    Storage(#[from] StorageError),
    /// The run worker failed.
    #[error("run worker: {0}")]
    Worker(#[from] WorkerError),
    /// The run id (given here) is not in instance storage.
    #[error("run {0} does not exist in the instance")]
    RunNotFound(String),
    /// The code server could not listen on its address.
    #[error("cannot serve on {address}: {source}")]
    Serve {
        /// The address, `HOST:PORT`.
        address: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The async runtime (or the process setup around it) could not start.
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// A command-line argument has a value that cannot be used.
    #[error("{argument}: {reason}")]
    InvalidArgument {
        /// The argument, as its flag (`--timeout`).
        argument: String,
        /// Why its value cannot be used.
        reason: String,
    },
    /// A `--tag` that sets a tag Sluice sets itself.
    #[error("--tag: {0}")]
    Tags(#[from] RunTagError),
}

impl UserCodeError {
    /// 2 for bad input (nothing was created), 1 for everything else.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::UnknownLocation { .. }
            | Self::LocationRequired { .. }
            | Self::JobNotFound { .. }
            | Self::AssetSelection { .. }
            | Self::Partition { .. }
            | Self::ConfigParse(_)
            | Self::RunConfig(_)
            | Self::RunNotFound(_)
            | Self::InvalidArgument { .. }
            | Self::Tags(_) => 2,
            _ => 1,
        }
    }
}

#[derive(Parser)]
#[command(
    name = "sluice-user-code",
    version,
    about = "Run the Sluice code locations compiled into this binary"
)]
struct Cli {
    /// The code location to use (optional when the binary has only one).
    #[arg(long, short = 'l', global = true, env = "SLUICE_LOCATION")]
    location: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// List and execute jobs.
    #[command(subcommand)]
    Job(JobCommand),
    /// List and materialize assets.
    #[command(subcommand)]
    Asset(AssetCommand),
    /// Check the location's definitions.
    #[command(subcommand)]
    Definitions(DefinitionsCommand),
    /// List the location's resources, or check that each one is reachable and healthy.
    #[command(subcommand)]
    Resources(ResourcesCommand),
    /// Serve the code-location protocol (snapshot, launch and terminate runs).
    Serve {
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// The port to listen on; 0 picks a free one (the address is printed).
        #[arg(long, short = 'p', default_value_t = 4000)]
        port: u16,
        /// How run workers start: forked from a process that has the location loaded
        /// (`forkserver`), or by executing this binary again (`exec`). Either way, each
        /// run gets a process of its own.
        #[arg(long, value_enum, default_value_t = StartMethod::Forkserver)]
        start_method: StartMethod,
    },
    /// Execute a stored run in this process (what the code server starts per run).
    ExecuteRun {
        #[arg(long)]
        run_id: String,
    },
}

/// How the code server starts run workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum StartMethod {
    Forkserver,
    Exec,
}

#[derive(Subcommand)]
enum JobCommand {
    /// List the location's jobs.
    List,
    /// Execute a job in this process against the instance storage ($SLUICE_HOME).
    Execute {
        /// The job to run.
        #[arg(short = 'j', long = "job")]
        job: String,
        /// Run config: a YAML or JSON file path, or YAML/JSON text. Repeat to merge
        /// several documents, later ones winning.
        #[arg(short = 'c', long = "config")]
        config: Vec<String>,
        /// A tag for the run, as KEY=VALUE. Repeatable.
        #[arg(long = "tag", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
    },
}

#[derive(Subcommand)]
enum AssetCommand {
    /// List the location's assets with their groups and upstream assets.
    List,
    /// Materialize a selection of assets in this process, against the instance storage
    /// ($SLUICE_HOME); upstream assets outside the selection are loaded from their
    /// latest materialization.
    Materialize {
        /// What to materialize: `raw/orders`, `*warehouse/revenue`, `group:staging+`,
        /// `tag:tier=gold and not key:raw/*`, ...
        #[arg(long)]
        select: String,
        /// The partition to materialize (sets the `dagster/partition` tag).
        #[arg(long)]
        partition: Option<String>,
        /// Run config: a YAML or JSON file path, or YAML/JSON text. Repeatable.
        #[arg(short = 'c', long = "config")]
        config: Vec<String>,
        /// A tag for the run, as KEY=VALUE. Repeatable.
        #[arg(long = "tag", value_parser = parse_tag)]
        tags: Vec<(String, String)>,
    },
}

#[derive(Subcommand)]
enum ResourcesCommand {
    /// The bound resources: key, type, and whether runs must give them config.
    List,
    /// Set each resource up, ask for its health and tear it down, all at once, and
    /// print each one's status. Exits 1 when any is not healthy.
    Check {
        /// Run config whose `resources:` section configures resources that need it:
        /// a YAML or JSON file path, or YAML/JSON text. Repeatable.
        #[arg(short = 'c', long = "config")]
        config: Vec<String>,
        /// Check only this resource (repeatable); all of them by default.
        #[arg(short = 'r', long = "resource")]
        resources: Vec<String>,
        /// Seconds each check may take.
        #[arg(long, default_value_t = 30.0)]
        timeout: f64,
        /// Keep checking the unhealthy ones, once a second, for up to this many
        /// seconds (services still starting).
        #[arg(long, default_value_t = 0.0)]
        wait: f64,
    },
}

#[derive(Subcommand)]
enum DefinitionsCommand {
    /// Load the definitions and report every problem.
    Validate,
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("expected KEY=VALUE, got \"{s}\"")),
    }
}

/// Run the user-code command line over `locations`; call it from the binary's `main`.
pub fn main(locations: Vec<CodeLocation>) -> ExitCode {
    crate::memory::limit_malloc_arenas();
    let cli = Cli::parse();
    crate::logging::init("warn");
    match run(cli, &locations) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn choose<'a>(
    locations: &'a [CodeLocation],
    name: Option<&str>,
) -> Result<&'a CodeLocation, UserCodeError> {
    let available = || {
        locations
            .iter()
            .map(|l| l.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match (name, locations) {
        (Some(name), _) => locations.iter().find(|l| l.name == name).ok_or_else(|| {
            UserCodeError::UnknownLocation {
                name: name.to_owned(),
                available: available(),
            }
        }),
        (None, [only]) => Ok(only),
        (None, _) => Err(UserCodeError::LocationRequired {
            available: available(),
        }),
    }
}

fn run(cli: Cli, locations: &[CodeLocation]) -> Result<ExitCode, UserCodeError> {
    let location = choose(locations, cli.location.as_deref())?;
    match cli.command {
        Command::Definitions(DefinitionsCommand::Validate) => {
            let defs = location.load()?;
            println!(
                "Code location \"{}\" is valid: {} assets, {} jobs, {} resources, {} schedules, {} sensors.",
                location.name,
                defs.assets().count(),
                defs.jobs().count(),
                defs.resources().len(),
                defs.schedules().count(),
                defs.sensors().count()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Resources(ResourcesCommand::List) => {
            let defs = location.load()?;
            print!("{}", crate::resource_check::list(&defs));
            Ok(ExitCode::SUCCESS)
        }
        Command::Resources(ResourcesCommand::Check {
            config,
            resources,
            timeout,
            wait,
        }) => {
            let defs = location.load()?;
            let mut run_config = Value::Object(Default::default());
            for arg in &config {
                config::merge(&mut run_config, config::load_document(arg)?);
            }
            let seconds = |value: f64, flag: &str| {
                Duration::try_from_secs_f64(value).map_err(|_| UserCodeError::InvalidArgument {
                    argument: flag.to_owned(),
                    reason: format!("{value} is not a number of seconds"),
                })
            };
            let (timeout, wait) = (seconds(timeout, "--timeout")?, seconds(wait, "--wait")?);
            let reports = runtime()?
                .block_on(crate::resource_check::check(
                    &defs,
                    &resources,
                    &run_config,
                    timeout,
                    wait,
                ))
                .map_err(|reason| UserCodeError::InvalidArgument {
                    argument: "--resource".to_owned(),
                    reason,
                })?;
            print!("{}", crate::resource_check::render(&reports));
            Ok(if reports.iter().all(|r| r.outcome.is_ok()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Job(JobCommand::List) => {
            let defs = location.load()?;
            for job in defs.jobs() {
                match job.description() {
                    Some(d) => println!("{}\t{d}", job.name()),
                    None => println!("{}", job.name()),
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Job(JobCommand::Execute { job, config, tags }) => {
            runtime()?.block_on(execute(location, &job, &config, tags, None))
        }
        Command::Asset(AssetCommand::List) => {
            let defs = location.load()?;
            for asset in defs.assets() {
                let deps: Vec<String> = asset.deps().iter().map(|d| d.key.to_string()).collect();
                let kind = if asset.is_source() { "source" } else { "asset" };
                println!(
                    "{}\t{kind}\tgroup:{}\t<- [{}]",
                    asset.key(),
                    asset.group(),
                    deps.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Asset(AssetCommand::Materialize {
            select,
            partition,
            config,
            mut tags,
        }) => {
            let defs = location.load()?;
            let selection_error = |source| UserCodeError::AssetSelection {
                location: location.name.clone(),
                source,
            };
            let selection = AssetSelection::parse(&select).map_err(selection_error)?;
            let steps = defs.asset_steps(&selection).map_err(selection_error)?;
            if steps.is_empty() {
                return Err(selection_error(SelectionError::Empty { text: select }));
            }
            if let Some(p) = partition {
                tags.push((PARTITION_TAG.to_owned(), p));
            }
            runtime()?.block_on(execute(
                location,
                ASSET_JOB_NAME,
                &config,
                tags,
                Some(steps),
            ))
        }
        Command::Serve {
            host,
            port,
            start_method,
        } => {
            let defs = location.load()?;
            let storage = StorageConfig::from_env()?;
            // The fork server must be forked before the runtime starts any thread.
            let fork_server = match start_method {
                StartMethod::Forkserver => start_fork_server(&defs, &storage),
                StartMethod::Exec => None,
            };
            runtime()?.block_on(serve(location, &defs, &storage, fork_server, &host, port))
        }
        Command::ExecuteRun { run_id } => {
            let defs = location.load()?;
            let status = runtime()?.block_on(execute_stored_run(&defs, &run_id))?;
            Ok(ExitCode::from(status_code(status)))
        }
    }
}

/// Fork the fork server, whose children execute runs of `defs` on the instance `storage`
/// describes. `None` (workers are then executed as commands) if it cannot start, with a
/// warning saying why.
fn start_fork_server(defs: &Definitions, storage: &StorageConfig) -> Option<ForkServer> {
    let worker = |run_id: &str, payload: &[u8]| -> i32 {
        // The code server hands over the run it has just read (see `CodeServer`).
        let run = serde_json::from_slice::<Run>(payload).ok();
        let outcome = runtime().and_then(|rt| {
            let status = rt.block_on(execute_forked_run(defs, storage, run_id, run));
            // The process ends next: its threads need not be waited for.
            rt.shutdown_background();
            status
        });
        match outcome {
            Ok(status) => i32::from(status_code(status)),
            Err(e) => {
                eprintln!("error: {e}");
                i32::from(e.exit_code())
            }
        }
    };
    match ForkServer::start(worker) {
        Ok(server) => Some(server),
        Err(e) => {
            tracing::warn!("run workers will be started with exec: {e}");
            None
        }
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, UserCodeError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(UserCodeError::Runtime)
}

async fn open_storage() -> Result<Arc<dyn Storage>, UserCodeError> {
    Ok(sluice_storage::open(&StorageConfig::from_env()?).await?)
}

/// The exit code of a process that executed a run: 0 success, 130 canceled, else 1.
fn status_code(status: RunStatus) -> u8 {
    match status {
        RunStatus::Success => 0,
        RunStatus::Canceled => 130,
        _ => 1,
    }
}

async fn serve(
    location: &CodeLocation,
    defs: &Definitions,
    storage: &StorageConfig,
    fork_server: Option<ForkServer>,
    host: &str,
    port: u16,
) -> Result<ExitCode, UserCodeError> {
    let storage = sluice_storage::open(storage).await?;
    let launcher = match fork_server {
        Some(fork_server) => {
            WorkerLauncher::Fork(fork_server.connect().map_err(UserCodeError::Runtime)?)
        }
        None => WorkerLauncher::Exec(WorkerCommand {
            program: std::env::current_exe().map_err(UserCodeError::Runtime)?,
            args: vec!["--location".to_owned(), location.name.clone()],
        }),
    };
    let address = format!("{host}:{port}");
    let listener = tokio::net::TcpListener::bind(&address)
        .await
        .map_err(|source| UserCodeError::Serve {
            address: address.clone(),
            source,
        })?;
    let bound = listener
        .local_addr()
        .map_err(|source| UserCodeError::Serve { address, source })?;
    eprintln!(
        "Code server for location \"{}\" listening on http://{bound}",
        location.name
    );
    let server = CodeServer::new(&location.name, defs, storage, launcher);
    let shutdown = crate::signals::shutdown_on_signals("Stopping the code server");
    sluice_codeserver::server::serve(listener, server, shutdown)
        .await
        .map_err(|source| UserCodeError::Serve {
            address: bound.to_string(),
            source,
        })?;
    Ok(ExitCode::SUCCESS)
}

/// Execute the stored run `run_id` of `defs` in this process: what a run worker does.
async fn execute_stored_run(defs: &Definitions, run_id: &str) -> Result<RunStatus, UserCodeError> {
    execute_run(defs, open_storage().await?, run_id, None).await
}

/// What a worker forked by the fork server does: [`execute_stored_run`] on storage opened
/// for a run worker (its code server has opened the instance already), with the run its
/// code server handed over, if any.
async fn execute_forked_run(
    defs: &Definitions,
    storage: &StorageConfig,
    run_id: &str,
    run: Option<Run>,
) -> Result<RunStatus, UserCodeError> {
    let storage = Arc::new(SqlStorage::open_for_run_worker(storage).await?);
    execute_run(defs, storage, run_id, run).await
}

/// Execute run `run_id` of `defs` (`run` if given, else as stored) in this process.
async fn execute_run(
    defs: &Definitions,
    storage: Arc<dyn Storage>,
    run_id: &str,
    run: Option<Run>,
) -> Result<RunStatus, UserCodeError> {
    let run = match run.filter(|r| r.run_id == run_id) {
        Some(run) => run,
        None => storage
            .get_run(run_id)
            .await?
            .ok_or_else(|| UserCodeError::RunNotFound(run_id.to_owned()))?,
    };
    let cancel = crate::signals::shutdown_on_signals("Terminating the run");
    let status =
        sluice_codeserver::execute_run(defs, storage, &run, cancel, Some(Arc::new(ConsoleSink)))
            .await?;
    Ok(status)
}

/// Refuse a run whose partition (its `dagster/partition` tag) does not exist, or that
/// lacks one its assets need, before anything is stored.
async fn check_partition(
    defs: &Definitions,
    location: &CodeLocation,
    job_name: &str,
    steps: Option<&[String]>,
    tags: &BTreeMap<String, String>,
    storage: &dyn Storage,
) -> Result<(), UserCodeError> {
    let invalid = |source| UserCodeError::Partition {
        job: job_name.to_owned(),
        source,
    };
    let snapshot = defs.snapshot(&location.name);
    let Some(job) = snapshot.job(job_name) else {
        return Ok(());
    };
    let partitions = snapshot.run_partitions(job, steps).map_err(invalid)?;
    let ctx = sluice_storage::partitions_context(storage, partitions.definition).await?;
    partitions.check_tags(tags, &ctx).map_err(invalid)
}

/// Prints each event as it happens, for a person watching a run.
struct ConsoleSink;

impl EventSink for ConsoleSink {
    fn emit(&self, event: RunEvent) {
        use std::io::Write;
        // One write per event: stderr is unbuffered, and a formatted line would
        // otherwise cost a system call per piece.
        let line = format!("{event}\n");
        let _ = std::io::stderr().lock().write_all(line.as_bytes());
    }
}

async fn execute(
    location: &CodeLocation,
    job_name: &str,
    config_args: &[String],
    tags: Vec<(String, String)>,
    step_keys: Option<Vec<String>>,
) -> Result<ExitCode, UserCodeError> {
    let started = Instant::now();
    let defs = location.load()?;
    let job = defs
        .job(job_name)
        .ok_or_else(|| UserCodeError::JobNotFound {
            job: job_name.to_owned(),
            location: location.name.clone(),
            available: defs.jobs().map(|j| j.name()).collect::<Vec<_>>().join(", "),
        })?;
    let mut run_config = Value::Object(Default::default());
    for arg in config_args {
        config::merge(&mut run_config, config::load_document(arg)?);
    }
    // Refuse invalid config before anything is stored.
    run_config::resolve(&defs, job, &run_config).map_err(UserCodeError::RunConfig)?;

    let storage = open_storage().await?;
    check_request_tags(tags.iter().map(|(key, value)| (key, value)))?;
    let mut run_tags: BTreeMap<String, String> = job.tags().clone();
    run_tags.extend(tags);
    check_partition(
        &defs,
        location,
        job_name,
        step_keys.as_deref(),
        &run_tags,
        &*storage,
    )
    .await?;
    let new_run = NewRun {
        location_name: Some(location.name.clone()),
        run_config,
        tags: run_tags,
        step_keys_to_execute: step_keys,
        ..NewRun::new(job_name)
    };
    let run = storage.create_run(&new_run).await?;

    let cancel = crate::signals::shutdown_on_signals("Terminating the run");
    let status =
        sluice_codeserver::execute_run(&defs, storage, &run, cancel, Some(Arc::new(ConsoleSink)))
            .await?;
    eprintln!(
        "Run {} of job \"{job_name}\": {status} in {}.",
        run.run_id,
        human_ms(started.elapsed().as_secs_f64() * 1000.0)
    );
    Ok(ExitCode::from(status_code(status)))
}
