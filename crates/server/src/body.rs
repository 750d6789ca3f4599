//! Response bodies: fixed ones (batches, reasons, JSON) and the endless push bodies of
//! `/stream` and `/sse`; and what every push connection shares, the bodies and the
//! connections taken over after an upgrade (`/ws`, `/raw`) alike: the batch it reads from
//! the ring, its lag, and a send bounded by the stall timeout.

use crate::failure::Failure;
use crate::hub::{Message, Subscription, Topic};
use crate::state::AppState;
use bytes::Bytes;
use hyper::body::{Frame, SizeHint};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
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
    /// Only a push body fails: its client fell too far behind, and hyper then drops the
    /// connection without the last chunk, so the client cannot mistake it for a clean end.
    type Error = Failure;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Failure>>> {
        match self.get_mut() {
            Body::Fixed { parts, remaining } => Poll::Ready(parts.pop_front().map(|p| {
                *remaining -= p.len() as u64;
                Ok(Frame::data(p))
            })),
            Body::Push(push) => push.poll_next(cx).map(|o| o.map(|r| r.map(Frame::data))),
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

/// How a push body frames each message: what its transport's file says.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Framing {
    /// The data of the chunk that carries a message (one of its encodings, made once when
    /// it was published).
    pub(crate) data: fn(&Message) -> &Bytes,
    /// How long the body may be idle before it sends a heartbeat comment (SSE's `:`).
    pub(crate) heartbeat: Option<Duration>,
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

/// Messages a push connection takes from the ring at once: enough to amortise the ring
/// lock, few enough that a connection far behind holds little.
pub(crate) const BATCH: usize = 64;

/// The batch a push connection read from the ring: messages not yet sent, with their seqs.
pub(crate) type Batch = VecDeque<(u64, Bytes)>;

/// Lets go of a drained batch's buffer when it is larger than a connection that keeps up
/// needs (one message at a time fits in the smallest allocation), so that an idle
/// connection does not hold a full batch's worth of slots for good after one burst.
pub(crate) fn release_idle(batch: &mut Batch) {
    const KEEP: usize = 4;
    debug_assert!(batch.is_empty());
    if batch.capacity() > KEEP {
        *batch = Batch::new();
    }
}

/// Polls `f` once and, only if it is not ready, bounds it by `limit`: how a connection taken
/// over after an upgrade sends within the stall timeout. Most writes complete at once, and
/// this keeps the clock read and timer registration off that path.
pub(crate) async fn within<F: Future>(limit: Duration, f: F) -> Option<F::Output> {
    let mut f = pin!(f);
    let first = std::future::poll_fn(|cx| Poll::Ready(f.as_mut().poll(cx))).await;
    match first {
        Poll::Ready(out) => Some(out),
        Poll::Pending => tokio::time::timeout(limit, f).await.ok(),
    }
}

/// How far a push body has got, shared with the connection task's stall watchdog.
pub(crate) struct PushProgress {
    topic: Arc<Topic>,
    /// The seq of the last message handed to hyper (the start cursor before the first).
    delivered: AtomicU64,
}

impl PushProgress {
    /// The delivered cursor when messages are waiting behind it.
    pub(crate) fn waiting(&self) -> Option<u64> {
        let delivered = self.delivered.load(Relaxed);
        (self.topic.head() > delivered).then_some(delivered)
    }
}

/// How far behind the head a push connection is, counted from `floor` at the most: messages
/// published before the connection started are a replay it asked for, not lag.
pub(crate) fn lag(topic: &Topic, delivered: u64, floor: u64) -> u64 {
    topic.head().saturating_sub(delivered.max(floor))
}

/// The body of `/stream` and `/sse`: every message of one topic after a cursor, one
/// `Frame::data` (hence one HTTP chunk) per message, until the server shuts down or the
/// client falls more than `max_lag` messages behind.
pub(crate) struct PushBody {
    framing: Framing,
    topic: Arc<Topic>,
    /// The seq of the last message read from the ring.
    cursor: u64,
    /// The head when the connection started; see [`lag`].
    lag_floor: u64,
    progress: Arc<PushProgress>,
    /// The delivered cursor again, in the topic's count of what subscribers are owed.
    subscription: Subscription,
    state: Arc<AppState>,
    /// Messages read from the ring but not yet handed to hyper; at most [`BATCH`].
    pending: Batch,
    heartbeat_due: bool,
    done: bool,
    wait: ReusableBoxFuture<'static, Waited>,
    idle: Option<Duration>,
}

impl PushBody {
    /// `head` must have been subscribed before the ring is read at `cursor`, so nothing
    /// published in between can be missed.
    pub(crate) fn new(
        framing: Framing,
        topic: Arc<Topic>,
        head: watch::Receiver<u64>,
        cursor: u64,
        state: Arc<AppState>,
    ) -> Self {
        let idle = framing.heartbeat;
        let wait = ReusableBoxFuture::new(wait_for_news(head, state.shutdown.clone(), idle));
        let progress = Arc::new(PushProgress {
            topic: topic.clone(),
            delivered: AtomicU64::new(cursor),
        });
        let mut body = PushBody {
            framing,
            subscription: Subscription::new(topic.clone(), cursor),
            lag_floor: topic.head(),
            topic,
            cursor,
            progress,
            state,
            pending: Batch::new(),
            heartbeat_due: false,
            done: false,
            wait,
            idle,
        };
        body.fill();
        body
    }

    /// What the stall watchdog of the connection needs.
    pub(crate) fn progress(&self) -> Arc<PushProgress> {
        self.progress.clone()
    }

    fn fill(&mut self) {
        let pending = &mut self.pending;
        let data = self.framing.data;
        self.cursor = self.topic.read_some(self.cursor, BATCH, |m| {
            pending.push_back((m.seq(), data(m).clone()));
        });
    }

    fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Bytes, Failure>>> {
        loop {
            if let Some((seq, data)) = self.pending.pop_front() {
                // Being polled means hyper can take more, so this is "when it next gets to
                // send"; a client that does not read is never polled, and the connection's
                // stall watchdog ends it instead.
                let delivered = self.progress.delivered.load(Relaxed);
                let behind = lag(&self.topic, delivered, self.lag_floor);
                if behind > self.state.max_lag {
                    let failure = Failure::SlowConsumerLag {
                        behind,
                        max_lag: self.state.max_lag,
                    };
                    self.state.stats.failed(&failure);
                    self.pending.clear();
                    self.done = true;
                    return Poll::Ready(Some(Err(failure)));
                }
                self.progress.delivered.store(seq, Relaxed);
                self.subscription.advance(seq);
                self.state.stats.wrote(1, chunk_cost(data.len()));
                return Poll::Ready(Some(Ok(data)));
            }
            if self.heartbeat_due {
                self.heartbeat_due = false;
                return Poll::Ready(Some(Ok(Bytes::from_static(pushbench_wire::sse::HEARTBEAT))));
            }
            if self.done {
                return Poll::Ready(None);
            }
            // A batch was not everything: read on without waiting for another publish.
            if self.cursor < self.topic.head() {
                self.fill();
                continue;
            }
            release_idle(&mut self.pending);
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
    use super::*;

    #[test]
    fn a_drained_batch_keeps_only_a_small_buffer() {
        let mut burst = Batch::with_capacity(BATCH);
        release_idle(&mut burst);
        assert_eq!(burst.capacity(), 0);
        let mut steady = Batch::new();
        steady.push_back((1, Bytes::from_static(b"m")));
        steady.pop_front();
        let kept = steady.capacity();
        assert!(kept > 0);
        release_idle(&mut steady);
        assert_eq!(
            steady.capacity(),
            kept,
            "one message at a time reallocates nothing"
        );
    }

    #[test]
    fn chunk_cost_matches_the_formula() {
        for n in [1usize, 15, 16, 255, 256, 4095, 4096, 70_000] {
            let expected = format!("{n:x}").len() + 2 + n + 2;
            assert_eq!(super::chunk_cost(n), expected as u64, "n = {n}");
        }
    }
}
