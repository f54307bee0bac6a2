//! Partitions definitions and mappings: the keys each kind has, across daylight-saving
//! changes, and the errors for keys and settings that do not exist.

#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Utc};
use sluice_core::partition::{
    PartitionDefinitionError, PartitionError, PartitionMapping, PartitionsContext,
    PartitionsDefinition,
};

fn at(text: &str) -> PartitionsContext {
    let now: DateTime<Utc> = DateTime::parse_from_rfc3339(text).unwrap().into();
    PartitionsContext::at(now)
}

fn keys(def: impl Into<PartitionsDefinition>, ctx: &PartitionsContext) -> Vec<String> {
    let def = def.into();
    def.validate().unwrap();
    def.keys(ctx).unwrap()
}

#[test]
fn hourly_partitions_follow_the_clock_across_daylight_saving() {
    let ctx = at("2030-01-01T00:00:00Z");
    // Fall back: 01:00 happens twice in New York; the second is keyed with its offset.
    let fall = PartitionsDefinition::hourly("2023-11-04-22:00")
        .end_date("2023-11-05-04:00")
        .timezone("America/New_York");
    assert_eq!(
        keys(fall.clone(), &ctx),
        [
            "2023-11-04-22:00",
            "2023-11-04-23:00",
            "2023-11-05-00:00",
            "2023-11-05-01:00",
            "2023-11-05-01:00-0500",
            "2023-11-05-02:00",
            "2023-11-05-03:00",
        ]
    );
    let def = PartitionsDefinition::from(fall);
    let first = def.time_window("2023-11-05-01:00").unwrap();
    let second = def.time_window("2023-11-05-01:00-0500").unwrap();
    assert_eq!(first.end, second.start);
    assert_eq!((second.end - second.start).num_minutes(), 60);
    assert_eq!(
        first.start.with_timezone(&Utc).to_rfc3339(),
        "2023-11-05T05:00:00+00:00"
    );

    // Spring forward: 02:00 does not exist.
    let spring = PartitionsDefinition::hourly("2023-03-12-00:00")
        .end_date("2023-03-12-05:00")
        .timezone("America/New_York");
    assert_eq!(
        keys(spring.clone(), &ctx),
        [
            "2023-03-12-00:00",
            "2023-03-12-01:00",
            "2023-03-12-03:00",
            "2023-03-12-04:00"
        ]
    );
    let spring = PartitionsDefinition::from(spring);
    let err = spring.check_key("2023-03-12-02:00", &ctx).unwrap_err();
    assert!(
        matches!(&err, PartitionError::UnknownKey { key, .. } if key == "2023-03-12-02:00"),
        "{err}"
    );
    // The window before the gap lasts one real hour.
    let before = spring.time_window("2023-03-12-01:00").unwrap();
    assert_eq!((before.end - before.start).num_minutes(), 60);
}

#[test]
fn daily_windows_keep_one_partition_per_day_through_daylight_saving() {
    let ctx = at("2030-01-01T00:00:00Z");
    let def = PartitionsDefinition::daily("2024-03-30")
        .end_date("2024-04-03")
        .timezone("Europe/Berlin")
        .hour_offset(6);
    assert_eq!(
        keys(def.clone(), &ctx),
        ["2024-03-30", "2024-03-31", "2024-04-01"]
    );
    let def = PartitionsDefinition::from(def);
    let short = def.time_window("2024-03-30").unwrap();
    assert_eq!((short.end - short.start).num_hours(), 23);
    assert_eq!(short.start.format("%H:%M %z").to_string(), "06:00 +0100");
    assert_eq!(short.end.format("%H:%M %z").to_string(), "06:00 +0200");
}

