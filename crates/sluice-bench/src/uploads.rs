//! `sluice-bench upload`: the object storage resource's multipart upload of a large file
//! against a single `curl -T` PUT of the same file to the same local S3 server (moto).
//!
//! The server is `--endpoint`, or `$SLUICE_TEST_S3_ENDPOINT`, or one started here with
//! `tests/services/s3.sh` from the test venv (`target/py-venv`, which `tests/run.sh`
//! makes).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use sluice_core::config::StringSource;
use sluice_resources::s3::{S3Config, S3Resource};

/// A moto server this benchmark started, stopped when dropped.
pub(crate) struct Moto {
    pid: String,
}

impl Moto {
    /// A guard that stops process `pid` (any test server) when dropped.
    pub(crate) fn new(pid: String) -> Self {
        Self { pid }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg(&self.pid).status();
    }
}

fn start_moto() -> Result<(String, Moto)> {
    let venv = Path::new("target/py-venv");
    if !venv.join("bin/python").exists() {
        bail!("no test venv at target/py-venv: run tests/run.sh once, or pass --endpoint");
    }
    let pidfile =
        std::env::temp_dir().join(format!("sluice-bench-moto-{}.pid", std::process::id()));
    let out = Command::new("bash")
        .arg("tests/services/s3.sh")
        .arg(venv)
        .arg(&pidfile)
        .output()
        .context("running tests/services/s3.sh (run from the repository root)")?;
    if !out.status.success() {
        bail!(
            "tests/services/s3.sh: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let pid = std::fs::read_to_string(&pidfile)?.trim().to_owned();
    let endpoint = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    Ok((endpoint, Moto { pid }))
}

/// The S3 server to measure against: `endpoint`, or `$SLUICE_TEST_S3_ENDPOINT`, or a
/// moto server started now (stopped when the returned guard is dropped).
pub(crate) fn s3_server(endpoint: Option<String>) -> Result<(String, Option<Moto>)> {
    match endpoint.or_else(|| std::env::var("SLUICE_TEST_S3_ENDPOINT").ok()) {
        Some(endpoint) => Ok((endpoint, None)),
        None => {
            let (endpoint, moto) = start_moto()?;
            Ok((endpoint, Some(moto)))
        }
    }
}

/// Create `bucket` on the local S3 server (moto takes an unsigned request).
pub(crate) async fn create_bucket(endpoint: &str, bucket: &str) -> Result<()> {
    let created = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}"))
        .send()
        .await
        .context("creating the bucket")?;
    if !created.status().is_success() {
        bail!("creating the bucket: {}", created.status());
    }
    Ok(())
}

/// An S3 resource on `bucket` of the local server.
pub(crate) fn s3_resource(endpoint: &str, bucket: &str, sign_payload: bool) -> Result<S3Resource> {
    Ok(S3Resource::new(&S3Config {
        endpoint: Some(StringSource::from(endpoint)),
        region: Some("us-east-1".into()),
        access_key_id: Some(StringSource::from("bench")),
        secret_access_key: Some(StringSource::from("bench")),
        allow_http: true,
        sign_payload: Some(sign_payload),
        ..S3Config::new(format!("s3://{bucket}/sluice"))
    })?)
}

pub(crate) fn bench(size_mb: usize, repeat: usize, endpoint: Option<String>) -> Result<()> {
    let (endpoint, _moto) = s3_server(endpoint)?;
    let dir = tempfile::tempdir()?;
    let file: PathBuf = dir.path().join("upload.bin");
    let size = size_mb << 20;
    let mut rng_state = 0x9E37_79B9_7F4A_7C15_u64;
    let data: Vec<u8> = (0..size)
        .map(|_| {
            rng_state ^= rng_state << 13;
            rng_state ^= rng_state >> 7;
            rng_state ^= rng_state << 17;
            rng_state as u8
        })
        .collect();
    std::fs::write(&file, &data)?;
    drop(data);
    println!("# sluice-bench upload: a {size_mb} MiB file to {endpoint}, median of {repeat}");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let bucket = format!("bench-{}", std::process::id());
    runtime.block_on(create_bucket(&endpoint, &bucket))?;

    let mut curl = Vec::with_capacity(repeat);
    for i in 0..repeat {
        let started = Instant::now();
        let status = Command::new("curl")
            .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-T"])
            .arg(&file)
            .arg(format!("{endpoint}/{bucket}/curl-{i}.bin"))
            .output()
            .context("running curl")?;
        let seconds = started.elapsed().as_secs_f64();
        let code = String::from_utf8_lossy(&status.stdout).to_string();
        if !status.status.success() || !code.starts_with('2') {
            bail!(
                "curl PUT failed: HTTP {code} {}",
                String::from_utf8_lossy(&status.stderr)
            );
        }
        curl.push(seconds);
    }

    let mib_s = |seconds: f64| size_mb as f64 / seconds;
    let curl = crate::median(curl);
    println!(
        "curl -T (one PUT, no signature): {:.2} s, {:.0} MiB/s",
        curl,
        mib_s(curl)
    );
    // Unsigned first: like for like with curl (and the default over HTTPS); then with
    // the body hashed into the signature (the default over plain HTTP).
    for sign_payload in [false, true] {
        let store = s3_resource(&endpoint, &bucket, sign_payload)?;
        let mut ours = Vec::with_capacity(repeat);
        for i in 0..repeat {
            let started = Instant::now();
            let sent = runtime.block_on(store.upload_file(&file, &format!("upload-{i}.bin")))?;
            ours.push(started.elapsed().as_secs_f64());
            if sent != size as u64 {
                bail!("uploaded {sent} bytes of {size}");
            }
        }
        let ours = crate::median(ours);
        println!(
            "S3Resource::upload_file (multipart, {} MiB parts, sign_payload {sign_payload}): {:.2} s, {:.0} MiB/s, {:.0}% of curl{}",
            sluice_resources::s3::PART_SIZE >> 20,
            ours,
            mib_s(ours),
            100.0 * curl / ours,
            if sign_payload {
                ""
            } else {
                " (target ≥ 80%)"
            }
        );
    }
    Ok(())
}
