//! `sluice-user-code resources list|check`: the location's resources, and whether each
//! one can be set up and is healthy, what deployments used to script by hand
//! (`wait_for_services`) before starting their code servers.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use serde_json::Value;
use sluice_core::Definitions;
use sluice_core::resource::ResourceDefinition;

/// One resource's line of the report.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// The key the resource is bound to.
    pub key: String,
    /// The short name of its Rust type (`PostgresResource`).
    pub type_name: String,
    /// `Ok(set up, healthy and torn down in this long)` or why not.
    pub outcome: Result<Duration, String>,
}

/// The short name of a resource's Rust type (`PostgresResource`).
fn short_type(def: &ResourceDefinition) -> String {
    let full = def.type_name();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base).to_owned()
}

/// The config each resource is checked with: `resources.<key>.config` of `run_config`,
/// else its standalone config; `None` when it needs config that nobody gave.
fn config_for(key: &str, def: &ResourceDefinition, run_config: &Value) -> Option<Value> {
    if let Some(config) = run_config
        .get("resources")
        .and_then(|r| r.get(key))
        .and_then(|r| r.get("config"))
    {
        return Some(config.clone());
    }
    let config = def.standalone_config();
    let needed = def.config_schema().is_some_and(|s| s.requires_value());
    (!(config.is_null() && needed)).then_some(config)
}

/// A line per bound resource: key, type, and whether runs must give it config.
pub fn list(defs: &Definitions) -> String {
    let mut out = String::new();
    for (key, def) in defs.resources() {
        let config = match (def.default_config(), def.config_schema()) {
            (Some(_), _) => "configured",
            (None, Some(schema)) if schema.requires_value() => "config required",
            _ => "no config needed",
        };
        let _ = writeln!(out, "{key}\t{}\t{config}", short_type(def));
    }
    out
}

/// Check the resources `keys` (all when empty), all at once, each within `timeout`;
/// failures are tried again until `wait` has passed. Unknown keys are an error.
pub async fn check(
    defs: &Definitions,
    keys: &[String],
    run_config: &Value,
    timeout: Duration,
    wait: Duration,
) -> Result<Vec<CheckReport>, String> {
    let all = defs.resources();
    if let Some(unknown) = keys.iter().find(|k| !all.contains_key(*k)) {
        return Err(format!(
            "no resource \"{unknown}\" in this location; its resources are: {}",
            all.keys().cloned().collect::<Vec<_>>().join(", ")
        ));
    }
    let chosen: BTreeMap<&String, &ResourceDefinition> = all
        .iter()
        .filter(|(key, _)| keys.is_empty() || keys.contains(key))
        .collect();
    let deadline = Instant::now() + wait;
    let mut reports: BTreeMap<String, CheckReport> = BTreeMap::new();
    loop {
        let mut tasks = tokio::task::JoinSet::new();
        for (key, def) in &chosen {
            if reports.get(*key).is_some_and(|r| r.outcome.is_ok()) {
                continue;
            }
            let (key, def) = ((*key).clone(), (*def).clone());
            let config = config_for(&key, &def, run_config);
            tasks.spawn(async move {
                let started = Instant::now();
                let outcome = match config {
                    None => Err(format!(
                        "needs config: give resources.{key}.config with --config"
                    )),
                    Some(config) => match tokio::time::timeout(timeout, def.check(&key, config))
                        .await
                    {
                        Ok(Ok(())) => Ok(started.elapsed()),
                        Ok(Err(e)) => Err(e.to_string()),
                        Err(_) => Err(format!("no answer within {:.1} s", timeout.as_secs_f64())),
                    },
                };
                CheckReport {
                    type_name: short_type(&def),
                    key,
                    outcome,
                }
            });
        }
        while let Some(done) = tasks.join_next().await {
            let report = done.map_err(|e| format!("a check panicked: {e}"))?;
            reports.insert(report.key.clone(), report);
        }
        let failing = reports.values().any(|r| r.outcome.is_err());
        if !failing || Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(Duration::from_secs(1).min(deadline - Instant::now())).await;
    }
    Ok(reports.into_values().collect())
}

