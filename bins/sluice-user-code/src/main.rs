//! The user-code binary of the bundled code locations.

use std::process::ExitCode;

use sluice::CodeLocation;

fn main() -> ExitCode {
    sluice::user_code::main(vec![CodeLocation::new(
        "demo",
        sluice_location_demo::definitions,
    )])
}
