//! The `storage` section of a `sluice.yaml`, with `${VAR}` references resolved from a
//! fixed environment.
#![no_main]

use std::path::Path;

libfuzzer_sys::fuzz_target!(|text: &str| {
    let env = |name: &str| (name == "DB_PASSWORD").then(|| "s3cret".to_owned());
    let _ = sluice_storage::StorageConfig::from_yaml(
        text,
        Path::new("sluice.yaml"),
        Path::new("/tmp/sluice-fuzz-home"),
        &env,
    );
});