#[test]
fn weekly_and_monthly_windows_start_on_their_day() {
    let ctx = at("2030-01-01T00:00:00Z");
    assert_eq!(
        keys(
            PartitionsDefinition::weekly("2024-01-01").end_date("2024-02-01"),
            &ctx
        ),
        ["2024-01-07", "2024-01-14", "2024-01-21"]
    );
    assert_eq!(
        keys(
            PartitionsDefinition::weekly("2024-01-01")
                .day_offset(1)
                .end_date("2024-01-22"),
            &ctx
        ),
        ["2024-01-01", "2024-01-08", "2024-01-15"]
    );
    assert_eq!(
        keys(
            PartitionsDefinition::monthly("2024-01-15").end_date("2024-05-01"),
            &ctx
        ),
        ["2024-02-01", "2024-03-01", "2024-04-01"]
    );
    assert_eq!(
        keys(
            PartitionsDefinition::monthly("2024-01-01")
                .day_offset(15)
                .fmt("%Y-%m")
                .end_date("2024-04-01"),
            &ctx
        ),
        ["2024-01", "2024-02"]
    );
}

#[test]
fn time_windows_end_at_the_last_complete_one_shifted_by_the_end_offset() {
    let ctx = at("2026-12-02T02:55:00Z");
    let last = |offset| {
        keys(
            PartitionsDefinition::daily("2026-11-01").end_offset(offset),
            &ctx,
        )
        .last()
        .cloned()
    };
    assert_eq!(last(0).as_deref(), Some("2026-12-01"));
    assert_eq!(last(1).as_deref(), Some("2026-12-02"));
    assert_eq!(last(-1).as_deref(), Some("2026-11-30"));
    assert_eq!(
        keys(PartitionsDefinition::daily("2026-11-01"), &ctx).len(),
        31
    );
    // Nothing before the start has ended yet.
    assert!(keys(PartitionsDefinition::daily("2027-01-01"), &ctx).is_empty());
    // Ten thousand days, for backfills.
    let many = keys(PartitionsDefinition::daily("1999-06-01"), &ctx);
    assert!(many.len() > 10_000, "{}", many.len());
    assert_eq!(many.first().map(String::as_str), Some("1999-06-01"));
}

#[test]
fn keys_are_checked_against_the_definition() {
    let ctx = at("2026-12-02T02:55:00Z");
    let daily = PartitionsDefinition::from(PartitionsDefinition::daily("2024-01-01"));
    daily.check_key("2024-02-29", &ctx).unwrap();
    for bad in [
        "2023-12-31",
        "2026-12-02",
        "2024-02-30",
        "2024/01/05",
        "yesterday",
        "",
    ] {
        let err = daily.check_key(bad, &ctx).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("partition \"{bad}\" does not exist in Daily, starting 2024-01-01 UTC.")
        );
    }
    let weekly = PartitionsDefinition::from(PartitionsDefinition::weekly("2024-01-01"));
    weekly.check_key("2024-01-07", &ctx).unwrap();
    weekly.check_key("2024-01-08", &ctx).unwrap_err();

    let regions = PartitionsDefinition::static_keys(["us", "eu"]);
    regions.check_key("eu", &ctx).unwrap();
    assert_eq!(
        regions.check_key("apac", &ctx).unwrap_err().to_string(),
        "partition \"apac\" does not exist in 'us', 'eu'"
    );
    assert_eq!(
        regions.key_range("eu", "us", &ctx).unwrap_err().to_string(),
        "partition range starts at \"eu\", after its end \"us\""
    );
    assert_eq!(
        daily.key_range("2024-01-30", "2024-02-02", &ctx).unwrap(),
        ["2024-01-30", "2024-01-31", "2024-02-01", "2024-02-02"]
    );
}

#[test]
fn dynamic_keys_come_from_the_context() {
    let def = PartitionsDefinition::dynamic("datasets");
    assert_eq!(def.dynamic_names(), ["datasets"]);
    let bare = at("2026-12-02T00:00:00Z");
    assert_eq!(
        def.keys(&bare).unwrap_err(),
        PartitionError::DynamicNotLoaded("datasets".into())
    );
    let ctx = bare.with_dynamic("datasets", vec!["parcels".into(), "roads".into()]);
    assert_eq!(def.keys(&ctx).unwrap(), ["parcels", "roads"]);
    def.check_key("roads", &ctx).unwrap();
    assert_eq!(
        def.check_key("rivers", &ctx).unwrap_err().to_string(),
        "partition \"rivers\" does not exist in Dynamic partitions: \"datasets\""
    );
}

