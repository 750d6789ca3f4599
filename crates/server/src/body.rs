//! Response bodies: fixed ones (batches, reasons, JSON) and the endless push bodies of
//! `/stream` and `/sse`.

use crate::hub::Topic;
use crate::state::AppState;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::watch;
use tokio_util::sync::{CancellationToken, ReusableBoxFuture};

/// The body of every response the server sends.
pub(crate) enum Body {
    /// A body of known length sent as a list of shared buffers, so a poll batch goes out
    /// without copying its messages (hyper writes them with one vectored write).
    Fixed {
        parts: VecDeque<Bytes>,
        remaining: u64,
    },
    /// An endless chunked body fed by a topic.
    Push(Box<PushBody>),
}

impl Body {
    pub(crate) fn empty() -> Self {
        Body::Fixed {
            parts: VecDeque::new(),
            remaining: 0,
        }
    }

    pub(crate) fn from_parts(parts: VecDeque<Bytes>) -> Self {
        let remaining = parts.iter().map(|p| p.len() as u64).sum();
        Body::Fixed { parts, remaining }
    }

    pub(crate) fn full(bytes: impl Into<Bytes>) -> Self {
        Body::from_parts(VecDeque::from([bytes.into()]))
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Body::Fixed { parts, remaining } => Poll::Ready(parts.pop_front().map(|p| {
                *remaining -= p.len() as u64;
                Ok(Frame::data(p))
            })),
            Body::Push(push) => push.poll_next(cx).map(|o| o.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Fixed { parts, .. } => parts.is_empty(),
            Body::Push(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Fixed { remaining, .. } => SizeHint::with_exact(*remaining),
            Body::Push(_) => SizeHint::default(),
        }
    }
}

/// How a push body frames each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushKind {
    /// `/stream`: the chunk data is `<message>\n`.
    Stream,
    /// `/sse`: the chunk data is the SSE event; a heartbeat comment when idle.
    Sse,
}

/// Why the waiting future finished.
enum Wake {
    Published,
    Idle,
    Shutdown,
}

/// The waiting future owns the receiver and token and hands them back, so that one boxed
/// future type can be re-armed in place without allocating on every wait.
type Waited = (watch::Receiver<u64>, CancellationToken, Wake);

async fn wait_for_news(
    mut head: watch::Receiver<u64>,
    shutdown: CancellationToken,
    idle: Option<Duration>,
) -> Waited {
    let idle_timer = async {
        match idle {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    let wake = tokio::select! {
        biased;
        _ = shutdown.cancelled() => Wake::Shutdown,
        changed = head.changed() => match changed {
            Ok(()) => Wake::Published,
            // The topic is gone; only possible when the server is being torn down.
            Err(_) => Wake::Shutdown,
        },
        _ = idle_timer => Wake::Idle,
    };
    (head, shutdown, wake)
}

/// The body of `/stream` and `/sse`: every message of one topic after a cursor, one
/// `Frame::data` (hence one HTTP chunk) per message, until the server shuts down.
pub(crate) struct PushBody {
    kind: PushKind,
    topic: Arc<Topic>,
    cursor: u64,
    state: Arc<AppState>,
    /// Encoded messages read from the ring but not yet handed to hyper.
    pending: VecDeque<Bytes>,
    heartbeat_due: bool,
    done: bool,
    wait: ReusableBoxFuture<'static, Waited>,
    idle: Option<Duration>,
}

impl PushBody {
    /// `head` must have been subscribed before the ring is read at `cursor`, so nothing
    /// published in between can be missed.
    pub(crate) fn new(
        kind: PushKind,
        topic: Arc<Topic>,
        head: watch::Receiver<u64>,
        cursor: u64,
        state: Arc<AppState>,
    ) -> Self {
        let idle = (kind == PushKind::Sse).then_some(state.config.sse_heartbeat);
        let wait = ReusableBoxFuture::new(wait_for_news(head, state.shutdown.clone(), idle));
        let mut body = PushBody {
            kind,
            topic,
            cursor,
            state,
            pending: VecDeque::new(),
            heartbeat_due: false,
            done: false,
            wait,
            idle,
        };
        body.fill();
        body
    }

    fn fill(&mut self) {
        let pending = &mut self.pending;
        self.cursor = match self.kind {
            PushKind::Stream => self
                .topic
                .read_after(self.cursor, |m| pending.push_back(m.line().clone())),
            PushKind::Sse => self
                .topic
                .read_after(self.cursor, |m| pending.push_back(m.sse_event().clone())),
        };
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        loop {
            if let Some(data) = self.pending.pop_front() {
                self.state.stats.wrote(1, chunk_cost(data.len()));
                return Poll::Ready(Some(data));
            }
            if self.heartbeat_due {
                self.heartbeat_due = false;
                return Poll::Ready(Some(Bytes::from_static(pushbench_wire::sse::HEARTBEAT)));
            }
            if self.done {
                return Poll::Ready(None);
            }
            let (head, shutdown, wake) = std::task::ready!(self.wait.poll(cx));
            match wake {
                Wake::Published => self.fill(),
                Wake::Idle => self.heartbeat_due = true,
                Wake::Shutdown => {
                    self.done = true;
                    continue;
                }
            }
            self.wait.set(wait_for_news(head, shutdown, self.idle));
        }
    }
}

/// Bytes on the wire for one HTTP/1.1 chunk of `n` data bytes: `<hex n>\r\n<data>\r\n`.
pub(crate) fn chunk_cost(n: usize) -> u64 {
    let hex_digits = (usize::BITS - n.leading_zeros()).div_ceil(4).max(1);
    u64::from(hex_digits) + 2 + n as u64 + 2
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunk_cost_matches_the_formula() {
        for n in [1usize, 15, 16, 255, 256, 4095, 4096, 70_000] {
            let expected = format!("{n:x}").len() + 2 + n + 2;
            assert_eq!(super::chunk_cost(n), expected as u64, "n = {n}");
        }
    }
}
