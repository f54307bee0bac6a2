//! Every mutation checks the caller's permission, and is recorded in the audit log.
//!
//! The webserver puts the signed-in [`Caller`] in each request's data (with
//! authentication off, or without the webserver, the caller is anonymous, who may do
//! anything). Before a root mutation field resolves, [`Authorize`] checks that the
//! caller's role has the field's permission; a refusal is a GraphQL error whose message
//! starts with `UnauthorizedError` (code `UNAUTHORIZED`), and nothing is done. Allowed or
//! not, the mutation is written to the audit log with its arguments (variables resolved,
//! secrets masked) and how it ended.

use std::sync::{Arc, Mutex};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest, NextResolve, ResolveInfo,
};
use async_graphql::{ErrorExtensions, PathSegment, Request, ServerResult, Value, Variables};
use sluice_service::Service;
use sluice_service::access::{Caller, Permission};

/// The permission each mutation field needs.
pub(crate) fn mutation_permission(field: &str) -> Permission {
    match field {
        "launchPipelineExecution" | "launchRun" => Permission::LaunchRun,
        "launchPipelineReexecution" | "launchRunReexecution" => Permission::ReexecuteRun,
        "terminatePipelineExecution" | "terminateRun" | "terminateRuns" => Permission::TerminateRun,
        "deletePipelineRun" | "deleteRun" => Permission::DeleteRun,
        "startSchedule" => Permission::StartSchedule,
        "stopRunningSchedule" | "resetSchedule" => Permission::StopSchedule,
        "startSensor" | "stopSensor" | "resetSensor" => Permission::EditSensor,
        "setSensorCursor" => Permission::UpdateSensorCursor,
        "wipeAssets" => Permission::WipeAssets,
        "reportRunlessAssetEvents" => Permission::ReportAssetEvents,
        "launchPartitionBackfill" | "reexecutePartitionBackfill" => Permission::LaunchBackfill,
        "cancelPartitionBackfill" | "resumePartitionBackfill" => Permission::CancelBackfill,
        "addDynamicPartition" | "deleteDynamicPartitions" => Permission::EditDynamicPartitions,
        "reloadWorkspace" => Permission::ReloadWorkspace,
        // Reloading and shutting down a location, and whatever is added later without
        // a permission of its own: admins only.
        _ => Permission::ReloadLocation,
    }
}

/// The caller of the request `ctx` belongs to.
pub(crate) fn caller(ctx: &async_graphql::Context<'_>) -> Caller {
    Caller::of(ctx.data_opt::<Caller>())
}

/// The extension: see the [module docs](self).
pub(crate) struct Authorize;

impl ExtensionFactory for Authorize {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(AuthorizeRequest::default())
    }
}

/// One request's check: it keeps the request's variables, to record what a mutation
/// was asked to act on.
#[derive(Default)]
struct AuthorizeRequest {
    variables: Mutex<Variables>,
}

/// The longest target an audit entry keeps.
const MAX_TARGET: usize = 2_000;

impl AuthorizeRequest {
    /// The field's arguments, variables resolved and secrets masked, as JSON.
    fn target(&self, info: &ResolveInfo<'_>) -> String {
        let variables = self.variables.lock().map(|v| v.clone()).unwrap_or_default();
        let arguments: serde_json::Map<String, serde_json::Value> = info
            .field
            .arguments
            .iter()
            .map(|(name, value)| {
                let value = value
                    .node
                    .clone()
                    .into_const_with(|var| {
                        Ok::<_, ()>(variables.get(&var).cloned().unwrap_or_default())
                    })
                    .ok()
                    .and_then(|v| v.into_json().ok())
                    .unwrap_or_default();
                (name.node.to_string(), value)
            })
            .collect();
        let masked =
            sluice_service::redaction::redact_config(&serde_json::Value::Object(arguments));
        let mut target = masked.to_string();
        if target.len() > MAX_TARGET {
            let mut end = MAX_TARGET;
            while !target.is_char_boundary(end) {
                end -= 1;
            }
            target.truncate(end);
            target.push('…');
        }
        target
    }
}

#[async_trait::async_trait]
impl Extension for AuthorizeRequest {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let Ok(mut variables) = self.variables.lock() {
            *variables = request.variables.clone();
        }
        next.run(ctx, request).await
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if info.parent_type != "Mutation" {
            return next.run(ctx, info).await;
        }
        let caller = Caller::of(ctx.data_opt::<Caller>());
        let service = ctx.data_opt::<Arc<Service>>().cloned();
        let action = info.name.to_owned();
        let target = self.target(&info);
        let permission = mutation_permission(info.name);
        let pos = info.field.name.pos;
        let path = vec![PathSegment::Field(
            info.alias.unwrap_or(info.name).to_owned(),
        )];
        let allowed = caller.may(permission);
        let result = if allowed {
            next.run(ctx, info).await
        } else {
            let refusal = caller.refusal(permission);
            let mut error = async_graphql::Error::new(format!("UnauthorizedError: {refusal}"))
                .extend_with(|_, extensions| {
                    extensions.set("code", "UNAUTHORIZED");
                    extensions.set("permission", permission.name());
                })
                .into_server_error(pos);
            error.path = path;
            Err(error)
        };
        if let Some(service) = service {
            let outcome = match &result {
                Ok(Some(Value::Object(fields))) => match fields.get("__typename") {
                    Some(Value::String(t)) if t.ends_with("Error") => t.clone(),
                    _ => "ok".to_owned(),
                },
                Ok(_) => "ok".to_owned(),
                Err(e) if allowed => format!("error: {}", e.message),
                Err(_) => "denied".to_owned(),
            };
            service.audit(&caller, &action, &target, &outcome).await;
        }
        result
    }
}

/// Whether `caller` may do `permission`: the value of GraphQL's `permissions` entries.
pub(crate) fn granted(caller: &Caller, permission: Permission) -> (bool, Option<String>) {
    if caller.may(permission) {
        (true, None)
    } else {
        (false, Some(caller.refusal(permission).to_string()))
    }
}