#[test]
fn multi_partition_keys_join_dimensions_in_name_order() {
    let ctx = at("2030-01-01T00:00:00Z");
    let def = PartitionsDefinition::multi([
        ("region", PartitionsDefinition::static_keys(["us", "eu"])),
        (
            "date",
            PartitionsDefinition::daily("2024-01-01")
                .end_date("2024-01-03")
                .into(),
        ),
    ]);
    def.validate().unwrap();
    assert_eq!(
        def.keys(&ctx).unwrap(),
        [
            "2024-01-01|us",
            "2024-01-01|eu",
            "2024-01-02|us",
            "2024-01-02|eu"
        ]
    );
    def.check_key("2024-01-02|eu", &ctx).unwrap();
    def.check_key("eu|2024-01-02", &ctx).unwrap_err();
    def.check_key("2024-01-02", &ctx).unwrap_err();
    let window = def.time_window("2024-01-02|eu").unwrap();
    assert_eq!(window.start.format("%Y-%m-%d").to_string(), "2024-01-02");

    let one = PartitionsDefinition::multi([("a", PartitionsDefinition::dynamic("x"))]);
    assert_eq!(
        one.validate().unwrap_err(),
        PartitionDefinitionError::MultiDimensions(1)
    );
    let nested = PartitionsDefinition::multi([
        ("a", def.clone()),
        ("b", PartitionsDefinition::dynamic("x")),
    ]);
    assert_eq!(
        nested.validate().unwrap_err(),
        PartitionDefinitionError::NestedMulti("a".into())
    );
}

#[test]
fn invalid_definitions_name_what_is_wrong() {
    let cases: Vec<(PartitionsDefinition, &str)> = vec![
        (
            PartitionsDefinition::daily("2024-01-01")
                .timezone("Mars/Olympus")
                .into(),
            "time-window partitions \"Daily, starting 2024-01-01 Mars/Olympus.\": unknown timezone \"Mars/Olympus\"",
        ),
        (
            PartitionsDefinition::daily("January first").into(),
            "time-window partitions \"Daily, starting January first UTC.\": start \"January first\" is neither a date (%Y-%m-%d) nor written with fmt \"%Y-%m-%d\"",
        ),
        (
            PartitionsDefinition::daily("2024-01-01")
                .hour_offset(24)
                .into(),
            "time-window partitions \"Daily, starting 2024-01-01 UTC.\": hour_offset 24 is out of range 0..=23 for daily partitions",
        ),
        (
            PartitionsDefinition::monthly("2024-01-01")
                .day_offset(31)
                .into(),
            "time-window partitions \"Monthly, starting 2024-01-01 UTC.\": day_offset 31 is out of range 1..=28 for monthly partitions",
        ),
        (
            PartitionsDefinition::hourly("2024-01-01")
                .fmt("%Y-%m-%d")
                .into(),
            "time-window partitions \"Hourly, starting 2024-01-01 UTC.\": fmt \"%Y-%m-%d\" does not identify hourly windows: key \"2024-01-01\" does not read back as its window",
        ),
        (
            PartitionsDefinition::daily("2024-01-01").fmt("%Q").into(),
            "time-window partitions \"Daily, starting 2024-01-01 UTC.\": fmt \"%Q\" is not a valid format",
        ),
        (
            PartitionsDefinition::static_keys(["a", "b", "a"]),
            "static partition key \"a\" is listed twice",
        ),
        (
            PartitionsDefinition::static_keys(["a|b"]),
            "partition key \"a|b\" is invalid: it contains '|'",
        ),
        (
            PartitionsDefinition::dynamic(" "),
            "a dynamic partitions definition needs a name",
        ),
    ];
    for (def, message) in cases {
        let err = def.validate().expect_err(message);
        assert_eq!(err.to_string(), message);
    }
}

