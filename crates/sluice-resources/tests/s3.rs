//! The object storage resource against an S3-compatible server (moto, which
//! `tests/run.sh` starts and names in `$SLUICE_TEST_S3_ENDPOINT`) and a local directory:
//! every verb, multipart upload and streamed download of a large file, presigned URLs,
//! and clear errors. Without the server the tests fail; they never skip.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use object_store::signer::Method;
use sluice_core::config::StringSource;
use sluice_resources::s3::{PART_SIZE, S3Config, S3Error, S3Resource};

/// A fresh bucket on the moto server, and the resource's config for `prefix` in it.
async fn bucket(name: &str, prefix: &str) -> S3Config {
    common::moto_config(name, prefix).await
}

/// `n` bytes that are not all alike.
fn data(n: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(7);
    (0..n).map(|_| rng.u8(..)).collect()
}

/// Every verb through `store`, the same for every backend.
async fn every_verb(store: &S3Resource) {
    store.health_check().await.unwrap();
    store.put("raw/a.csv", "id,amount\n1,10\n").await.unwrap();
    store.put("raw/b.csv", "id,amount\n2,20\n").await.unwrap();
    store.put("staging/c.csv", "id\n3\n").await.unwrap();
    assert_eq!(
        &store.get("raw/a.csv").await.unwrap()[..],
        b"id,amount\n1,10\n"
    );
    assert_eq!(
        &store.get_range("raw/b.csv", 3..9).await.unwrap()[..],
        b"amount"
    );
    assert_eq!(store.head("raw/a.csv").await.unwrap().unwrap().size, 15);
    assert!(store.head("raw/none.csv").await.unwrap().is_none());
    let listed: Vec<String> = store
        .list("raw")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(listed, ["raw/a.csv", "raw/b.csv"]);
    store.copy("raw/a.csv", "archive/a.csv").await.unwrap();
    store.delete("raw/a.csv").await.unwrap();
    store.delete("raw/a.csv").await.unwrap();
    let all: Vec<String> = store
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(all, ["archive/a.csv", "raw/b.csv", "staging/c.csv"]);
    let err = store.get("raw/a.csv").await.unwrap_err();
    assert!(matches!(err, S3Error::Store { action: "get", .. }), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("cannot get {}/raw/a.csv: ", store.url())),
        "{err}"
    );

    // A file of three parts goes up as a multipart upload and comes back whole.
    let dir = tempfile::tempdir().unwrap();
    let big = data(2 * PART_SIZE + 123_456);
    let source = dir.path().join("big.parquet");
    std::fs::write(&source, &big).unwrap();
    let sent = store
        .upload_file(&source, "exports/big.parquet")
        .await
        .unwrap();
    assert_eq!(sent, big.len() as u64);
    assert_eq!(
        store
            .head("exports/big.parquet")
            .await
            .unwrap()
            .unwrap()
            .size,
        big.len() as u64
    );
    let back = dir.path().join("back.parquet");
    let written = store
        .download_file("exports/big.parquet", &back)
        .await
        .unwrap();
    assert_eq!(written, big.len() as u64);
    assert!(
        std::fs::read(&back).unwrap() == big,
        "the download differs from the upload"
    );
    let err = store
        .upload_file(&dir.path().join("missing.csv"), "x")
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("cannot read local file ") && err.contains("missing.csv"),
        "{err}"
    );
}

#[tokio::test]
async fn s3_does_every_verb_streams_large_files_and_presigns_urls() {
    let config = bucket("verbs", "pipeline/run-1").await;
    let store = S3Resource::new(&config).unwrap();
    every_verb(&store).await;

    // Presigned URLs work without credentials.
    let get = store
        .presigned_url(Method::GET, "raw/b.csv", Duration::from_secs(60))
        .await
        .unwrap();
    let body = reqwest::get(get).await.unwrap().text().await.unwrap();
    assert_eq!(body, "id,amount\n2,20\n");
    let put = store
        .presigned_url(Method::PUT, "uploads/report.json", Duration::from_secs(60))
        .await
        .unwrap();
    let sent = reqwest::Client::new()
        .put(put)
        .body("{\"ok\":true}")
        .send()
        .await
        .unwrap();
    assert!(sent.status().is_success(), "{sent:?}");
    assert_eq!(
        &store.get("uploads/report.json").await.unwrap()[..],
        b"{\"ok\":true}"
    );
}

#[tokio::test]
async fn a_local_directory_is_the_same_store_without_presigning() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("file://{}/lake", dir.path().display());
    let store = S3Resource::new(&S3Config::new(url.as_str())).unwrap();
    every_verb(&store).await;
    assert!(dir.path().join("lake/raw/b.csv").exists());
    let err = store
        .presigned_url(Method::GET, "raw/b.csv", Duration::from_secs(60))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("{url} cannot presign URLs: only S3 stores can")
    );
}

#[tokio::test]
async fn unreachable_servers_and_bad_urls_are_clear_errors() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let store = S3Resource::new(&S3Config {
        endpoint: Some(StringSource::from(
            format!("http://127.0.0.1:{closed}").as_str(),
        )),
        region: Some("us-east-1".into()),
        access_key_id: Some(StringSource::from("testing")),
        secret_access_key: Some(StringSource::from("not-shown-secret")),
        allow_http: true,
        timeout_seconds: 2.0,
        max_retries: 1,
        ..S3Config::new("s3://nowhere/x")
    })
    .unwrap();
    let started = Instant::now();
    let err = store.get("a.csv").await.unwrap_err().to_string();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        err.starts_with("cannot get s3://nowhere/x/a.csv: "),
        "{err}"
    );
    assert!(!err.contains("not-shown-secret"), "{err}");

    for (url, message) in [
        ("ftp://files/x", "scheme \"ftp\" is not s3, file or memory"),
        ("s3:///x", "names no bucket"),
        ("not a url", "url \"not a url\""),
    ] {
        let err = S3Resource::new(&S3Config::new(url))
            .unwrap_err()
            .to_string();
        assert!(err.contains(message), "{err}");
    }
}
