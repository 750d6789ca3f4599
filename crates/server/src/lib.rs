//! The pushbench server: one topic hub behind the five push transports of
//! `docs/protocol.md` (timed polling, long polling, chunked streaming, Server-Sent Events,
//! WebSocket) and the raw stream they are measured against, plus the control and statistics
//! endpoints the load generator drives; and, at `/`, a page that runs the five transports
//! in a browser (`page.rs`, `live.html`).
//!
//! It owns the topics, the open-loop publisher, and the counters `/stats` reports (including
//! the process's CPU time and memory). It never measures latency (the load generator does,
//! from the scheduled `sent_ns` in each message), never reads the command line or the
//! environment, never binds sockets itself and never exits the process: the caller hands it
//! a bound listener and a shutdown future.
#![warn(missing_docs)]

mod body;
mod control;
mod echo;
mod failure;
mod group;
mod hub;
mod page;
mod publisher;
mod routes;
mod runtime;
mod slowdown;
mod state;
mod transports;
mod ws;

use control::ControlThread;
use failure::Failure;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use pushbench_model::protocol::{DEFAULT_LONGPOLL_TIMEOUT, DEFAULT_RING_CAPACITY};
pub use runtime::ServerRuntime;
use runtime::Spawner;
use state::{AppState, ConnSlot};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Tunables of one server. Every limit that protects the server from its clients is here,
/// with a default meant for a benchmark host that also runs the load generator.
#[derive(Clone, PartialEq)]
pub struct ServerConfig {
    /// Messages retained per topic for late or reconnecting readers (default 4,096).
    pub ring_capacity: usize,
    /// Idle time after which an SSE stream gets a `:` comment (default 15 s).
    pub sse_heartbeat: Duration,
    /// How long `/longpoll` holds a request that names no `timeout` (default 30 s).
    pub longpoll_timeout: Duration,
    /// How many messages a streaming connection (WebSocket, SSE, chunked stream) may fall
    /// behind the head before it is disconnected as a slow consumer (default 1,024; at
    /// least 1). Clamped below `ring_capacity`, so a client is told before it would
    /// silently lose messages to the ring.
    pub max_lag: u64,
    /// How long a streaming connection may be unable to send while messages are waiting
    /// before it is disconnected as a slow consumer (default 10 s).
    pub stall_timeout: Duration,
    /// The largest WebSocket message a client may send, whole or in fragments (default
    /// 64 KiB); larger ones are answered with close code 1009.
    pub ws_max_message_bytes: usize,
    /// How long a WebSocket the server closes has to answer the close frame before the
    /// socket is dropped anyway (default 1 s).
    pub ws_close_timeout: Duration,
    /// How long a connection may take to send a complete request head (default 30 s). It
    /// also bounds how long a keep-alive connection may sit idle between requests.
    pub header_read_timeout: Duration,
    /// The largest request head, request line and headers together (default 16 KiB);
    /// larger ones are answered `431`. hyper's per-connection buffers are capped at this
    /// too, but not below its floor of 8 KiB.
    pub max_header_bytes: usize,
    /// Connections open at once (default 20,000); one more is answered `503` and closed.
    pub max_connections: usize,
    /// When set, `/control/*` requests must carry `Authorization: Bearer <token>`
    /// (default none). Required when the listener is not on a loopback address.
    pub control_token: Option<String>,
    /// The memory all topic rings together may hold when full, estimated per message
    /// (default 2 GiB). A workload that could exceed it is refused, and clients may not
    /// publish payloads larger than the workload's topics leave room for.
    pub max_retained_bytes: u64,
    /// How long shutdown may take, from the shutdown future completing to `serve_with`
    /// returning (default 5 s); connections still open then are abandoned.
    pub shutdown_timeout: Duration,
    /// Which threads serve connections (default [`ServerRuntime::Shared`]).
    pub runtime: ServerRuntime,
    /// The most ticks per second the publisher makes, whatever the workload's rate asks
    /// (default none: the schedule's rate). Its role is to make a server that cannot keep
    /// up on purpose, to see how pushbench reports one: with a cap of N against a schedule
    /// of M > N per second, each tick is published 1/N − 1/M later than the one before it.
    pub publisher_max_rate: Option<f64>,
    /// The control addresses of the other processes of a multi-process server sharing
    /// this one's port (default none: a server of one process). Control requests from
    /// clients are forwarded to them and `/stats` covers them (docs/sharding.md); each
    /// must be a loopback address, and run with the same `control_token`.
    pub peers: Vec<SocketAddr>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            ring_capacity: DEFAULT_RING_CAPACITY,
            sse_heartbeat: Duration::from_secs(15),
            longpoll_timeout: DEFAULT_LONGPOLL_TIMEOUT,
            max_lag: 1024,
            stall_timeout: Duration::from_secs(10),
            ws_max_message_bytes: 64 * 1024,
            ws_close_timeout: Duration::from_secs(1),
            header_read_timeout: Duration::from_secs(30),
            max_header_bytes: 16 * 1024,
            max_connections: 20_000,
            control_token: None,
            max_retained_bytes: 2 << 30,
            shutdown_timeout: Duration::from_secs(5),
            runtime: ServerRuntime::default(),
            publisher_max_rate: None,
            peers: Vec::new(),
        }
    }
}

