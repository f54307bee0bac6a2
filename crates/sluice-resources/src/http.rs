//! [`HttpApiResource`]: a client for one HTTP API, as the report and extraction
//! pipelines use them: a base URL, a token from the environment, timeouts, retries with
//! backoff on the failures worth retrying, JSON in and out, pagination, and polling a job
//! until the API says it is done.
//!
//! ```
//! use sluice_core::prelude::*;
//! use sluice_resources::http::HttpApiResource;
//!
//! // In run config: `resources: {reports_api: {config: {base_url: ..., auth: {bearer: {token: {env: REPORTS_TOKEN}}}}}}`
//! let api = ResourceDefinition::new::<HttpApiResource>();
//! assert!(api.config_schema().is_some());
//! ```

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sluice_core::config::{EnvVarError, StringSource};
use sluice_core::resource::{ConfigurableResource, InitResourceContext, ResourceError};
use url::Url;

/// The longest wait a `Retry-After` header is honoured for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// How much of an error response's body an error quotes.
const BODY_EXCERPT: usize = 300;

/// The config of an [`HttpApiResource`].
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpApiConfig {
    /// The API's base URL; request paths are joined to it.
    pub base_url: StringSource,
    /// How requests authenticate.
    #[serde(default)]
    pub auth: Option<HttpAuth>,
    /// Headers sent with every request.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Seconds one attempt of a request may take, response included.
    #[serde(default = "defaults::timeout")]
    pub timeout_seconds: f64,
    /// Seconds to wait for a connection.
    #[serde(default = "defaults::connect_timeout")]
    pub connect_timeout_seconds: f64,
    /// Attempts after the first, on a connection error, a timeout, a 429 or a 5xx.
    #[serde(default = "defaults::max_retries")]
    pub max_retries: u32,
    /// The delay before the first retry; each next one doubles, up to
    /// `max_backoff_seconds`, and is jittered. A 429's `Retry-After` takes precedence.
    #[serde(default = "defaults::backoff")]
    pub backoff_seconds: f64,
    /// The longest delay between two attempts, in seconds.
    #[serde(default = "defaults::max_backoff")]
    pub max_backoff_seconds: f64,
    /// A path that answers with a success status when the API is up (`health`), for
    /// the health check; without it, the check asks only that the server answers.
    #[serde(default)]
    pub health_path: Option<String>,
}

mod defaults {
    pub(super) fn timeout() -> f64 {
        30.0
    }
    pub(super) fn connect_timeout() -> f64 {
        10.0
    }
    pub(super) fn max_retries() -> u32 {
        3
    }
    pub(super) fn backoff() -> f64 {
        0.5
    }
    pub(super) fn max_backoff() -> f64 {
        30.0
    }
}

impl HttpApiConfig {
    /// The defaults, for the API at `base_url`.
    pub fn new(base_url: impl Into<StringSource>) -> Self {
        Self {
            base_url: base_url.into(),
            auth: None,
            headers: BTreeMap::new(),
            timeout_seconds: defaults::timeout(),
            connect_timeout_seconds: defaults::connect_timeout(),
            max_retries: defaults::max_retries(),
            backoff_seconds: defaults::backoff(),
            max_backoff_seconds: defaults::max_backoff(),
            health_path: None,
        }
    }
}

/// How requests authenticate; the secret comes from config, best through an `EnvVar`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum HttpAuth {
    /// `Authorization: Bearer <token>`: an API token or a JWT.
    Bearer {
        /// The token.
        token: StringSource,
    },
    /// The key in a header of the API's choosing, such as `X-API-Key`.
    ApiKey {
        /// The header's name.
        header: String,
        /// The key, sent as the header's value.
        key: StringSource,
    },
}

