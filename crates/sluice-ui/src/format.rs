//! How values read on a page: times (shown in the viewer's timezone by `sluice.js`, in
//! UTC without it), human durations, short run ids.

use maud::{Markup, html};
use sluice_core::events::timestamp_to_datetime;

/// A moment as a `<time>` element: ISO 8601 in `datetime`, UTC text that `sluice.js`
/// rewrites in the viewer's timezone.
pub(crate) fn time(seconds: f64) -> Markup {
    let t = timestamp_to_datetime(seconds);
    html! {
        time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)) {
            (t.format("%Y-%m-%d %H:%M:%S UTC"))
        }
    }
}

/// A moment, or a dash when there is none.
pub(crate) fn maybe_time(seconds: Option<f64>) -> Markup {
    match seconds {
        Some(s) => time(s),
        None => html! { span.muted { "–" } },
    }
}

/// A duration as people say it: `350 ms`, `12.4 s`, `4m 05s`, `2h 03m`, `3d 4h`.
pub(crate) fn duration(seconds: f64) -> String {
    let seconds = seconds.max(0.0);
    if seconds < 1.0 {
        return format!("{} ms", (seconds * 1000.0).round() as u64);
    }
    if seconds < 60.0 {
        return format!("{seconds:.1} s");
    }
    let whole = seconds.round() as u64;
    let (d, h, m, s) = (
        whole / 86_400,
        whole / 3600 % 24,
        whole / 60 % 60,
        whole % 60,
    );
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m:02}m")
    } else {
        format!("{m}m {s:02}s")
    }
}

/// How long something took from `start` to `end`; while it runs (no end), a duration
/// that `sluice.js` keeps counting from `start`.
pub(crate) fn elapsed(start: Option<f64>, end: Option<f64>, now: f64) -> Markup {
    match (start, end) {
        (Some(start), Some(end)) => html! { (duration(end - start)) },
        (Some(start), None) => html! {
            span data-since=(format!("{start:.3}")) { (duration(now - start)) }
        },
        _ => html! { span.muted { "–" } },
    }
}

/// The first eight characters of a run id, as Dagster shows them.
pub(crate) fn short_id(run_id: &str) -> &str {
    run_id.get(..8).unwrap_or(run_id)
}

/// `1 run`, `3 runs`.
pub(crate) fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_a_person_writes_them() {
        assert_eq!(duration(0.0), "0 ms");
        assert_eq!(duration(0.3504), "350 ms");
        assert_eq!(duration(12.44), "12.4 s");
        assert_eq!(duration(245.0), "4m 05s");
        assert_eq!(duration(7380.0), "2h 03m");
        assert_eq!(duration(3.0 * 86_400.0 + 4.0 * 3600.0), "3d 4h");
        assert_eq!(duration(-5.0), "0 ms");
    }

    #[test]
    fn times_carry_iso_and_utc_text() {
        let markup = time(1_764_700_000.25).into_string();
        assert_eq!(
            markup,
            "<time datetime=\"2025-12-02T18:26:40.250Z\">2025-12-02 18:26:40 UTC</time>"
        );
        assert_eq!(short_id("0123456789abcdef"), "01234567");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(count(1, "run", "runs"), "1 run");
        assert_eq!(count(2, "run", "runs"), "2 runs");
    }
}
