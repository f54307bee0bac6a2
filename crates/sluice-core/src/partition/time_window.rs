//! Time-window partitions: one partition per hour, day, week or month from a start date,
//! in a timezone, as Dagster's `HourlyPartitionsDefinition` and its siblings.
//!
//! A partition's key is the start of its window formatted with `fmt`. Windows follow the
//! wall clock of the timezone: across a daylight-saving change an hourly definition has
//! no partition for the skipped hour, and two for the repeated one, the second keyed with
//! its UTC offset appended (`2023-11-05-01:00-0500`). Daily and longer windows keep one
//! partition per day, week or month whatever the clock does.

use std::fmt;

use chrono::format::{Item, Parsed, StrftimeItems};
use chrono::offset::LocalResult;
use chrono::{
    DateTime, Datelike, Duration, Months, NaiveDateTime, NaiveTime, TimeZone, Timelike, Utc,
};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use super::PartitionDefinitionError;

/// How long each window is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cadence {
    /// One window per hour; keys `%Y-%m-%d-%H:%M`.
    Hourly,
    /// One window per day; keys `%Y-%m-%d`.
    Daily,
    /// One window per week; keys `%Y-%m-%d` of its first day.
    Weekly,
    /// One window per month; keys `%Y-%m-%d` of its first day.
    Monthly,
}

impl Cadence {
    /// Dagster's default key format for the cadence.
    pub fn default_fmt(self) -> &'static str {
        match self {
            Self::Hourly => "%Y-%m-%d-%H:%M",
            _ => "%Y-%m-%d",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::Hourly => "Hourly",
            Self::Daily => "Daily",
            Self::Weekly => "Weekly",
            Self::Monthly => "Monthly",
        }
    }
}

/// One partition's span of time: from `start` (included) to `end` (excluded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// When the window starts (included), in the partitioning's timezone.
    pub start: DateTime<Tz>,
    /// When the window ends (excluded): the next window's start.
    pub end: DateTime<Tz>,
}

/// A time-window partitioning, as declared. Built with
/// [`PartitionsDefinition::daily`](super::PartitionsDefinition::daily) and its siblings;
/// it is checked when the definitions are built, so the builder methods never fail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeWindowPartitions {
    /// How long each window is.
    pub cadence: Cadence,
    /// The first partition is the first window that starts at or after this local date
    /// (`2024-01-01`) or date and time (written with `fmt`).
    pub start: String,
    /// No partition's window ends after this local date or time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<String>,
    /// An IANA timezone name; UTC when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The strftime format of the keys.
    pub fmt: String,
    /// The minute of the hour windows start at (0 to 59).
    #[serde(default)]
    pub minute_offset: u32,
    /// The hour of the day daily and longer windows start at (0 to 23).
    #[serde(default)]
    pub hour_offset: u32,
    /// Weekly: the day windows start on, 0 = Sunday. Monthly: the day of the month.
    #[serde(default)]
    pub day_offset: u32,
    /// How many windows after the last complete one also exist (negative: fewer).
    #[serde(default)]
    pub end_offset: i64,
}

impl TimeWindowPartitions {
    pub(super) fn new(cadence: Cadence, start: impl Into<String>) -> Self {
        Self {
            cadence,
            start: start.into(),
            end: None,
            timezone: None,
            fmt: cadence.default_fmt().to_owned(),
            minute_offset: 0,
            hour_offset: 0,
            day_offset: if cadence == Cadence::Monthly { 1 } else { 0 },
            end_offset: 0,
        }
    }

    /// Windows in this IANA timezone (`Europe/Berlin`) instead of UTC.
    pub fn timezone(mut self, timezone: impl Into<String>) -> Self {
        self.timezone = Some(timezone.into());
        self
    }

    /// No partition's window ends after this local date or time (written like `start`).
    pub fn end_date(mut self, end: impl Into<String>) -> Self {
        self.end = Some(end.into());
        self
    }

    /// Keys (and `start` and `end`) in this strftime format instead of the cadence's default.
    pub fn fmt(mut self, fmt: impl Into<String>) -> Self {
        self.fmt = fmt.into();
        self
    }

    /// Windows start this many minutes past the hour.
    pub fn minute_offset(mut self, minutes: u32) -> Self {
        self.minute_offset = minutes;
        self
    }

    /// Daily and longer windows start at this hour of the day.
    pub fn hour_offset(mut self, hours: u32) -> Self {
        self.hour_offset = hours;
        self
    }

    /// Weekly windows start on this day (0 = Sunday); monthly ones on this day of the month.
    pub fn day_offset(mut self, day: u32) -> Self {
        self.day_offset = day;
        self
    }

    /// This many windows after the last complete one also exist (negative: fewer), as
    /// Dagster's `end_offset`.
    pub fn end_offset(mut self, windows: i64) -> Self {
        self.end_offset = windows;
        self
    }