/// The report as aligned lines.
pub fn render(reports: &[CheckReport]) -> String {
    let width = reports.iter().map(|r| r.key.len()).max().unwrap_or(0);
    let type_width = reports.iter().map(|r| r.type_name.len()).max().unwrap_or(0);
    let mut out = String::new();
    for report in reports {
        let status = match &report.outcome {
            Ok(took) => format!("OK      {:.0} ms", took.as_secs_f64() * 1000.0),
            Err(reason) => format!("FAILED  {reason}"),
        };
        let _ = writeln!(
            out,
            "{:width$}  {:type_width$}  {status}",
            report.key, report.type_name
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use sluice_core::resource::{ConfigurableResource, InitResourceContext, ResourceError};

    #[derive(serde::Deserialize, serde::Serialize, schemars::JsonSchema)]
    #[serde(deny_unknown_fields)]
    struct ProbeConfig {
        healthy: bool,
    }

    struct Probe {
        healthy: bool,
    }

    impl ConfigurableResource for Probe {
        type Config = ProbeConfig;
        async fn setup(
            config: ProbeConfig,
            _: &InitResourceContext,
        ) -> Result<Self, ResourceError> {
            Ok(Probe {
                healthy: config.healthy,
            })
        }
        async fn health_check(&self) -> Result<(), ResourceError> {
            if self.healthy {
                Ok(())
            } else {
                Err(ResourceError::msg("connection refused"))
            }
        }
    }

    fn defs() -> Definitions {
        Definitions::builder()
            .resource(
                "up",
                ResourceDefinition::configured::<Probe>(ProbeConfig { healthy: true }),
            )
            .resource(
                "down",
                ResourceDefinition::configured::<Probe>(ProbeConfig { healthy: false }),
            )
            .resource("unset", ResourceDefinition::new::<Probe>())
            .resource("name", ResourceDefinition::value("sluice".to_owned()))
            .build()
            .unwrap()
    }

    #[tokio::test]
    async fn each_resource_is_set_up_and_asked_for_its_health() {
        let defs = defs();
        let reports = check(
            &defs,
            &[],
            &Value::Null,
            Duration::from_secs(5),
            Duration::ZERO,
        )
        .await
        .unwrap();
        let outcome = |key: &str| {
            reports
                .iter()
                .find(|r| r.key == key)
                .unwrap()
                .outcome
                .clone()
        };
        assert!(outcome("up").is_ok());
        assert!(outcome("name").is_ok());
        assert_eq!(outcome("down"), Err("connection refused".to_owned()));
        assert_eq!(
            outcome("unset"),
            Err("needs config: give resources.unset.config with --config".to_owned())
        );
        let text = render(&reports);
        assert!(
            text.contains("down   Probe   FAILED  connection refused"),
            "{text}"
        );

        // Config from the command line wins; only the keys asked for are checked.
        let config = json!({"resources": {"unset": {"config": {"healthy": true}}, "down": {"config": {"healthy": true}}}});
        let keys = ["unset".to_owned(), "down".to_owned()];
        let reports = check(
            &defs,
            &keys,
            &config,
            Duration::from_secs(5),
            Duration::ZERO,
        )
        .await
        .unwrap();
        assert_eq!(reports.len(), 2);
        assert!(reports.iter().all(|r| r.outcome.is_ok()), "{reports:?}");

        let bad = json!({"resources": {"unset": {"config": {"healthy": "yes"}}}});
        let reports = check(
            &defs,
            &keys[..1],
            &bad,
            Duration::from_secs(5),
            Duration::ZERO,
        )
        .await
        .unwrap();
        let reason = reports[0].outcome.clone().unwrap_err();
        assert!(reason.starts_with("invalid config:"), "{reason}");

        let err = check(
            &defs,
            &["nope".to_owned()],
            &Value::Null,
            Duration::from_secs(1),
            Duration::ZERO,
        )
        .await
        .unwrap_err();
        assert!(err.contains("no resource \"nope\""), "{err}");
        assert!(
            list(&defs).contains("unset\tProbe\tconfig required"),
            "{}",
            list(&defs)
        );
    }
}