/// A request that did not give what was asked. No variant holds a header value, so a
/// token never reaches an error message; URLs are shown without their query.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// The config cannot make a client.
    #[error("invalid HTTP API config: {0}")]
    Config(String),
    /// An environment variable the config names could not be read.
    #[error(transparent)]
    EnvVar(#[from] EnvVarError),
    /// No response: the connection failed or the attempt timed out.
    #[error("{method} {url} failed after {attempts} attempt(s): {reason}")]
    Transport {
        /// The request's method.
        method: Method,
        /// The request's URL, without its query.
        url: String,
        /// How many attempts were made, retries included.
        attempts: u32,
        /// Why the last attempt failed, with its causes.
        reason: String,
    },
    /// The API answered with an error status.
    #[error(
        "{method} {url} answered {status} after {attempts} attempt(s){}",
        excerpt(body)
    )]
    Status {
        /// The request's method.
        method: Method,
        /// The request's URL, without its query.
        url: String,
        /// The status of the last answer.
        status: StatusCode,
        /// How many attempts were made, retries included.
        attempts: u32,
        /// The body of the last answer (the message quotes its beginning).
        body: String,
    },
    /// The response is not what the caller expected.
    #[error("{method} {url}: cannot read the response: {reason}")]
    Decode {
        /// The request's method.
        method: Method,
        /// The request's URL, without its query.
        url: String,
        /// What is wrong with the response.
        reason: String,
    },
    /// Polling gave up before the API reported the work done.
    #[error("{what} was not done after {attempts} checks over {:.1}s", waited.as_secs_f64())]
    NotDone {
        /// What was polled, as the caller named it.
        what: String,
        /// How many checks were made.
        attempts: u32,
        /// How long polling took in all.
        waited: Duration,
    },
}

fn excerpt(body: &str) -> String {
    let body = body.trim();
    if body.is_empty() {
        return String::new();
    }
    let cut: String = body.chars().take(BODY_EXCERPT).collect();
    let more = if cut.len() < body.len() { "…" } else { "" };
    format!(": {cut}{more}")
}

/// A URL as errors show it: without query or credentials.
fn shown(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    let _ = url.set_password(None);
    let _ = url.set_username("");
    url.to_string()
}

/// A client for one HTTP API (see the [module](self) docs). Cheap to share: requests
/// reuse its connection pool.
#[derive(Debug, Clone)]
pub struct HttpApiResource {
    client: reqwest::Client,
    base_url: Url,
    retries: Backoff,
    health_path: Option<String>,
}

#[derive(Debug, Clone, Copy)]
struct Backoff {
    max_retries: u32,
    first: Duration,
    max: Duration,
}

impl Backoff {
    /// The jittered delay before retry number `retry` (1 for the first).
    fn delay(&self, retry: u32) -> Duration {
        let doubled = self
            .first
            .saturating_mul(2u32.saturating_pow(retry.saturating_sub(1)));
        doubled.min(self.max).mul_f64(0.5 + fastrand::f64() / 2.0)
    }
}

fn seconds(value: f64, field: &str) -> Result<Duration, HttpError> {
    crate::seconds(value, field).map_err(HttpError::Config)
}

impl ConfigurableResource for HttpApiResource {
    type Config = HttpApiConfig;

    async fn setup(
        config: HttpApiConfig,
        _ctx: &InitResourceContext,
    ) -> Result<Self, ResourceError> {
        // The process's client for this config (its connection pool, TLS setup and
        // headers), made by the first setup.
        let token = match &config.auth {
            Some(HttpAuth::Bearer { token }) => Some(token),
            Some(HttpAuth::ApiKey { key, .. }) => Some(key),
            None => None,
        };
        let key = crate::shared::config_key(&config, &[Some(&config.base_url), token])
            .map_err(crate::resource_error)?;
        crate::shared::get_or_open(key, |_| true, || async { Self::new(config) })
            .await
            .map_err(crate::resource_error)
    }

    async fn health_check(&self) -> Result<(), ResourceError> {
        self.health_check().await.map_err(crate::resource_error)
    }
}