    /// The definition with its strings parsed and every setting checked.
    pub fn resolve(&self) -> Result<Windows<'_>, PartitionDefinitionError> {
        let invalid = |reason: String| PartitionDefinitionError::TimeWindow {
            definition: self.to_string(),
            reason,
        };
        let tz: Tz = match &self.timezone {
            None => Tz::UTC,
            Some(name) => name
                .parse()
                .map_err(|_| invalid(format!("unknown timezone \"{name}\"")))?,
        };
        if StrftimeItems::new(&self.fmt).any(|item| matches!(item, Item::Error)) {
            return Err(invalid(format!(
                "fmt \"{}\" is not a valid format",
                self.fmt
            )));
        }
        let (hours, days) = match self.cadence {
            Cadence::Hourly => (0..=0, 0..=0),
            Cadence::Daily => (0..=23, 0..=0),
            Cadence::Weekly => (0..=23, 0..=6),
            Cadence::Monthly => (0..=23, 1..=28),
        };
        let check = |what: &str, value: u32, range: std::ops::RangeInclusive<u32>| {
            if range.contains(&value) {
                Ok(())
            } else {
                Err(invalid(format!(
                    "{what} {value} is out of range {}..={} for {} partitions",
                    range.start(),
                    range.end(),
                    self.cadence.name().to_lowercase()
                )))
            }
        };
        check("minute_offset", self.minute_offset, 0..=59)?;
        check("hour_offset", self.hour_offset, hours)?;
        check("day_offset", self.day_offset, days)?;
        let windows = Windows {
            def: self,
            tz,
            first: NaiveDateTime::MIN,
            end: None,
        };
        let start = windows.parse_local(&self.start).ok_or_else(|| {
            invalid(format!(
                "start \"{}\" is neither a date (%Y-%m-%d) nor written with fmt \"{}\"",
                self.start, self.fmt
            ))
        })?;
        let end = match &self.end {
            None => None,
            Some(end) => Some(windows.resolve_local(windows.parse_local(end).ok_or_else(
                || {
                    invalid(format!(
                        "end date \"{end}\" is neither a date (%Y-%m-%d) nor written with fmt \"{}\"",
                        self.fmt
                    ))
                },
            )?)),
        };
        let windows = Windows {
            first: windows.slot_at_or_after(start),
            end,
            ..windows
        };
        // Every key must read back as the window it names: try the first two.
        for window in windows.iter_from(windows.first).take(2) {
            let key = windows.key(window.start);
            if windows.start_of_key(&key) != Some(window.start) {
                return Err(invalid(format!(
                    "fmt \"{}\" does not identify {} windows: key \"{key}\" does not read back as its window",
                    self.fmt,
                    self.cadence.name().to_lowercase()
                )));
            }
        }
        Ok(windows)
    }
}

/// `Daily, starting 2024-01-01 UTC.`, as Dagster describes a time-window definition.
impl fmt::Display for TimeWindowPartitions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}, starting {} {}.",
            self.cadence.name(),
            self.start,
            self.timezone.as_deref().unwrap_or("UTC")
        )?;
        if let Some(end) = &self.end {
            write!(f, " Ending {end}.")?;
        }
        if self.end_offset != 0 {
            write!(f, " End offsetted by {} partitions.", self.end_offset)?;
        }
        Ok(())
    }
}

/// A checked [`TimeWindowPartitions`]: it computes windows and keys.
#[derive(Debug, Clone)]
pub struct Windows<'a> {
    def: &'a TimeWindowPartitions,
    tz: Tz,
    /// The local start of the first window.
    first: NaiveDateTime,
    end: Option<DateTime<Tz>>,
}