impl std::fmt::Debug for ServerConfig {
    // By hand, so that a logged configuration does not leak the control token.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("ring_capacity", &self.ring_capacity)
            .field("sse_heartbeat", &self.sse_heartbeat)
            .field("longpoll_timeout", &self.longpoll_timeout)
            .field("max_lag", &self.max_lag)
            .field("stall_timeout", &self.stall_timeout)
            .field("ws_max_message_bytes", &self.ws_max_message_bytes)
            .field("ws_close_timeout", &self.ws_close_timeout)
            .field("header_read_timeout", &self.header_read_timeout)
            .field("max_header_bytes", &self.max_header_bytes)
            .field("max_connections", &self.max_connections)
            .field(
                "control_token",
                &self.control_token.as_ref().map(|_| "<redacted>"),
            )
            .field("max_retained_bytes", &self.max_retained_bytes)
            .field("shutdown_timeout", &self.shutdown_timeout)
            .field("runtime", &self.runtime)
            .field("publisher_max_rate", &self.publisher_max_rate)
            .field("peers", &self.peers)
            .finish()
    }
}

impl ServerConfig {
    /// Checks the values the server cannot work with.
    fn validate(&self) -> Result<(), ServerError> {
        let positive = [
            (self.sse_heartbeat, "sse_heartbeat must be longer than zero"),
            (self.stall_timeout, "stall_timeout must be longer than zero"),
            (
                self.header_read_timeout,
                "header_read_timeout must be longer than zero",
            ),
            (
                self.ws_close_timeout,
                "ws_close_timeout must be longer than zero",
            ),
        ];
        if let Some((_, why)) = positive.iter().find(|(d, _)| d.is_zero()) {
            return Err(ServerError::Config(why));
        }
        let checks = [
            (self.ring_capacity == 0, "ring_capacity must be at least 1"),
            (self.max_lag == 0, "max_lag must be at least 1"),
            (
                self.ws_max_message_bytes == 0,
                "ws_max_message_bytes must be at least 1",
            ),
            (
                self.max_header_bytes == 0,
                "max_header_bytes must be at least 1",
            ),
            (
                self.max_connections == 0,
                "max_connections must be at least 1",
            ),
            (
                self.control_token.as_deref().is_some_and(str::is_empty),
                "control_token must not be empty",
            ),
            (
                self.runtime == ServerRuntime::PerCore { threads: 0 },
                "a per-core runtime needs at least 1 thread",
            ),
            (
                self.publisher_max_rate
                    .is_some_and(|r| !(r.is_finite() && r > 0.0)),
                "publisher_max_rate must be a positive number",
            ),
            (
                self.peers
                    .iter()
                    .any(|p| !p.ip().to_canonical().is_loopback()),
                "peers must be loopback addresses: the processes of one server share a host",
            ),
            (
                state::payload_budget(self, 1).is_none(),
                "max_retained_bytes cannot hold even one topic's ring",
            ),
        ];
        match checks.iter().find(|(bad, _)| *bad) {
            Some((_, why)) => Err(ServerError::Config(why)),
            None => Ok(()),
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
    /// The listener is reachable from other hosts and no `control_token` guards the
    /// endpoints that drive the server.
    #[error(
        "refusing to serve on {0}, which is not a loopback address, without a control token: anyone who can reach it could drive /control/*"
    )]
    UnprotectedControl(SocketAddr),
    /// The listener's address could not be read.
    #[error("cannot read the listener's address: {0}")]
    Listener(#[source] std::io::Error),
    /// The threads of a per-core runtime could not be started.
    #[error("cannot start the server's runtime threads: {0}")]
    Runtime(#[source] std::io::Error),
}

/// Refuses an address other hosts can reach unless a control token is set. Pure, so the
/// rule can be checked without binding anything.
pub fn check_exposure(addr: SocketAddr, control_token: Option<&str>) -> Result<(), ServerError> {
    // `::ffff:127.0.0.1` is loopback too.
    if addr.ip().to_canonical().is_loopback() || control_token.is_some() {
        Ok(())
    } else {
        Err(ServerError::UnprotectedControl(addr))
    }
}

/// Refused connections being told why at once; beyond this, further ones are closed without
/// an answer, so a connection flood cannot hold descriptors through the refusals.
const MAX_REJECTING: usize = 64;

/// How long a refused connection is given to read its `503`: the server reads (and drops)
/// what the client sends meanwhile, because closing a socket with unread input makes the
/// kernel send a reset that can destroy the answer before the client reads it.
const REJECT_LINGER: Duration = Duration::from_secs(1);

/// Serves with [`ServerConfig::default`] until `shutdown` completes; see [`serve_with`].
pub async fn serve(
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    serve_with(listener, ServerConfig::default(), shutdown).await
}

/// Serves connections from `listener` until `shutdown` completes.
///
/// Refuses to start when `config` is invalid, or when the listener is not on a loopback
/// address and no `control_token` is set ([`check_exposure`]).
///
/// Data connections are served on the caller's runtime, or on threads `serve_with` starts
/// and stops itself ([`ServerConfig::runtime`]). The accept loop, and connections whose first
/// request is `/stats` or `/control/*`, run on a control thread of the server's own, so the
/// control endpoints answer however busy the data path is.
///
/// On shutdown it stops accepting, stops the publisher, ends streaming responses, closes
/// WebSockets with status 1001, answers held long polls, waits (up to
/// `shutdown_timeout`) for connections to finish, and returns.
pub async fn serve_with(
    listener: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    serve_listeners(vec![listener], config, shutdown).await
}

/// Serves one process of a multi-process server ([`ServerConfig::peers`]): like
/// [`serve_with`], and also on `control`, the loopback address the peers reach this process
/// at. `listener` is shared with the peers (bound with SO_REUSEPORT by the caller), so the
/// kernel hands each new connection to one of them; `control` is this process's alone.
pub async fn serve_member(
    listener: TcpListener,
    control: TcpListener,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    let addr = control.local_addr().map_err(ServerError::Listener)?;
    if !addr.ip().to_canonical().is_loopback() {
        return Err(ServerError::Config(
            "a multi-process server's control address must be a loopback address",
        ));
    }
    serve_listeners(vec![listener, control], config, shutdown).await
}

async fn serve_listeners(
    listeners: Vec<TcpListener>,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), ServerError> {
    config.validate()?;
    for listener in &listeners {
        let addr = listener.local_addr().map_err(ServerError::Listener)?;
        check_exposure(addr, config.control_token.as_deref())?;
    }
    let spawner = Spawner::start(config.runtime, tokio::runtime::Handle::current())
        .map_err(ServerError::Runtime)?;
    let token = CancellationToken::new();
    // If the caller drops this future instead of completing `shutdown`, connections and
    // the publisher still stop rather than run on detached.
    let _stop_on_drop = token.clone().drop_guard();
    let state = Arc::new(AppState::new(config, token.clone()));
    // Every connection holds a sender clone; `recv` returns None once all are gone.
    let (alive, mut all_closed) = mpsc::channel::<()>(1);
    let control = ControlThread::start(listeners, state.clone(), spawner, alive)
        .map_err(ServerError::Runtime)?;
    shutdown.await;
    let deadline = Instant::now() + state.config.shutdown_timeout;
    // The control thread stops accepting and drops the listener.
    token.cancel();
    let _ = tokio::time::timeout_at(deadline, async {
        routes::stop_publisher(state.publisher.lock().await.take()).await;
        all_closed.recv().await;
    })
    .await;
    control.stop().await;
    Ok(())
}

pub(crate) async fn connection(state: Arc<AppState>, slot: Arc<ConnSlot>, stream: TcpStream) {
    let service = {
        let (state, slot) = (state.clone(), slot.clone());
        service_fn(move |req| routes::handle(state.clone(), slot.clone(), req))
    };
    let conn = state
        .http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    tokio::select! {
        result = conn.as_mut() => {
            if let Some(failure) = result.err().and_then(|e| http_failure(&state, &e)) {
                state.stats.failed(&failure);
            }
        }
        _ = state.shutdown.cancelled() => {
            // Lets an in-flight answer finish (push bodies end on the same token), then
            // closes instead of waiting for another request. A client that does not read
            // would hold the answer forever: serve_with stops waiting for it after the
            // shutdown timeout, and so does this task.
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(state.config.shutdown_timeout, conn).await;
        }
        // Dropping `conn` closes the socket: the client sees the stream end without its
        // last chunk.
        failure = slot.stalled(state.config.stall_timeout) => state.stats.failed(&failure),
    }
}

/// The socket of a connection hyper has handed over after a `101` (`/ws`, `/raw`), and the
/// bytes of it hyper had already read past the request. [`connection`] serves every
/// connection over a `TokioIo<TcpStream>`, so that is what an upgrade gives back; `None`
/// only if that ever changed.
pub(crate) fn take_over(upgraded: hyper::upgrade::Upgraded) -> Option<(TcpStream, bytes::Bytes)> {
    let parts = upgraded.downcast::<TokioIo<TcpStream>>().ok()?;
    // A copy: even empty, the slice hyper hands over keeps its whole 8 KiB read buffer.
    let early = bytes::Bytes::copy_from_slice(&parts.read_buf);
    Some((parts.io.into_inner(), early))
}

/// The failure behind an error hyper ended a connection with, when it is one the server
/// counts (a client that just goes away is not).
fn http_failure(state: &AppState, e: &hyper::Error) -> Option<Failure> {
    let config = &state.config;
    if e.is_timeout() {
        Some(Failure::HeaderTimeout(config.header_read_timeout))
    } else if e.is_parse_too_large() {
        Some(Failure::HeadersTooLarge(config.max_header_bytes))
    } else if e.is_parse() {
        Some(Failure::BadRequest)
    } else {
        // Body errors (slow consumers) were counted where they happened.
        None
    }
}

/// Answers `503` with the reason and closes, in a task of its own so the accept loop does
/// not wait on a client.
pub(crate) fn reject(state: &Arc<AppState>, mut stream: TcpStream, failure: Failure) {
    state.stats.failed(&failure);
    if state.stats.rejecting.fetch_add(1, Relaxed) >= MAX_REJECTING {
        state.stats.rejecting.fetch_sub(1, Relaxed);
        return;
    }
    let state = state.clone();
    tokio::spawn(async move {
        let reason = format!("{failure}\n");
        let answer = format!(
            "HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{reason}",
            reason.len()
        );
        let _ = tokio::time::timeout(REJECT_LINGER, async {
            stream.write_all(answer.as_bytes()).await?;
            stream.shutdown().await?;
            let mut sink = [0u8; 1024];
            while stream.read(&mut sink).await? > 0 {}
            Ok::<(), std::io::Error>(())
        })
        .await;
        state.stats.rejecting.fetch_sub(1, Relaxed);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_may_go_without_a_token() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        for ok in [
            "127.0.0.1:80",
            "127.1.2.3:80",
            "[::1]:80",
            "[::ffff:127.0.0.1]:80",
        ] {
            assert!(check_exposure(addr(ok), None).is_ok(), "{ok}");
        }
        for open in ["0.0.0.0:80", "[::]:80", "10.0.0.1:80", "[2001:db8::1]:80"] {
            let e = check_exposure(addr(open), None).unwrap_err();
            assert!(matches!(e, ServerError::UnprotectedControl(_)), "{open}");
            assert!(check_exposure(addr(open), Some("t")).is_ok(), "{open}");
        }
    }

    #[test]
    fn defaults_are_valid_and_zero_limits_are_not() {
        assert!(ServerConfig::default().validate().is_ok());
        let bad = [
            ServerConfig {
                max_lag: 0,
                ..ServerConfig::default()
            },
            ServerConfig {
                stall_timeout: Duration::ZERO,
                ..ServerConfig::default()
            },
            ServerConfig {
                control_token: Some(String::new()),
                ..ServerConfig::default()
            },
            ServerConfig {
                max_retained_bytes: 1,
                ..ServerConfig::default()
            },
            ServerConfig {
                max_connections: 0,
                ..ServerConfig::default()
            },
            ServerConfig {
                runtime: ServerRuntime::PerCore { threads: 0 },
                ..ServerConfig::default()
            },
        ];
        for config in bad {
            assert!(
                matches!(config.validate(), Err(ServerError::Config(_))),
                "{config:?}"
            );
        }
    }

    #[test]
    fn debug_output_hides_the_token() {
        let config = ServerConfig {
            control_token: Some("hunter2".into()),
            ..ServerConfig::default()
        };
        let shown = format!("{config:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }
}
