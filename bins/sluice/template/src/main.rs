//! The binary of the `{{name}}` code location: its code server (`serve`), its run
//! workers, and local commands (`job list`, `job execute`, `definitions validate`).

fn main() -> std::process::ExitCode {
    sluice::user_code::main(vec![sluice::CodeLocation::new(
        "{{name}}",
        {{crate}}::definitions,
    )])
}
