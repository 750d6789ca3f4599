//! Where data connection tasks run: on the runtime `serve_with` is called on, or on threads
//! of the server's own, each with a single-threaded runtime. docs/benchmarks.md has the
//! measurements behind the default.

use crate::state::{AppState, ConnSlot};
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

/// How the server spreads connections over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ServerRuntime {
    /// Every connection is a task of the runtime `serve_with` runs on (the default;
    /// `pushbench serve` builds a multi-thread runtime): an idle thread steals work from a
    /// busy one.
    #[default]
    Shared,
    /// `threads` threads of the server's own, each running a single-threaded runtime. The
    /// accept loop (on the server's control thread) deals accepted connections round robin, and a
    /// connection and the tasks it spawns stay on their thread for life: no work stealing,
    /// and no wake-ups across threads inside a connection.
    PerCore {
        /// Worker threads (at least 1).
        threads: usize,
    },
}

/// How long a worker runtime waits, once stopped, for its blocking tasks (the publisher,
/// which sees the stop within 20 ms) before it is left behind.
const WORKER_STOP_GRACE: Duration = Duration::from_secs(1);

/// Starts connection tasks where [`ServerRuntime`] says. Called from the control thread
/// (`control.rs`), which accepts every connection: each data connection leaves the control
/// runtime's reactor and joins its serving runtime's.
pub(crate) struct Spawner {
    /// The runtimes connections are dealt to, round robin: the caller's alone, or the
    /// per-core workers'.
    handles: Vec<Handle>,
    next: AtomicUsize,
}

/// The threads of [`ServerRuntime::PerCore`]; they stop when this is stopped or dropped.
pub(crate) struct Workers {
    stop: CancellationToken,
    /// Joined by [`Spawner::stop`]: a thread that has dropped its runtime still runs its
    /// thread-local destructors, so only a join says it has ended.
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Spawner {
    /// Starts the worker threads `runtime` asks for; `caller` is the runtime `serve_with`
    /// runs on, which serves connections in [`ServerRuntime::Shared`].
    pub(crate) fn start(
        runtime: ServerRuntime,
        caller: Handle,
    ) -> std::io::Result<(Spawner, Option<Workers>)> {
        let threads = match runtime {
            ServerRuntime::Shared => {
                let spawner = Spawner {
                    handles: vec![caller],
                    next: AtomicUsize::new(0),
                };
                return Ok((spawner, None));
            }
            ServerRuntime::PerCore { threads } => threads,
        };
        let stop = CancellationToken::new();
        let mut handles = Vec::with_capacity(threads);
        let mut joins = Vec::with_capacity(threads);
        // Dropped on an early return, so the threads already started end.
        let stop_on_error = stop.clone().drop_guard();
        for i in 0..threads {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(rt.handle().clone());
            let stop = stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("pushbench-srv-{i}"))
                .spawn(move || {
                    rt.block_on(stop.cancelled());
                    // Drops the connections still open (abandoned after the shutdown
                    // timeout), which closes their sockets.
                    rt.shutdown_timeout(WORKER_STOP_GRACE);
                })?;
            joins.push(thread);
        }
        stop_on_error.disarm();
        let spawner = Spawner {
            handles,
            next: AtomicUsize::new(0),
        };
        let workers = Workers {
            stop,
            threads: joins,
        };
        Ok((spawner, Some(workers)))
    }

    /// Serves an accepted data connection on its runtime.
    pub(crate) fn spawn(&self, state: Arc<AppState>, slot: Arc<ConnSlot>, stream: TcpStream) {
        // The socket leaves the accepting runtime's reactor here and joins the serving
        // one's in `from_std`, which must run there. A socket lost on the way is counted
        // with the failed accepts: the client sees its connection closed unanswered.
        let lost = |state: &AppState| state.stats.accept_errors.fetch_add(1, Relaxed);
        let stream = match stream.into_std() {
            Ok(s) => s,
            Err(_) => {
                lost(&state);
                return;
            }
        };
        let next = self.next.fetch_add(1, Relaxed);
        let target = &self.handles[next % self.handles.len()];
        target.spawn(async move {
            match TcpStream::from_std(stream) {
                Ok(stream) => crate::connection(state, slot, stream).await,
                Err(_) => {
                    lost(&state);
                }
            }
        });
    }
}

impl Workers {
    /// Stops the worker threads and waits until they have ended (joined, off the async
    /// threads: a worker may take up to [`WORKER_STOP_GRACE`]).
    pub(crate) async fn stop(mut self) {
        {
            self.stop.cancel();
            let threads = std::mem::take(&mut self.threads);
            let _ = tokio::task::spawn_blocking(move || {
                for t in threads {
                    // A worker that panicked has ended too; the panic was printed.
                    let _ = t.join();
                }
            })
            .await;
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
