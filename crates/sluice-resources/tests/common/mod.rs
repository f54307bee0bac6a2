//! The local S3 server the object storage tests share.

/// The moto server's endpoint; the suite fails, saying how to start it, without one.
pub fn s3_endpoint() -> String {
    std::env::var("SLUICE_TEST_S3_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "SLUICE_TEST_S3_ENDPOINT is not set: run the suite through tests/run.sh, which \
             starts a moto S3 server, or start one (tests/services/s3.sh) and export its URL"
        )
    })
}

/// A new bucket named after `name` on the moto server: (endpoint, bucket).
pub async fn create_bucket(name: &str) -> (String, String) {
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
