//! A `workspace.yaml`.
#![no_main]

libfuzzer_sys::fuzz_target!(|text: &str| {
    let _ = sluice_codeserver::WorkspaceFile::parse(text, "workspace.yaml");
});
