//! # sluice-ui
//!
//! The web UI at `/`: HTML rendered on the server from the webserver's
//! [`Service`](sluice_service::Service), the same operations GraphQL answers from, so the
//! two never disagree. Every page works without JavaScript; `static/sluice.js` only adds
//! what is live (a run's log as it is written, times in the viewer's timezone, config
//! checked as it is typed). Every page has a stable URL that can be pasted in a ticket.
//!
//! | route | page |
//! | --- | --- |
//! | `GET /runs` | runs, newest first, filtered by status, job, tag and date, paged by cursor |
//! | `GET /runs/{id}` | a run: status, times, tags, config, step timeline, event log |
//! | `GET /runs/{id}/live` | the run's new events as server-sent events (for `sluice.js`) |
//! | `POST /runs/{id}/terminate`, `/reexecute`, `/delete` | the run's actions |
//! | `GET /assets`, `GET /assets/{key path}` | the asset catalog by group; an asset |
//! | `POST /assets` | materialize the assets (or partitions) the form names |
//! | `GET /jobs`, `GET /jobs/{location}/{job}` | jobs, and a job's op graph |
//! | `GET`, `POST /jobs/{location}/{job}/launchpad` | run config editor; validate or launch |
//! | `GET /automation`, `GET /automation/{location}/{name}` | schedules and sensors, ticks |
//! | `POST /automation/{location}/{name}/start`, `/stop` | switch one on or off |
//! | `GET /backfills`, `GET /backfills/{id}` | backfills and their partitions |
//! | `POST /backfills/{id}/cancel`, `/resume` | stop or resume one |
//! | `GET /deployment` | code locations, load errors, daemon health |
//! | `POST /deployment/locations/{name}/reload` | reload a location |
//! | `GET`, `POST /signin`, `POST /signout` | sign in with an API token; sign out |
//!
//! Every action checks the signed-in caller's permission and is written to the audit log
//! (see `access`); the webserver signs callers in.
//!
//! The webserver (`sluice-web`) puts these routes behind its guard, which refuses a
//! `POST` sent from another site's page, so that no other page can act on the instance
//! through a visitor's browser.

#![warn(missing_docs)]

mod access;
mod assets;
mod automation;
mod dag;
mod deployment;
mod error;
mod format;
mod jobs;
mod layout;
mod runs;

use std::sync::Arc;

use axum::Router;
use axum::middleware;
use axum::response::Redirect;
use axum::routing::{get, post};
use sluice_service::Service;

pub use access::SESSION_COOKIE;
pub use error::UiError;

/// The state every page handler gets.
type Ui = Arc<Service>;

/// The UI's routes (no GraphQL).
pub fn router(service: Arc<Service>) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/runs") }))
        .route("/static/{file}", get(layout::static_file))
        .route("/runs", get(runs::list))
        .route("/runs/{id}", get(runs::run))
        .route("/runs/{id}/live", get(runs::live))
        .route("/runs/{id}/terminate", post(runs::terminate))
        .route("/runs/{id}/reexecute", post(runs::reexecute))
        .route("/runs/{id}/delete", post(runs::delete))
        .route("/assets", get(assets::catalog).post(assets::materialize))
        .route("/assets/{*key}", get(assets::asset))
        .route("/jobs", get(jobs::list))
        .route("/jobs/{location}/{job}", get(jobs::job))
        .route(
            "/jobs/{location}/{job}/launchpad",
            get(jobs::launchpad).post(jobs::launch),
        )
        .route(
            "/jobs/{location}/{job}/launchpad/check",
            post(jobs::check_config),
        )
        .route("/automation", get(automation::list))
        .route("/automation/{location}/{name}", get(automation::instigator))
        .route(
            "/automation/{location}/{name}/{action}",
            post(automation::switch),
        )
        .route("/backfills", get(automation::backfills))
        .route("/backfills/{id}", get(automation::backfill))
        .route(
            "/backfills/{id}/{action}",
            post(automation::backfill_action),
        )
        .route("/deployment", get(deployment::overview))
        .route(
            "/deployment/locations/{name}/reload",
            post(deployment::reload),
        )
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&service),
            access::authorize,
        ))
        // Signing in and out need no permission.
        .route("/signin", get(access::signin_form).post(access::signin))
        .route("/signout", post(access::signout))
        .fallback(|| async { UiError::NotFound("No page at this address.".into()) })
        .with_state(service)
}
