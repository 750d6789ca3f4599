//! The client driver: one loop that runs a transport's session, counts its failures, and
//! reconnects after a pause until the phase ends. Each transport family lives in a file of
//! its own and only knows how to run one connection; [`Client::receive`] is the registry
//! that picks it by kind, the one place the load generator decides by kind (paths, request
//! kinds and echo publishing come from the kind's descriptor).

mod chunked;
pub(crate) mod polling;
mod publisher;
mod raw;
pub(crate) mod target;
pub(crate) mod websocket;

use crate::error::ClientError;
use crate::scenario::{HttpPlan, NetworkPlan, Pattern, PollSchedule, RequestKind, TransportKind};
use crate::stats::{Meter, SeqState};
use bytes::Bytes;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// What every client of a phase shares.
pub(crate) struct ClientPlan {
    pub(crate) addr: SocketAddr,
    /// The header block of every request, by kind.
    pub(crate) heads: Arc<RequestHeads>,
    pub(crate) kind: TransportKind,
    pub(crate) interval: Duration,
    pub(crate) schedule: PollSchedule,
    pub(crate) longpoll_timeout: Duration,
    pub(crate) pattern: Pattern,
    /// Echo only: messages per second each client publishes.
    pub(crate) rate: f64,
    /// Echo only: one message in flight instead of `rate`.
    pub(crate) closed_loop: bool,
    pub(crate) payload: Bytes,
    pub(crate) backoff: Duration,
    /// The link every connection goes through (`None`: straight to the socket).
    pub(crate) network: Option<NetworkPlan>,
    /// How to subscribe to a target (`None`: the server is pushbench's own).
    pub(crate) target: Option<Arc<target::TargetClient>>,
}

/// The header block of each request kind, encoded once per phase and shared by every
/// client: `host: <addr>\r\n` and then each `[http]` field as `Name: value\r\n`. A request
/// is its request line, this block, the fields the client writes itself (Content-Length,
/// Last-Event-ID, the WebSocket handshake's) and the blank line, so building one copies
/// bytes and allocates nothing.
#[derive(Debug)]
pub(crate) struct RequestHeads {
    fetch: Box<[u8]>,
    publish: Box<[u8]>,
    event_source: Box<[u8]>,
    websocket: Box<[u8]>,
}

impl RequestHeads {
    pub(crate) fn new(addr: SocketAddr, http: &HttpPlan) -> Self {
        let block = |kind| {
            let mut out = format!("host: {addr}\r\n").into_bytes();
            for (name, value) in http.requests.get(kind) {
                for part in [name.as_bytes(), b": ", value.as_bytes(), b"\r\n"] {
                    out.extend_from_slice(part);
                }
            }
            out.into_boxed_slice()
        };
        RequestHeads {
            fetch: block(RequestKind::Fetch),
            publish: block(RequestKind::Publish),
            event_source: block(RequestKind::EventSource),
            websocket: block(RequestKind::WebSocket),
        }
    }

    /// The block of one request kind.
    pub(crate) fn get(&self, kind: RequestKind) -> &[u8] {
        match kind {
            RequestKind::Fetch => &self.fetch,
            RequestKind::Publish => &self.publish,
            RequestKind::EventSource => &self.event_source,
            RequestKind::WebSocket => &self.websocket,
        }
    }
}

/// One client.
pub(crate) struct Client {
    pub(crate) plan: Rc<ClientPlan>,
    pub(crate) topic: u32,
    /// The local address this client connects from (`None`: the kernel's choice).
    pub(crate) source: Option<std::net::IpAddr>,
    pub(crate) meter: Meter,
    /// When this client starts, on the shared clock.
    pub(crate) start_ns: u64,
}

impl Client {
    /// Runs until the future is dropped at the end of the phase.
    pub(crate) async fn run(&self) {
        // In the echo pattern a kind that cannot publish on its own connection publishes
        // with `POST /publish` on a second one.
        let publishes_apart =
            self.plan.pattern == Pattern::Echo && !self.plan.kind.descriptor().publishes_in_band;
        if publishes_apart {
            tokio::join!(self.receive(), publisher::run(self));
        } else {
            self.receive().await;
        }
    }

    async fn receive(&self) {
        let mut seq = SeqState::default();
        let mut place = target::Place::default();
        let mut attempt = 0u32;
        let mut backoff = Backoff::new(self.plan.backoff);
        loop {
            let started = std::time::Instant::now();
            if attempt > 0 {
                self.meter.reconnect();
            }
            attempt += 1;
            // The registry of client kinds: one session function per kind, and the generic
            // clients of a target, by the kind's family.
            let result = match (&self.plan.target, self.plan.kind) {
                (Some(t), _) => target::session(self, t, &mut seq, &mut place).await,
                (None, TransportKind::Raw) => raw::session(self, &mut seq).await,
                (None, TransportKind::Poll | TransportKind::LongPoll) => {
                    polling::session(self, &mut seq).await
                }
                (None, TransportKind::Stream | TransportKind::Sse) => {
                    chunked::session(self, &mut seq).await
                }
                (None, TransportKind::WebSocket) => websocket::session(self, &mut seq).await,
            };
            match result {
                // The session ended by the client's own choice: the phase is over.
                Ok(()) => return,
                Err(e) => self.meter.error(e.kind()),
            }
            backoff.wait(started.elapsed()).await;
        }
    }
}

/// Pauses between reconnects: `base` after a connection that worked for a while, doubling
/// after each failure in a row up to 32 × `base`, so a server that is down is not hammered
/// by thousands of clients and one that comes back is found again quickly.
pub(crate) struct Backoff {
    base: Duration,
    next: Duration,
}

impl Backoff {
    /// A connection that lasted this long counts as having worked.
    const HEALTHY: Duration = Duration::from_secs(1);

    pub(crate) fn new(base: Duration) -> Self {
        Backoff { base, next: base }
    }

    pub(crate) async fn wait(&mut self, session_lasted: Duration) {
        if session_lasted >= Self::HEALTHY {
            self.next = self.base;
        }
        tokio::time::sleep(self.next).await;
        self.next = (self.next * 2).min(self.base * 32);
    }
}

/// Appends a decimal number without allocating.
pub(crate) fn push_decimal(out: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
}

/// What a client does once the window has ended and it has nothing in flight: keep the
/// connection open, idle, until the phase closes it.
pub(crate) async fn idle() -> Result<(), ClientError> {
    std::future::pending().await
}

/// Sleeps until a point on the shared clock.
pub(crate) async fn sleep_until_ns(ns: u64) {
    tokio::time::sleep_until(pushbench_wire::clock::instant_at(ns).into()).await;
}

#[cfg(test)]
mod tests {
    #[test]
    fn decimal_digits() {
        for v in [0u64, 7, 10, 1234567890, u64::MAX] {
            let mut out = Vec::new();
            super::push_decimal(&mut out, v);
            assert_eq!(out, v.to_string().into_bytes());
        }
    }
}
