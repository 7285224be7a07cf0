//! The engine's HTTP server (axum on its own thread and its own single-threaded tokio
//! runtime, off the hot path): `/metrics` for Prometheus, `/healthz` and `/readyz`, and the
//! live status page with its control switches.
//!
//! | route | what |
//! |---|---|
//! | `GET /healthz` | 200 while the process serves requests |
//! | `GET /readyz` | 200 when reconciled with the gateway and trading, else 503 with the reason |
//! | `GET /metrics` | Prometheus / OpenMetrics text ([`prometheus`]) |
//! | `GET /` | the status page (one self-contained HTML file, no external fetches) |
//! | `GET /api/status` | the page's data as JSON ([`view::PageView`]) |
//! | `GET /api/events` | the same, as server-sent events, one per second |
//! | `POST /api/control` | a control request (the control endpoint's JSON); changes need the control token as `Authorization: Bearer <token>` |
//!
//! Reads need no token (like `/metrics`); bind the server on loopback (the default) or
//! behind a proxy that authenticates. Every change goes through the control actor, which
//! logs it (`CONTROL_CHANGE`) with `who` (header `X-Operator`) and the peer address.

pub mod live;
pub mod prometheus;
pub mod view;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use tokio::sync::watch;
use tracing::{info, warn};

use actors::control::{authorize, check_who, Caller, ControlAs, ControlRequest, ControlResponse, ControlToken};

use live::LiveSources;
use view::PageView;

/// The status page.
const PAGE: &str = include_str!("page.html");
/// The largest control request body accepted.
const MAX_BODY_BYTES: usize = 64 * 1024;
/// How often the page's stream sends the status.
pub const EVENT_EVERY: Duration = Duration::from_secs(1);

/// How the server runs.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub bind: SocketAddr,
    /// One series per symbol in `/metrics` (off for very large symbol counts).
    pub symbol_labels: bool,
    /// The control token (`None`: the page's switches are refused, like `engine ctl`).
    pub token: Option<ControlToken>,
}

struct AppState {
    sources: LiveSources,
    settings: HttpSettings,
    stopping: watch::Receiver<bool>,
}

/// A running server; [`HttpServer::stop`] (or drop) ends it.
pub struct HttpServer {
    pub local_addr: SocketAddr,
    stop: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds now (an address in use is an error here, not later) and serves on a new thread.
    pub fn start(settings: HttpSettings, sources: LiveSources) -> std::io::Result<HttpServer> {
        let listener = std::net::TcpListener::bind(settings.bind)?;
        listener.set_nonblocking(true)?;
        let local_addr = listener.local_addr()?;
        let (stop, stopping) = watch::channel(false);
        let state = Arc::new(AppState { sources, settings, stopping: stopping.clone() });
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new().name("http".into()).spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        warn!(target: "http", error = %e, "HTTP server could not start");
                        return;
                    }
                };
                let mut stopping = stopping;
                let shutdown = async move {
                    let _ = stopping.wait_for(|stop| *stop).await;
                };
                let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
                if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
                    warn!(target: "http", error = %e, "HTTP server stopped with an error");
                }
            });
        })?;
        info!(target: "http", address = %local_addr, "HTTP server listening (/metrics, /healthz, /readyz, status page /)");
        Ok(HttpServer { local_addr, stop, thread: Some(thread) })
    }

    /// Ends open streams, stops accepting, and waits for the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .route("/api/status", get(status))
        .route("/api/events", get(events))
        .route("/api/control", post(control))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

fn unavailable(e: impl std::fmt::Display) -> Response {
    (StatusCode::SERVICE_UNAVAILABLE, format!("{e}\n")).into_response()
}

async fn page() -> Html<&'static str> {
    Html(PAGE)
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    match state.sources.snapshot(false).await {
        Ok(snapshot) => match snapshot.ready() {
            Ok(()) => (StatusCode::OK, "ready\n").into_response(),
            Err(why) => (StatusCode::SERVICE_UNAVAILABLE, format!("not ready: {why}\n")).into_response(),
        },
        Err(e) => unavailable(e),
    }
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    let snapshot = match state.sources.snapshot(true).await {
        Ok(s) => Arc::new(s),
        Err(e) => return unavailable(e),
    };
    match prometheus::encode(snapshot, state.settings.symbol_labels) {
        Ok(text) => ([(header::CONTENT_TYPE, prometheus::CONTENT_TYPE)], text).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("encoding the metrics: {e}\n")).into_response(),
    }
}

async fn status(State(state): State<Arc<AppState>>) -> Response {
    match state.sources.snapshot(false).await {
        Ok(snapshot) => Json(PageView::of(&snapshot)).into_response(),
        Err(e) => unavailable(e),
    }
}

/// The status once a second until the client goes or the server stops.
async fn events(State(state): State<Arc<AppState>>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures_util::stream::unfold((state, true), |(state, first)| async move {
        if !first {
            let mut stopping = state.stopping.clone();
            tokio::select! {
                _ = tokio::time::sleep(EVENT_EVERY) => {}
                _ = stopping.wait_for(|stop| *stop) => return None,
            }
        }
        if *state.stopping.borrow() {
            return None;
        }
        let event = match state.sources.snapshot(false).await {
            Ok(snapshot) => Event::default().event("status").json_data(PageView::of(&snapshot)),
            Err(e) => Ok(Event::default().event("unavailable").data(e.to_string())),
        };
        let event = event.unwrap_or_else(|e| Event::default().event("unavailable").data(e.to_string()));
        Some((Ok(event), (state, false)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// A control request from the page (or any HTTP client).
async fn control(
    State(state): State<Arc<AppState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let refuse = |status: StatusCode, text: String| (status, Json(ControlResponse::refused(text))).into_response();
    let request: ControlRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, format!("bad control request: {e}")),
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    let who = match headers.get("x-operator").map(|v| v.to_str()) {
        None => None,
        Some(Ok(who)) => match check_who(who) {
            Ok(()) => Some(who.to_string()),
            Err(e) => return refuse(StatusCode::BAD_REQUEST, e),
        },
        Some(Err(_)) => return refuse(StatusCode::BAD_REQUEST, "\"X-Operator\" must be visible ASCII".into()),
    };
    if let Err(why) = authorize(state.settings.token.as_ref(), &request, token) {
        warn!(target: "control", peer = %peer, who = who.as_deref(), cmd = request.name(), why, "CONTROL_UNAUTHORIZED");
        return refuse(StatusCode::UNAUTHORIZED, format!("unauthorized: {why}"));
    }
    let caller = Caller { identity: "http".into(), peer: Some(peer.to_string()), who };
    match state.sources.control.send(ControlAs { request, caller }).await {
        Ok(answer) if answer.ok => Json(answer).into_response(),
        Ok(answer) => (StatusCode::UNPROCESSABLE_ENTITY, Json(answer)).into_response(),
        Err(e) => unavailable(e),
    }
}