impl HttpApiResource {
    /// A client from `config`, its secrets read from the environment now.
    pub fn new(config: HttpApiConfig) -> Result<Self, HttpError> {
        let base = config.base_url.resolve()?;
        let mut base_url = Url::parse(&base)
            .map_err(|e| HttpError::Config(format!("base_url {base:?} is not a URL: {e}")))?;
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(HttpError::Config(format!(
                "base_url {base:?} is not an http(s) URL"
            )));
        }
        // Paths join under the base, not beside its last segment.
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        let mut headers = HeaderMap::new();
        for (name, value) in &config.headers {
            let name = HeaderName::try_from(name.as_str())
                .map_err(|e| HttpError::Config(format!("header name {name:?}: {e}")))?;
            let value = HeaderValue::try_from(value.as_str())
                .map_err(|e| HttpError::Config(format!("value of header {name}: {e}")))?;
            headers.insert(name, value);
        }
        let secret = |value: String, header: &str| {
            let mut value = HeaderValue::try_from(value).map_err(|_| {
                HttpError::Config(format!("the {header} secret is not a valid header value"))
            })?;
            value.set_sensitive(true);
            Ok::<_, HttpError>(value)
        };
        match &config.auth {
            None => {}
            Some(HttpAuth::Bearer { token }) => {
                let value = secret(format!("Bearer {}", token.resolve()?), "bearer token")?;
                headers.insert(AUTHORIZATION, value);
            }
            Some(HttpAuth::ApiKey { header, key }) => {
                let name = HeaderName::try_from(header.as_str())
                    .map_err(|e| HttpError::Config(format!("API key header {header:?}: {e}")))?;
                headers.insert(name, secret(key.resolve()?, "API key")?);
            }
        }
        let client = reqwest::Client::builder()
            .default_headers(headers)
            .timeout(seconds(config.timeout_seconds, "timeout_seconds")?)
            .connect_timeout(seconds(
                config.connect_timeout_seconds,
                "connect_timeout_seconds",
            )?)
            .build()
            .map_err(|e| HttpError::Config(e.to_string()))?;
        Ok(Self {
            client,
            base_url,
            retries: Backoff {
                max_retries: config.max_retries,
                first: seconds(config.backoff_seconds, "backoff_seconds")?,
                max: seconds(config.max_backoff_seconds, "max_backoff_seconds")?,
            },
            health_path: config.health_path,
        })
    }

    /// One attempt, no retries: `health_path` answers with a success status, or (without
    /// one) the server at the base URL answers at all.
    pub async fn health_check(&self) -> Result<(), HttpError> {
        let (method, url) = match &self.health_path {
            Some(path) => (Method::GET, self.url(path, &[])?),
            None => (Method::HEAD, self.base_url.clone()),
        };
        let response = self
            .client
            .request(method.clone(), url.clone())
            .send()
            .await
            .map_err(|e| HttpError::Transport {
                method: method.clone(),
                url: shown(&url),
                attempts: 1,
                reason: transport_reason(&e),
            })?;
        let status = response.status();
        if self.health_path.is_some() && !status.is_success() {
            return Err(HttpError::Status {
                method,
                url: shown(&url),
                status,
                attempts: 1,
                body: response.text().await.unwrap_or_default(),
            });
        }
        Ok(())
    }

    /// The API's base URL.
    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// `path` (relative to the base URL, or absolute) with `query` appended.
    pub fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, HttpError> {
        let mut url = self
            .base_url
            .join(path.trim_start_matches('/'))
            .map_err(|e| HttpError::Config(format!("path {path:?} does not make a URL: {e}")))?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        Ok(url)
    }

    /// Send `method` to `url`, as `build` shapes the request, retrying connection errors,
    /// timeouts, 429s (after their `Retry-After`) and 5xx responses with backoff. The
    /// response has a success status.
    pub async fn send(
        &self,
        method: Method,
        url: Url,
        build: impl Fn(RequestBuilder) -> RequestBuilder,
    ) -> Result<Response, HttpError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let request = build(self.client.request(method.clone(), url.clone()));
            let last = attempt > self.retries.max_retries;
            let wait = match request.send().await {
                Ok(response) if response.status().is_success() => return Ok(response),
                Ok(response) => {
                    let status = response.status();
                    let retryable =
                        status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
                    if !retryable || last {
                        let body = response.text().await.unwrap_or_default();
                        return Err(HttpError::Status {
                            method,
                            url: shown(&url),
                            status,
                            attempts: attempt,
                            body,
                        });
                    }
                    retry_after(&response).unwrap_or_else(|| self.retries.delay(attempt))
                }
                Err(e) if (e.is_connect() || e.is_timeout() || e.is_request()) && !last => {
                    self.retries.delay(attempt)
                }
                Err(e) => {
                    return Err(HttpError::Transport {
                        method,
                        url: shown(&url),
                        attempts: attempt,
                        reason: transport_reason(&e),
                    });
                }
            };
            tracing::debug!(%method, url = %shown(&url), attempt, wait_ms = wait.as_millis() as u64, "retrying HTTP request");
            tokio::time::sleep(wait).await;
        }
    }

    /// GET `path` with `query`, decoded from JSON.
    pub async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<T, HttpError> {
        let url = self.url(path, query)?;
        let response = self.send(Method::GET, url.clone(), |r| r).await?;
        decode(Method::GET, &url, response).await
    }

    /// POST `body` as JSON to `path`; the response decoded from JSON.
    pub async fn post_json<B: Serialize + ?Sized, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, HttpError> {
        let url = self.url(path, &[])?;
        let response = self
            .send(Method::POST, url.clone(), |r| r.json(body))
            .await?;
        decode(Method::POST, &url, response).await
    }

    /// Every item of every page of `path`, in order (see [`Pages`]).
    pub async fn paginate(
        &self,
        path: &str,
        query: &[(&str, &str)],
        pages: &Pages,
    ) -> Result<Vec<Value>, HttpError> {
        let mut items = Vec::new();
        let mut next: Option<Url> = Some(self.first_page(path, query, &pages.pagination)?);
        let mut page_number = match &pages.pagination {
            Pagination::PageNumber { first, .. } => *first,
            _ => 0,
        };
        let mut fetched = 0;
        while let Some(url) = next.take() {
            if fetched == pages.max_pages {
                return Err(HttpError::Decode {
                    method: Method::GET,
                    url: shown(&url),
                    reason: format!("more than {} pages", pages.max_pages),
                });
            }
            fetched += 1;
            let response = self.send(Method::GET, url.clone(), |r| r).await?;
            let page: Value = decode(Method::GET, &url, response).await?;
            let found = page
                .pointer(&pages.items)
                .and_then(Value::as_array)
                .ok_or_else(|| HttpError::Decode {
                    method: Method::GET,
                    url: shown(&url),
                    reason: format!("no array of items at {:?}", pages.items),
                })?;
            let empty = found.is_empty();
            items.extend(found.iter().cloned());
            next = match &pages.pagination {
                Pagination::PageNumber { param, .. } if !empty => {
                    page_number += 1;
                    Some(with_param(&url, param, &page_number.to_string()))
                }
                Pagination::PageNumber { .. } => None,
                Pagination::Cursor { param, cursor } => match page.pointer(cursor) {
                    Some(Value::String(c)) if !c.is_empty() && !empty => {
                        Some(with_param(&url, param, c))
                    }
                    Some(Value::Number(n)) if !empty => {
                        Some(with_param(&url, param, &n.to_string()))
                    }
                    _ => None,
                },
                Pagination::NextUrl { next } => match page.pointer(next) {
                    Some(Value::String(link)) if !link.is_empty() => {
                        Some(url.join(link).map_err(|e| HttpError::Decode {
                            method: Method::GET,
                            url: shown(&url),
                            reason: format!("next-page link {link:?}: {e}"),
                        })?)
                    }
                    _ => None,
                },
            };
        }
        Ok(items)
    }

    fn first_page(
        &self,
        path: &str,
        query: &[(&str, &str)],
        pagination: &Pagination,
    ) -> Result<Url, HttpError> {
        let url = self.url(path, query)?;
        Ok(match pagination {
            Pagination::PageNumber { param, first } => with_param(&url, param, &first.to_string()),
            _ => url,
        })
    }

    /// Call `check` until it returns a value (the API's work is done), at most
    /// `poll.max_attempts` times, `poll.interval` apart; `what` names the work in the
    /// error when it never finishes.
    pub async fn poll_until<T, F, Fut>(
        &self,
        what: &str,
        poll: Poll,
        mut check: F,
    ) -> Result<T, HttpError>
    where
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<Option<T>, HttpError>>,
    {
        let started = tokio::time::Instant::now();
        for attempt in 1..=poll.max_attempts {
            if let Some(done) = check(attempt).await? {
                return Ok(done);
            }
            if attempt < poll.max_attempts {
                tokio::time::sleep(poll.interval).await;
            }
        }
        Err(HttpError::NotDone {
            what: what.to_owned(),
            attempts: poll.max_attempts,
            waited: started.elapsed(),
        })
    }
}

