//! # sluice-web
//!
//! The Sluice webserver as a library, for the binaries that serve it (`sluice dev` and
//! `sluice-webserver`): the GraphQL API ([`sluice_graphql`]) and the UI ([`sluice_ui`]),
//! two translations of one [`Service`], merged into one axum app behind one [`Guard`].
//!
//! ```no_run
//! # async fn example(service: std::sync::Arc<sluice_service::Service>, home: &std::path::Path)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//! let settings = sluice_web::WebSettings::load(home)?;
//! let app = sluice_web::app(service, &settings, listener.local_addr()?);
//! sluice_web::serve(listener, app, tokio_util::sync::CancellationToken::new()).await?;
//! # Ok(()) }
//! ```
//!
//! The guard answers only to allowed hosts, lets only the webserver's own pages (and
//! allowed origins) act on the instance from a browser, and puts security headers,
//! a content security policy among them, on every answer: see [`guard`]. Then every
//! request is signed in with an API token, unless authentication is off: see [`auth`].

pub mod auth;
pub mod guard;
mod settings;

use std::future::IntoFuture;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::middleware;
use sluice_service::Service;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub use auth::Authentication;
pub use guard::Guard;
pub use settings::WebSettings;

/// How long requests in flight may take to finish once the webserver is asked to stop.
const GRACE: Duration = Duration::from_secs(2);

/// The webserver's app for a listener bound to `bound`: GraphQL (`/graphql`, health,
/// version info) beside the UI, behind the guard `settings` describe.
pub fn app(service: Arc<Service>, settings: &WebSettings, bound: SocketAddr) -> Router {
    let guard = Arc::new(Guard::new(settings, bound));
    if guard.any_host() {
        tracing::info!(
            %bound,
            "the webserver answers to any Host; set webserver.allowed_hosts in sluice.yaml to defend against DNS rebinding"
        );
    }
    let mode = settings.authentication.unwrap_or(Authentication::Tokens);
    match mode {
        Authentication::Off if !bound.ip().is_loopback() => tracing::warn!(
            %bound,
            "authentication is off: anyone who reaches this address may do anything"
        ),
        Authentication::Off => {}
        Authentication::Tokens => tracing::info!(
            "every request needs an API token; create one with `sluice token create --name NAME --role ROLE`"
        ),
    }
    let auth = Arc::new(auth::Auth {
        mode,
        service: Arc::clone(&service),
    });
    let limits = settings.graphql;
    let schema = sluice_graphql::build_schema(Arc::clone(&service), limits);
    // Layers run outside in: the guard first, then authentication, then the routes.
    sluice_graphql::router(schema, limits)
        .merge(sluice_ui::router(service))
        .layer(middleware::from_fn_with_state(auth, auth::authenticate))
        .layer(middleware::from_fn_with_state(guard, guard::guard))
}

/// Serve `app` on `listener` until `shutdown` is cancelled, then give requests in flight
/// a moment (open subscriptions and live logs never end by themselves).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let stopping = shutdown.clone();
    let serve = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stopping.cancelled().await })
        .into_future();
    let grace = async {
        shutdown.cancelled().await;
        tokio::time::sleep(GRACE).await;
    };
    tokio::select! {
        served = serve => served,
        () = grace => Ok(()),
    }
}
