//! A cron expression and an optional timezone (after a newline), as schedules take
//! them; a valid one must also yield its next ticks.
#![no_main]

use chrono::{TimeZone, Utc};
use sluice_core::schedule::CronSchedule;

libfuzzer_sys::fuzz_target!(|text: &str| {
    let (expression, timezone) = match text.split_once('\n') {
        Some((e, tz)) => (e, Some(tz)),
        None => (text, None),
    };
    if let Ok(cron) = CronSchedule::parse(expression, timezone)
        && let Some(start) = Utc.timestamp_opt(1_700_000_000, 0).single()
    {
        let _ = cron.ticks_after(start).take(3).count();
    }
});
