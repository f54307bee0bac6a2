//! What the resource tests share: the local Postgres and S3 servers, and running a job
//! in-process.

// Each test binary uses only some of these helpers.
#![allow(dead_code)]

/// The moto server's endpoint; the suite fails, saying how to start it, without one.
pub(crate) fn s3_endpoint() -> String {
    std::env::var("SLUICE_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "SLUICE_TEST_S3_ENDPOINT is not set: run the suite through tests/run.sh, which \
             starts a moto S3 server, or start one (tests/services/s3.sh) and export its URL"
        )
    })
}

/// A new bucket named after `name` on the moto server: (endpoint, bucket).
pub(crate) async fn create_bucket(name: &str) -> (String, String) {
    let endpoint = s3_endpoint();
    let bucket = format!("{name}-{}-{}", std::process::id(), fastrand::u32(..));
    // moto accepts an unsigned, path-style bucket creation.
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .expect("the S3 server answers");
    assert!(created.status().is_success(), "{created:?}");
    (endpoint, bucket)
}

/// The Postgres database of the tests: `$SLUICE_TEST_POSTGRES_URL`, or the one
/// `tests/services/postgres.sh` provisions.
pub(crate) fn postgres_url() -> String {
    std::env::var("SLUICE_TEST_POSTGRES_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "postgres://sluice:sluice@127.0.0.1:5432/sluice_test".to_owned())
}

/// Run `job` of `defs` in-process with `config` as its run config: its status and events.
pub(crate) async fn execute_job(
    defs: &sluice_core::definitions::Definitions,
    job: &str,
    config: &serde_json::Value,
    run_id: &str,
) -> (
    sluice_core::run::RunStatus,
    Vec<sluice_core::events::RunEvent>,
) {
    let job = defs.job(job).expect("the job is defined");
    let resolved = sluice_core::run_config::resolve(defs, job, config).expect("valid run config");
    let sink = std::sync::Arc::new(sluice_core::events::MemorySink::default());
    let status = sluice_core::executor::execute(
        &sluice_core::plan::ExecutionPlan::for_job(job),
        resolved,
        sluice_core::executor::RunContext::new(run_id, sink.clone()),
    )
    .await;
    (status, sink.events())
}

/// The config of an S3 resource on `prefix` of `bucket` at the moto server `endpoint`.
pub(crate) fn s3_config(
    endpoint: &str,
    bucket: &str,
    prefix: &str,
) -> sluice_resources::s3::S3Config {
    use sluice_core::config::StringSource;
    sluice_resources::s3::S3Config {
        endpoint: Some(StringSource::from(endpoint)),
        region: Some("us-east-1".into()),
        access_key_id: Some(StringSource::from("testing")),
        secret_access_key: Some(StringSource::from("testing")),
        allow_http: true,
        ..sluice_resources::s3::S3Config::new(format!("s3://{bucket}/{prefix}"))
    }
}

/// A new bucket named after `name` on the moto server, and the config of an S3
/// resource on `prefix` in it.
pub(crate) async fn moto_config(name: &str, prefix: &str) -> sluice_resources::s3::S3Config {
    let (endpoint, bucket) = create_bucket(name).await;
    s3_config(&endpoint, &bucket, prefix)
}
