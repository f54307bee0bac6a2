//! A webserver over real HTTP for the tests: an instance, the demo location's code
//! server, and `sluice_web::app` on a free port.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::Arc;

use sluice_codeserver::Workspace;
use sluice_core::run::{NewRun, RunStatus};
use sluice_e2e::{Instance, Running};
use sluice_service::Service;
use sluice_storage::SqlStorage;
use sluice_storage::prelude::*;
use sluice_web::{Authentication, WebSettings};

/// Settings with authentication off, as `sluice dev` on loopback has them.
pub fn open() -> WebSettings {
    WebSettings {
        authentication: Some(Authentication::Off),
        ..WebSettings::default()
    }
}

pub struct Server {
    pub addr: SocketAddr,
    pub storage: Arc<SqlStorage>,
    pub service: Arc<Service>,
    _instance: Instance,
    _code_server: Running,
}

impl Server {
    pub async fn start(settings: WebSettings) -> Self {
        let instance = Instance::sqlite();
        let storage = instance.storage().await;
        let code_server = instance.code_server();
        let workspace = Workspace::connect(vec![("demo".into(), code_server.url.clone())]).await;
        let service = Arc::new(Service::new(
            storage.clone(),
            workspace,
            instance.home.path().to_owned(),
        ));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = sluice_web::app(service.clone(), &settings, addr);
        tokio::spawn(sluice_web::serve(listener, app, Default::default()));
        Self {
            addr,
            storage,
            service,
            _instance: instance,
            _code_server: code_server,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn query_url(&self, query: &str) -> url::Url {
        url::Url::parse_with_params(&self.url("/graphql"), [("query", query)]).unwrap()
    }

    /// A run of the demo's `one_op_job`, queued (no daemon runs here to start it).
    pub async fn queued_run(&self) -> String {
        let run = NewRun {
            location_name: Some("demo".to_owned()),
            status: RunStatus::Queued,
            ..NewRun::new("one_op_job")
        };
        let run = self.storage.create_run(&run).await.unwrap();
        assert_eq!(run.status, RunStatus::Queued);
        run.run_id
    }

    pub async fn status(&self, run_id: &str) -> RunStatus {
        self.storage.get_run(run_id).await.unwrap().unwrap().status
    }
}