/// `url` with query parameter `param` set to `value` (replacing it if present).
fn with_param(url: &Url, param: &str, value: &str) -> Url {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != param)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut url = url.clone();
    url.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair(param, value);
    url
}

async fn decode<T: DeserializeOwned>(
    method: Method,
    url: &Url,
    response: Response,
) -> Result<T, HttpError> {
    let bytes = response.bytes().await.map_err(|e| HttpError::Decode {
        method: method.clone(),
        url: shown(url),
        reason: transport_reason(&e),
    })?;
    serde_json::from_slice(&bytes).map_err(|e| HttpError::Decode {
        method,
        url: shown(url),
        reason: format!("{e}{}", excerpt(&String::from_utf8_lossy(&bytes))),
    })
}

/// A 429's `Retry-After`: seconds, or an HTTP date.
fn retry_after(response: &Response) -> Option<Duration> {
    if response.status() != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

/// What went wrong below HTTP, in words, with the causes reqwest wraps.
fn transport_reason(e: &reqwest::Error) -> String {
    let mut reason = if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "cannot connect".to_owned()
    } else {
        "request failed".to_owned()
    };
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        reason.push_str(": ");
        reason.push_str(&cause.to_string());
        source = cause.source();
    }
    reason
}

/// How [`HttpApiResource::paginate`] finds the items of a page and the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Pages {
    /// The JSON pointer to the array of items in a page (`/data`; empty: the page is
    /// the array).
    pub items: String,
    /// How the next page is found.
    pub pagination: Pagination,
    /// Fail rather than fetch more pages than this.
    pub max_pages: usize,
}

