//! Definitions built from data at load time (`CodeLocation::new_async`): one job per
//! name a source lists; a loader that fails or panics is a load error naming the
//! location, never a crash.

#![allow(clippy::unwrap_used)]

use sluice::prelude::*;
use sluice::user_code::UserCodeError;

/// A job per report name, as a location would make one per report an API lists.
fn report_job(name: &str) -> JobDefinition {
    let render = OpDefinition::builder("render").compute(|_, _| async { Ok(()) });
    let mut job = JobDefinition::builder(format!("report_{name}"));
    job.add(&render);
    job.build()
}

#[test]
fn jobs_come_from_what_the_loader_reads() {
    let location = CodeLocation::new_async("reports", || async {
        // What an HTTP API or a database would answer, read on the loader's runtime.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let names = ["sales", "churn"];
        Definitions::builder()
            .jobs(names.iter().map(|n| report_job(n)))
            .build()
    });
    let defs = location.load().unwrap();
    let jobs: Vec<&str> = defs.jobs().map(|j| j.name()).collect();
    assert!(
        jobs.contains(&"report_sales") && jobs.contains(&"report_churn"),
        "{jobs:?}"
    );
}

#[test]
fn a_failing_loader_is_a_load_error_naming_the_location() {
    let location = CodeLocation::new_async("reports", || async {
        Err::<Definitions, _>(std::io::Error::other("GET /reports answered 503"))
    });
    let err = location.load().err().unwrap();
    assert!(matches!(err, UserCodeError::Loader { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "code location \"reports\" failed to load: GET /reports answered 503"
    );
    // Invalid definitions from a loader keep their own error.
    let location = CodeLocation::new_async("reports", || async {
        Definitions::builder()
            .jobs([report_job("x"), report_job("x")])
            .build()
    });
    let err = location.load().err().unwrap();
    assert!(matches!(err, UserCodeError::Definitions { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("\"report_x\" is defined more than once"),
        "{err}"
    );
}

#[test]
fn a_panicking_loader_is_a_load_error_too() {
    let location = CodeLocation::new_async("reports", || async {
        let listed: Vec<&str> = Vec::new();
        let first = listed[0];
        Definitions::builder().job(report_job(first)).build()
    });
    let err = location.load().err().unwrap();
    assert!(
        err.to_string().starts_with(
            "code location \"reports\" failed to load: the loader panicked: index out of bounds"
        ),
        "{err}"
    );
    fn panics() -> Result<Definitions, DefinitionError> {
        panic!("no reports configured")
    }
    let err = CodeLocation::new("reports", panics).load().err().unwrap();
    assert_eq!(
        err.to_string(),
        "code location \"reports\" failed to load: the loader panicked: no reports configured"
    );
}