#[test]
fn mappings_choose_upstream_partitions() {
    let ctx = at("2024-02-01T00:00:00Z");
    let daily: PartitionsDefinition = PartitionsDefinition::daily("2024-01-01").into();
    let hourly: PartitionsDefinition = PartitionsDefinition::hourly("2024-01-01-00:00").into();
    let weekly: PartitionsDefinition = PartitionsDefinition::weekly("2024-01-01").into();

    // Defaults.
    assert_eq!(
        PartitionMapping::default_for(&daily, Some(&daily)),
        PartitionMapping::Identity
    );
    assert_eq!(
        PartitionMapping::default_for(&hourly, Some(&daily)),
        PartitionMapping::time_window(0, 0)
    );
    assert_eq!(
        PartitionMapping::default_for(&daily, None),
        PartitionMapping::AllPartitions
    );

    // A day reads its 24 hours.
    let hours = PartitionMapping::time_window(0, 0)
        .upstream_keys(Some((&daily, "2024-01-10")), &hourly, &ctx)
        .unwrap();
    assert_eq!(hours.len(), 24);
    assert_eq!(hours[0], "2024-01-10-00:00");
    assert_eq!(hours[23], "2024-01-10-23:00");
    // A week reads its seven days; a day reads the previous day.
    let days = PartitionMapping::time_window(0, 0)
        .upstream_keys(Some((&weekly, "2024-01-14")), &daily, &ctx)
        .unwrap();
    assert_eq!(days.first().map(String::as_str), Some("2024-01-14"));
    assert_eq!(days.len(), 7);
    let previous = PartitionMapping::time_window(-1, -1);
    assert_eq!(
        previous
            .upstream_keys(Some((&daily, "2024-01-10")), &daily, &ctx)
            .unwrap(),
        ["2024-01-09"]
    );
    assert!(
        previous
            .upstream_keys(Some((&daily, "2024-01-01")), &daily, &ctx)
            .unwrap()
            .is_empty()
    );

    // All-to-one and last.
    assert_eq!(
        PartitionMapping::AllPartitions
            .upstream_keys(None, &daily, &ctx)
            .unwrap()
            .len(),
        31
    );
    assert_eq!(
        PartitionMapping::LastPartition
            .upstream_keys(None, &daily, &ctx)
            .unwrap(),
        ["2024-01-31"]
    );

    // Static.
    let upstream = PartitionsDefinition::static_keys(["us-east", "us-west", "eu-central"]);
    let downstream = PartitionsDefinition::static_keys(["us", "eu"]);
    let mapping = PartitionMapping::static_mapping([
        ("us-east", ["us"]),
        ("us-west", ["us"]),
        ("eu-central", ["eu"]),
    ]);
    assert_eq!(
        mapping
            .upstream_keys(Some((&downstream, "us")), &upstream, &ctx)
            .unwrap(),
        ["us-east", "us-west"]
    );

    // Identity with a key the upstream lacks, and mappings that cannot apply.
    let err = PartitionMapping::Identity
        .upstream_keys(Some((&daily, "2024-03-01")), &daily, &ctx)
        .unwrap_err();
    assert!(matches!(err, PartitionError::UnknownKey { .. }), "{err}");
    let err = PartitionMapping::time_window(0, 0)
        .upstream_keys(Some((&downstream, "us")), &daily, &ctx)
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "partition mapping TimeWindowPartitionMapping(start_offset=0, end_offset=0) cannot map from partition \"us\" to Daily, starting 2024-01-01 UTC.: both assets must be partitioned by time windows"
    );
    let bad_static = PartitionMapping::static_mapping([("apac", ["us"])]);
    assert_eq!(
        bad_static.check(&upstream, Some(&downstream)).unwrap_err(),
        "upstream key \"apac\" is not one of the upstream partitions"
    );
}

#[test]
fn definitions_round_trip_through_json() {
    let def = PartitionsDefinition::multi([
        ("region", PartitionsDefinition::static_keys(["us", "eu"])),
        (
            "date",
            PartitionsDefinition::daily("2024-01-01")
                .timezone("Europe/Berlin")
                .end_offset(1)
                .into(),
        ),
    ]);
    let json = serde_json::to_string(&def).unwrap();
    assert_eq!(
        serde_json::from_str::<PartitionsDefinition>(&json).unwrap(),
        def
    );
}