impl Windows<'_> {
    /// The timezone the windows follow.
    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Every partition's window at `now`, oldest first.
    pub fn all(&self, now: DateTime<Utc>) -> Vec<TimeWindow> {
        let mut windows = Vec::new();
        let mut ahead = self.def.end_offset.max(0);
        for window in self.iter_from(self.first) {
            if self.end.is_some_and(|end| window.end > end) {
                break;
            }
            if window.end > now {
                if ahead == 0 {
                    break;
                }
                ahead -= 1;
            }
            windows.push(window);
        }
        let fewer = usize::try_from(-self.def.end_offset.min(0)).unwrap_or(usize::MAX);
        windows.truncate(windows.len().saturating_sub(fewer));
        windows
    }

    /// The windows from the one starting at or after local time `from`, unbounded.
    fn iter_from(&self, from: NaiveDateTime) -> impl Iterator<Item = TimeWindow> + '_ {
        let mut starts = std::iter::successors(Some(self.slot_at_or_after(from)), |slot| {
            Some(self.next_slot(*slot))
        })
        .flat_map(|slot| self.starts_of_slot(slot))
        .peekable();
        std::iter::from_fn(move || {
            let start = starts.next()?;
            let end = *starts.peek()?;
            Some(TimeWindow { start, end })
        })
    }

    /// The key of the window starting at `start`.
    pub fn key(&self, start: DateTime<Tz>) -> String {
        let key = start.format(&self.def.fmt).to_string();
        match self.tz.from_local_datetime(&start.naive_local()) {
            LocalResult::Ambiguous(_, later) if later == start => {
                format!("{key}{}", start.format("%z"))
            }
            _ => key,
        }
    }

    /// The window a key names, if the key is well formed and on a window boundary
    /// (whether the partition exists yet is [`Windows::all`]'s business).
    pub fn window_of_key(&self, key: &str) -> Option<TimeWindow> {
        let start = self.start_of_key(key)?;
        let window = self
            .iter_from(start.naive_local())
            .find(|w| w.start >= start)?;
        (window.start == start && self.key(start) == key).then_some(window)
    }

    /// The instant a key reads as, before any check that it starts a window.
    fn start_of_key(&self, key: &str) -> Option<DateTime<Tz>> {
        if let Some(naive) = self.parse_local(key) {
            let slot = self.slot_at_or_after(naive);
            return Some(self.resolve_local(slot));
        }
        let with_offset = format!("{}%z", self.def.fmt);
        DateTime::parse_from_str(key, &with_offset)
            .ok()
            .map(|t| t.with_timezone(&self.tz))
    }

    /// A local date or date and time: written with `fmt`, or a plain `%Y-%m-%d` date.
    fn parse_local(&self, text: &str) -> Option<NaiveDateTime> {
        parse_with_defaults(text, &self.def.fmt).or_else(|| parse_with_defaults(text, "%Y-%m-%d"))
    }

    /// The local time `at` as an instant: the earlier of a repeated time, and for a
    /// skipped one the first instant after the gap.
    fn resolve_local(&self, at: NaiveDateTime) -> DateTime<Tz> {
        let mut probe = at;
        loop {
            match self.tz.from_local_datetime(&probe) {
                LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => return t,
                // No gap lasts more than a few hours; step through it by minutes' blocks.
                LocalResult::None => probe += Duration::minutes(15),
            }
        }
    }

    /// The instants at which windows start at local time `slot`: hourly windows follow
    /// the clock (none in a skipped hour, two in a repeated one); longer windows have
    /// exactly one.
    fn starts_of_slot(&self, slot: NaiveDateTime) -> impl Iterator<Item = DateTime<Tz>> + use<> {
        let (first, second) = match self.tz.from_local_datetime(&slot) {
            LocalResult::Single(t) => (Some(t), None),
            LocalResult::Ambiguous(a, b) if self.def.cadence == Cadence::Hourly => {
                (Some(a), Some(b))
            }
            LocalResult::Ambiguous(a, _) => (Some(a), None),
            LocalResult::None if self.def.cadence == Cadence::Hourly => (None, None),
            LocalResult::None => (Some(self.resolve_local(slot)), None),
        };
        first.into_iter().chain(second)
    }

    fn time_of_day(&self) -> NaiveTime {
        let hour = if self.def.cadence == Cadence::Hourly {
            0
        } else {
            self.def.hour_offset
        };
        NaiveTime::from_hms_opt(hour, self.def.minute_offset, 0).unwrap_or(NaiveTime::MIN)
    }

    /// The first local window start at or after `at`.
    fn slot_at_or_after(&self, at: NaiveDateTime) -> NaiveDateTime {
        let date = at.date();
        let candidate = match self.def.cadence {
            Cadence::Hourly => date
                .and_time(self.time_of_day())
                .with_hour(at.hour())
                .unwrap_or(at),
            Cadence::Daily => date.and_time(self.time_of_day()),
            Cadence::Weekly => {
                let ahead = (self.def.day_offset + 7 - date.weekday().num_days_from_sunday()) % 7;
                (date + Duration::days(i64::from(ahead))).and_time(self.time_of_day())
            }
            Cadence::Monthly => date
                .with_day(self.def.day_offset)
                .unwrap_or(date)
                .and_time(self.time_of_day()),
        };
        if candidate < at {
            self.next_slot(candidate)
        } else {
            candidate
        }
    }

    fn next_slot(&self, slot: NaiveDateTime) -> NaiveDateTime {
        match self.def.cadence {
            Cadence::Hourly => slot + Duration::hours(1),
            Cadence::Daily => slot + Duration::days(1),
            Cadence::Weekly => slot + Duration::days(7),
            Cadence::Monthly => slot
                .checked_add_months(Months::new(1))
                .unwrap_or(NaiveDateTime::MAX),
        }
    }
}

/// `text` read with strftime format `fmt`, the fields the format lacks taken from the
/// start of the period it names (`2024-03` with `%Y-%m` is March 1st, 00:00), as
/// Python's `strptime` does.
fn parse_with_defaults(text: &str, fmt: &str) -> Option<NaiveDateTime> {
    let mut parsed = Parsed::new();
    chrono::format::parse(&mut parsed, text, StrftimeItems::new(fmt)).ok()?;
    if parsed.month().is_none() {
        parsed.set_month(1).ok()?;
    }
    if parsed.day().is_none() {
        parsed.set_day(1).ok()?;
    }
    if parsed.hour_div_12().is_none() {
        parsed.set_hour(0).ok()?;
    }
    if parsed.minute().is_none() {
        parsed.set_minute(0).ok()?;
    }
    parsed.to_naive_datetime_with_offset(0).ok()
}
