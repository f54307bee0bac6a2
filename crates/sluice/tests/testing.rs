//! `sluice::testing` with a resource replaced: the op sees the stand-in, and a resource
//! whose own config would be required no longer needs it.

#![allow(clippy::unwrap_used)]

use serde_json::json;
use sluice::prelude::*;
use sluice::testing;

/// A greeting service that needs a URL to reach.
#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct GreeterConfig {
    url: String,
}

struct Greeter {
    prefix: String,
}

impl ConfigurableResource for Greeter {
    type Config = GreeterConfig;
    async fn setup(
        config: GreeterConfig,
        _ctx: &InitResourceContext,
    ) -> Result<Self, ResourceError> {
        Ok(Self {
            prefix: format!("from {}", config.url),
        })
    }
}

fn definitions() -> Result<Definitions, DefinitionError> {
    let greet = OpDefinition::builder("greet")
        .required_resource("greeter")
        .output::<String>("result")
        .compute(|ctx, _inputs| async move {
            let greeter = ctx.resource::<Greeter>("greeter")?;
            Ok(format!("{}: hello", greeter.prefix))
        });
    let mut job = JobDefinition::builder("greet_job");
    job.add(&greet);
    Definitions::builder()
        .job(job.build())
        .resource("greeter", ResourceDefinition::new::<Greeter>())
        .build()
}

#[tokio::test]
async fn a_replaced_resource_is_what_the_op_sees() {
    let defs = definitions().expect("valid");
    // The real resource needs its config.
    let err = testing::execute_job(&defs, "greet_job")
        .run()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("greeter"), "{err}");
    let real = testing::execute_job(&defs, "greet_job")
        .run_config(json!({"resources": {"greeter": {"config": {"url": "http://api"}}}}))
        .run()
        .await
        .expect("runs");
    assert_eq!(
        real.output::<String>("greet", "result").expect("output"),
        "from http://api: hello"
    );
    // The stand-in needs none.
    let stand_in = Greeter {
        prefix: "stand-in".to_owned(),
    };
    let result = testing::execute_job(&defs, "greet_job")
        .resource("greeter", ResourceDefinition::value(stand_in))
        .run()
        .await
        .expect("runs");
    assert!(result.success(), "{:?}", result.step_failures());
    assert_eq!(
        result.output::<String>("greet", "result").expect("output"),
        "stand-in: hello"
    );
}
