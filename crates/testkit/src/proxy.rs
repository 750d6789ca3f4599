//! A TCP relay between clients and a server, on `127.0.0.1:0`, that can cut every
//! connection it carries and refuse new ones for a while: a network fault without
//! restarting the server, so the server's topics (and sequence numbers) live on and what
//! clients lose across their reconnects can be known exactly.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The relay; it stops (and drops every connection) when dropped.
pub struct Proxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    /// Bumped by [`Proxy::cut`]: every relayed connection of an older generation closes.
    generation: watch::Sender<u64>,
    refusing: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Relays every connection made to [`Proxy::addr`] to `target`.
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("bound address");
        let (generation, _) = watch::channel(0u64);
        let refusing = Arc::new(AtomicBool::new(false));
        let accepted = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(accept_loop(
            listener,
            target,
            generation.clone(),
            refusing.clone(),
            accepted.clone(),
        ));
        Proxy {
            addr,
            generation,
            refusing,
            accepted,
            task,
        }
    }

    /// Closes every connection now, in both directions, and closes each new one at once
    /// for `outage`; after that, connections are relayed again.
    pub async fn cut(&self, outage: Duration) {
        self.refusing.store(true, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
        tokio::time::sleep(outage).await;
        self.refusing.store(false, Ordering::SeqCst);
    }

    /// Connections accepted so far (refused ones included).
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.generation.send_modify(|g| *g += 1);
        self.task.abort();
    }
}

async fn accept_loop(
    listener: TcpListener,
    target: SocketAddr,
    generation: watch::Sender<u64>,
    refusing: Arc<AtomicBool>,
    accepted: Arc<AtomicU64>,
) {
    while let Ok((client, _)) = listener.accept().await {
        accepted.fetch_add(1, Ordering::SeqCst);
        if refusing.load(Ordering::SeqCst) {
            // Dropped unanswered: the client sees its connection closed by the "server".
            continue;
        }
        let mut cut = generation.subscribe();
        tokio::spawn(async move {
            let Ok(mut upstream) = TcpStream::connect(target).await else {
                return;
            };
            let mut client = client;
            let _ = client.set_nodelay(true);
            let _ = upstream.set_nodelay(true);
            tokio::select! {
                _ = tokio::io::copy_bidirectional(&mut client, &mut upstream) => {}
                _ = cut.changed() => {}
            }
        });
    }
}