impl Pages {
    /// Items at `items`, pages found by `pagination`, at most 10,000 pages.
    pub fn new(items: impl Into<String>, pagination: Pagination) -> Self {
        Self {
            items: items.into(),
            pagination,
            max_pages: 10_000,
        }
    }
}

/// How the next page is named.
#[derive(Debug, Clone, PartialEq)]
pub enum Pagination {
    /// Query parameter `param` counts pages from `first`, until a page has no items.
    PageNumber {
        /// The query parameter that carries the page number.
        param: String,
        /// The number of the first page (usually 0 or 1).
        first: u64,
    },
    /// The page's cursor, at JSON pointer `cursor`, is sent back as query parameter
    /// `param`, until it is null, empty or missing (or a page has no items).
    Cursor {
        /// The query parameter the cursor is sent back as.
        param: String,
        /// The JSON pointer to the cursor in a page.
        cursor: String,
    },
    /// The page names the next page's URL (absolute or relative) at JSON pointer `next`,
    /// until it is null or missing.
    NextUrl {
        /// The JSON pointer to the next page's URL in a page.
        next: String,
    },
}

/// How often and how long [`HttpApiResource::poll_until`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Poll {
    /// How many times to check before giving up.
    pub max_attempts: u32,
    /// How long to wait between two checks.
    pub interval: Duration,
}
