//! The control thread: the accept loop, and the connections whose first request is
//! `GET /stats` or `POST /control/*`, on a thread and a single-threaded runtime of their own.
//!
//! A server past its ceiling has every data thread busy writing to thousands of sockets; a
//! `/stats` request queued behind them was measured taking longer than the load
//! generator's 10 s timeout, which ended the run. Here the control endpoints never wait
//! for a data thread: the kernel schedules this mostly idle thread promptly, so `/stats`
//! answers while the data path is saturated (docs/benchmarks.md has the round trip
//! measured under overload).
//!
//! Each accepted connection is looked at (`peek`, so nothing is consumed) for its first
//! bytes. A control request line keeps the connection here; anything else (a push
//! endpoint, a publish, bytes that are not HTTP, a client that sends nothing within
//! [`PEEK_WAIT`]) goes to the data runtime, where hyper serves it as before.

use crate::failure::Failure;
use crate::runtime::{Spawner, Workers};
use crate::state::{AppState, ConnSlot};
use pushbench_model::protocol::STATS_PATH;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// How long a new connection may stay silent before it is handed to the data runtime
/// unclassified (at most the header read timeout): a control client sends its request
/// line with the connection, and a data client that waits longer is served as before.
const PEEK_WAIT: Duration = Duration::from_millis(100);

/// The control endpoints' path prefix (`/control/workload`, `/control/stop`).
const CONTROL_PREFIX: &str = "/control/";

/// Whether the first bytes of a connection begin a control request.
fn is_control(head: &[u8]) -> bool {
    let after = |method: &[u8]| head.strip_prefix(method);
    after(b"GET ").is_some_and(|p| p.starts_with(STATS_PATH.as_bytes()))
        || after(b"POST ").is_some_and(|p| p.starts_with(CONTROL_PREFIX.as_bytes()))
}

/// The running control thread.
pub(crate) struct ControlThread {
    /// Cancelled once every connection has closed (or the shutdown timeout passed): the
    /// thread then stops the data workers and its runtime.
    done: CancellationToken,
    thread: std::thread::JoinHandle<()>,
}

impl ControlThread {
    /// Moves `listeners` to a new thread that accepts from each until `state.shutdown` is
    /// cancelled. Every connection holds a clone of `alive`.
    pub(crate) fn start(
        listeners: Vec<TcpListener>,
        state: Arc<AppState>,
        (spawner, workers): (Spawner, Option<Workers>),
        alive: mpsc::Sender<()>,
    ) -> std::io::Result<ControlThread> {
        let listeners = listeners
            .into_iter()
            .map(TcpListener::into_std)
            .collect::<std::io::Result<Vec<_>>>()?;
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let done = CancellationToken::new();
        let until = done.clone();
        let thread = std::thread::Builder::new()
            .name("pushbench-control".into())
            .spawn(move || {
                rt.block_on(async move {
                    let spawner = Arc::new(spawner);
                    let mut loops = tokio::task::JoinSet::new();
                    for listener in listeners {
                        let (state, spawner, alive) =
                            (state.clone(), spawner.clone(), alive.clone());
                        loops.spawn(async move {
                            if let Ok(listener) = TcpListener::from_std(listener) {
                                accept_loop(&listener, &state, &spawner, &alive).await;
                            }
                        });
                    }
                    while loops.join_next().await.is_some() {}
                    drop(alive);
                    until.cancelled().await;
                    if let Some(w) = workers {
                        w.stop().await;
                    }
                });
                rt.shutdown_timeout(Duration::from_secs(1));
            })?;
        Ok(ControlThread { done, thread })
    }

    /// Stops the thread and waits for it, off the async threads.
    pub(crate) async fn stop(self) {
        self.done.cancel();
        let thread = self.thread;
        let _ = tokio::task::spawn_blocking(move || thread.join()).await;
    }
}

/// Pause after a failed `accept` (e.g. EMFILE): the error usually persists for a moment, and
/// retrying at once would spin a core that the benchmark is measuring.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(10);

async fn accept_loop(
    listener: &TcpListener,
    state: &Arc<AppState>,
    spawner: &Arc<Spawner>,
    alive: &mpsc::Sender<()>,
) {
    let shutdown = state.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(_) => {
                state.stats.accept_errors.fetch_add(1, Relaxed);
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(ACCEPT_BACKOFF) => continue,
                }
            }
        };
        state.stats.connections_accepted.fetch_add(1, Relaxed);
        // Only this loop opens connections, so the check cannot race another accept;
        // connections closing meanwhile only make it conservative.
        let open = state.stats.open.load(Relaxed);
        if open >= state.config.max_connections {
            crate::reject(state, stream, Failure::TooManyConnections(open));
            continue;
        }
        // Latency benchmark: never let Nagle hold a small message back.
        let _ = stream.set_nodelay(true);
        let slot = Arc::new(ConnSlot::new(state.clone(), alive.clone()));
        // In a task of its own, so a client slow to send its first bytes holds up no
        // other connection.
        let (state, spawner) = (state.clone(), spawner.clone());
        tokio::spawn(async move {
            if classify(&stream, &state).await {
                crate::connection(state, slot, stream).await;
            } else {
                spawner.spawn(state, slot, stream);
            }
        });
    }
}

/// Whether the connection's first bytes, once they arrive (within [`PEEK_WAIT`]), begin a
/// control request.
async fn classify(stream: &TcpStream, state: &AppState) -> bool {
    let mut head = [0u8; 24];
    let wait = PEEK_WAIT.min(state.config.header_read_timeout);
    match tokio::time::timeout(wait, stream.peek(&mut head)).await {
        Ok(Ok(n)) => is_control(&head[..n]),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_request_lines_are_recognised_by_their_start() {
        for yes in [
            &b"GET /stats HTTP/1.1\r\n"[..],
            b"GET /stats",
            b"POST /control/workload HTTP/1.1",
            b"POST /control/stop",
        ] {
            assert!(is_control(yes), "{}", String::from_utf8_lossy(yes));
        }
        for no in [
            &b"GET /ws?topic=0 HTTP/1.1"[..],
            b"GET /poll?topic=0",
            b"POST /publish?topic=0",
            b"GET /stat",
            b"POST /contro",
            b"get /stats",
            b"",
            b"\x16\x03\x01",
        ] {
            assert!(!is_control(no), "{}", String::from_utf8_lossy(no));
        }
    }
}
