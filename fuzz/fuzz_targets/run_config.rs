//! A run config document (YAML or JSON text) as `--config` and the launchpad take it.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = sluice_core::config::parse_document(text, "fuzz");
});
