//! An asset selection in Dagster's text syntax (`key:a/b+`, `group:x and not tag:y`).
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = sluice_core::asset::AssetSelection::parse(text);
});
