//! The pushbench server: one topic hub behind the five push transports of
//! `docs/protocol.md` (timed polling, long polling, chunked streaming, Server-Sent Events,
//! WebSocket), plus the control and statistics endpoints the load generator drives.
//!
//! It owns the topics, the open-loop publisher, and the counters `/stats` reports (including
//! the process's CPU time and memory). It never measures latency (the load generator does,
//! from the scheduled `sent_ns` in each message), never reads the command line or the
//! environment, never binds sockets itself and never exits the process: the caller hands it
//! a bound listener and a shutdown future.
#![warn(missing_docs)]

mod body;
mod hub;
mod publisher;
mod routes;
mod state;
mod ws;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use state::{AppState, ConnSlot};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Tunables of one server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Messages retained per topic for late or reconnecting readers (default 4,096).
    pub ring_capacity: usize,
    /// Idle time after which an SSE stream gets a `:` comment (default 15 s).
    pub sse_heartbeat: Duration,
    /// How long `/longpoll` holds a request that names no `timeout` (default 30 s).
    pub longpoll_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            ring_capacity: 4096,
            sse_heartbeat: Duration::from_secs(15),
            longpoll_timeout: Duration::from_secs(30),
        }
    }
}

/// Why the server could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A `ServerConfig` value the server cannot work with.
    #[error("invalid server configuration: {0}")]
    Config(&'static str),
}

/// How long shutdown waits for connections to finish their last answer or close handshake;
/// a client that stops reading must not keep the server from returning.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` (e.g. EMFILE): the error usually persists for a moment, and
/// retrying at once would spin a core that the benchmark is measuring.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

/// Serves with [`ServerConfig::default`] until `shutdown` completes; see [`serve_with`].
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    serve_with(listener, ServerConfig::default(), shutdown).await
}

/// Serves connections from `listener` until `shutdown` completes.
///
/// On shutdown it stops accepting, stops the publisher, ends streaming responses, closes
/// WebSockets with status 1001, answers held long polls, waits (a few seconds at most) for
/// connections to finish, and returns.
pub async fn serve_with(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    if config.ring_capacity == 0 {
        return Err(ServerError::Config("ring_capacity must be at least 1"));
    }
    if config.sse_heartbeat.is_zero() {
        return Err(ServerError::Config(
            "sse_heartbeat must be longer than zero",
        ));
    }
    let token = CancellationToken::new();
    // If the caller drops this future instead of completing `shutdown`, connections and
    // the publisher still stop rather than run on detached.
    let _stop_on_drop = token.clone().drop_guard();
    let state = Arc::new(AppState::new(config, token.clone()));
    // Every connection holds a sender clone; `recv` returns None once all are gone.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            biased;
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    state.stats.connections_accepted.fetch_add(1, Relaxed);
                    // Latency benchmark: never let Nagle hold a small message back.
                    let _ = stream.set_nodelay(true);
                    tokio::spawn(connection(state.clone(), stream, alive.clone()));
                }
                Err(_) => {
                    state.stats.accept_errors.fetch_add(1, Relaxed);
                    tokio::select! {
                        _ = &mut shutdown => break,
                        _ = tokio::time::sleep(ACCEPT_BACKOFF) => {}
                    }
                }
            },
        }
    }
    drop(listener);
    token.cancel();
    routes::stop_publisher(state.publisher.lock().await.take()).await;
    drop(alive);
    let _ = tokio::time::timeout(DRAIN_TIMEOUT, all_closed.recv()).await;
    Ok(())
}

async fn connection(state: Arc<AppState>, stream: TcpStream, alive: mpsc::Sender<()>) {
    let slot = Arc::new(ConnSlot::new(state.clone(), alive));
    let service = {
        let state = state.clone();
        service_fn(move |req| routes::handle(state.clone(), slot.clone(), req))
    };
    let conn = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = state.shutdown.cancelled() => {
            // Lets an in-flight answer finish (push bodies end on the same token), then
            // closes instead of waiting for another request.
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
