//! Topics: a bounded ring of recent messages per topic and a wake-up for the waiters.
//!
//! A message is encoded for every transport once, when it is published, and every
//! subscriber then shares those bytes by reference count: fan-out to N subscribers copies
//! no payload and allocates nothing per subscriber.

use bytes::{Bytes, BytesMut};
use pushbench_wire::{HEADER_LEN, raw, sse};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;

/// One published message, pre-encoded for each transport.
#[derive(Debug, Clone)]
pub(crate) struct Message {
    seq: u64,
    /// When the message was due ([`pushbench_wire::clock`]): what a group's `/stats` reads
    /// heads by ([`Topic::head_at`]).
    sent_ns: u64,
    /// `<message>\n`: a raw stream's message, a poll batch line and a stream chunk
    /// (`pushbench_wire::raw`). The envelope alone (a WebSocket frame payload) is this
    /// without its last byte, so both share one allocation.
    line: Bytes,
    /// `id: <seq>\ndata: <message>\n\n`.
    sse: Bytes,
}

impl Message {
    fn encode(seq: u64, sent_ns: u64, payload: &[u8]) -> Self {
        let m = HEADER_LEN + payload.len();
        let mut line = BytesMut::with_capacity(raw::frame_len(m));
        raw::encode(seq, sent_ns, payload, &mut line);
        let mut event = BytesMut::new();
        sse::encode_event(seq, &line[..m], &mut event);
        Message {
            seq,
            sent_ns,
            line: line.freeze(),
            sse: event.freeze(),
        }
    }

    /// The message's sequence number in its topic.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// The envelope followed by `\n`; see [`envelope`] for the envelope alone.
    pub(crate) fn line(&self) -> &Bytes {
        &self.line
    }

    /// The SSE event that carries the message.
    pub(crate) fn sse_event(&self) -> &Bytes {
        &self.sse
    }
}

/// An upper bound on the memory one retained message of `payload` bytes holds: its ring
/// slot, both encodings, and per allocation the allocator's header and the shared-buffer
/// control block `Bytes` adds once the message is cloned.
pub(crate) fn retained_bytes(payload: u64) -> u64 {
    const PER_ALLOCATION: u64 = 48;
    let line = HEADER_LEN as u64 + payload + 1;
    // `id: <up to 20 digits>\ndata: <message>\n\n`
    let event = 4 + 20 + 1 + 6 + HEADER_LEN as u64 + payload + 2;
    std::mem::size_of::<Message>() as u64 + line + event + 2 * PER_ALLOCATION
}

/// The envelope, `<seq> <sent_ns> <payload>`, inside a message's [`Message::line`].
pub(crate) fn envelope(line: &[u8]) -> &[u8] {
    &line[..line.len() - 1]
}

struct Ring {
    messages: VecDeque<Message>,
    capacity: usize,
    next_seq: u64,
}

/// One topic: its retained messages and the head sequence number waiters watch.
pub(crate) struct Topic {
    ring: Mutex<Ring>,
    /// The head sequence number. A `watch` remembers which version each receiver has seen,
    /// so a publish between a subscriber's ring read and its wait still wakes it.
    head: watch::Sender<u64>,
    /// The head again, for the slow-consumer check every push connection makes per
    /// message: one atomic load instead of the `watch`'s read lock.
    head_seq: AtomicU64,
    /// The largest payload a client may publish here, so the ring stays within the
    /// server's `max_retained_bytes` whatever clients send.
    max_payload: usize,
    /// Push connections subscribed ([`Subscription`]).
    subscribers: AtomicU64,
    /// The sum of their cursors (the seq each last handed to its socket): what they have
    /// been given, so `subscribers × head − cursor_sum` is what they are owed, counted
    /// without visiting them.
    cursor_sum: AtomicU64,
}

/// A push connection's place in its topic, kept in the topic's sums so that `/stats` can
/// say how many messages wait for subscribers. Dropped with the connection.
pub(crate) struct Subscription {
    topic: Arc<Topic>,
    cursor: u64,
}

impl Subscription {
    /// Subscribes at `cursor` (the seq before the first message owed).
    pub(crate) fn new(topic: Arc<Topic>, cursor: u64) -> Self {
        topic.subscribers.fetch_add(1, Ordering::Relaxed);
        topic.cursor_sum.fetch_add(cursor, Ordering::Relaxed);
        Subscription { topic, cursor }
    }

    /// Records that every message up to `seq` has been handed to the socket.
    pub(crate) fn advance(&mut self, seq: u64) {
        let delta = seq.saturating_sub(self.cursor);
        self.topic.cursor_sum.fetch_add(delta, Ordering::Relaxed);
        self.cursor = self.cursor.max(seq);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.topic.subscribers.fetch_sub(1, Ordering::Relaxed);
        self.topic
            .cursor_sum
            .fetch_sub(self.cursor, Ordering::Relaxed);
    }
}

impl Topic {
    /// An empty topic that keeps at most `capacity` messages (at least one) and takes
    /// client payloads of at most `max_payload` bytes.
    pub(crate) fn new(capacity: usize, max_payload: usize) -> Self {
        let capacity = capacity.max(1);
        Topic {
            ring: Mutex::new(Ring {
                messages: VecDeque::with_capacity(capacity.min(1024)),
                capacity,
                next_seq: 1,
            }),
            head: watch::Sender::new(0),
            head_seq: AtomicU64::new(0),
            max_payload,
            subscribers: AtomicU64::new(0),
            cursor_sum: AtomicU64::new(0),
        }
    }

    /// Messages published but not yet handed to the sockets of its push subscribers,
    /// summed over them. The three loads are not one snapshot: a subscriber joining or a
    /// message sent meanwhile can make it off by a message for an instant, never for long,
    /// and a sum that reads below zero is taken as zero.
    pub(crate) fn queued_messages(&self) -> u64 {
        let cursors = self.cursor_sum.load(Ordering::Relaxed);
        let owed = self
            .subscribers
            .load(Ordering::Relaxed)
            .saturating_mul(self.head());
        owed.saturating_sub(cursors)
    }

    /// The largest payload a client may publish into this topic.
    pub(crate) fn max_payload(&self) -> usize {
        self.max_payload
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        // A panic while holding the lock leaves the ring consistent (every mutation is a
        // single push/pop), so a poisoned lock is still usable.
        self.ring.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stores a message with the next sequence number and wakes the waiters; returns the
    /// sequence number.
    pub(crate) fn publish(&self, sent_ns: u64, payload: &[u8]) -> u64 {
        let mut ring = self.lock();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        if ring.messages.len() == ring.capacity {
            ring.messages.pop_front();
        }
        ring.messages
            .push_back(Message::encode(seq, sent_ns, payload));
        // Still under the ring lock, so concurrent publishers update the head in seq order.
        self.head_seq.store(seq, Ordering::Release);
        self.head.send_replace(seq);
        seq
    }

    /// The sequence number of the newest message, 0 when none was published.
    pub(crate) fn head(&self) -> u64 {
        self.head_seq.load(Ordering::Acquire)
    }

    /// The head as it was at `t_ns`: the newest message due at or before `t_ns`. The
    /// processes of a group answer a `/stats` at slightly different times, the later ones
    /// after more ticks; each reports its heads as of the instant the group received the
    /// request instead, so that a reading does not depend on how late a peer answered
    /// (docs/sharding.md). Ticks are due in seq order, so the walk goes back from the newest
    /// only over those published since `t_ns`; if they fill the whole ring, the newest
    /// message before the ring is the answer.
    pub(crate) fn head_at(&self, t_ns: u64) -> u64 {
        let ring = self.lock();
        let later = ring
            .messages
            .iter()
            .rev()
            .take_while(|m| m.sent_ns > t_ns)
            .count() as u64;
        (ring.next_seq - 1).saturating_sub(later)
    }

    /// A receiver that wakes when the head moves. Subscribe before reading the ring, so a
    /// message published in between is not missed.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.head.subscribe()
    }

    /// Calls `f` with every retained message whose seq is greater than `cursor`, oldest
    /// first, and returns the new cursor (the last seq visited, or `cursor` when none).
    /// A cursor older than the ring starts at the oldest retained message.
    pub(crate) fn read_after(&self, cursor: u64, f: impl FnMut(&Message)) -> u64 {
        self.read_some(cursor, usize::MAX, f)
    }

    /// Like [`Topic::read_after`], but visits at most `limit` messages, so a push connection
    /// holds a bounded batch however far behind it is.
    pub(crate) fn read_some(&self, cursor: u64, limit: usize, mut f: impl FnMut(&Message)) -> u64 {
        let mut visited = 0;
        let last = {
            let ring = self.lock();
            let Some(oldest) = ring.messages.front().map(Message::seq) else {
                return cursor;
            };
            // Retained seqs are contiguous, so the first one after the cursor is found by
            // arithmetic instead of a search.
            let first = cursor.saturating_add(1).max(oldest);
            let skip = usize::try_from(first - oldest).unwrap_or(usize::MAX);
            let mut last = cursor;
            for msg in ring.messages.iter().skip(skip).take(limit) {
                f(msg);
                last = msg.seq;
                visited += 1;
            }
            last
        };
        // Every transport hands its subscribers their messages through here; the injected
        // regression of the gate's power measurement (outside the lock, as a slower
        // delivery path would be) is nothing in a normal build.
        crate::slowdown::delivered(visited);
        last
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs_after(topic: &Topic, cursor: u64) -> (u64, Vec<u64>) {
        let mut seen = Vec::new();
        let next = topic.read_after(cursor, |m| seen.push(m.seq()));
        (next, seen)
    }

    #[test]
    fn numbers_messages_from_one() {
        let topic = Topic::new(8, usize::MAX);
        assert_eq!(topic.head(), 0);
        assert_eq!(topic.publish(5, b"a"), 1);
        assert_eq!(topic.publish(6, b"b"), 2);
        assert_eq!(topic.head(), 2);
        assert_eq!(seqs_after(&topic, 0), (2, vec![1, 2]));
    }

    #[test]
    fn encodes_each_transport_once() {
        let topic = Topic::new(8, usize::MAX);
        topic.publish(0x0123_4567_89ab_cdef, b"abc");
        let mut msgs = Vec::new();
        topic.read_after(0, |m| msgs.push(m.clone()));
        let m = &msgs[0];
        let envelope = b"0000000000000001 0123456789abcdef abc";
        assert_eq!(super::envelope(m.line()), envelope);
        assert_eq!(&m.line()[..], [&envelope[..], b"\n"].concat());
        assert_eq!(
            &m.sse_event()[..],
            [&b"id: 1\ndata: "[..], envelope, b"\n\n"].concat()
        );
    }

    #[test]
    fn after_cursor_returns_only_newer_messages() {
        let topic = Topic::new(8, usize::MAX);
        for i in 0..5 {
            topic.publish(i, b"x");
        }
        assert_eq!(seqs_after(&topic, 3), (5, vec![4, 5]));
        assert_eq!(seqs_after(&topic, 5), (5, vec![]));
        // A cursor beyond the head sees nothing and keeps its value.
        assert_eq!(seqs_after(&topic, 9), (9, vec![]));
    }

    #[test]
    fn ring_evicts_oldest_and_lagging_cursor_gets_oldest_retained() {
        let topic = Topic::new(3, usize::MAX);
        for i in 0..7 {
            topic.publish(i, b"x");
        }
        // Seqs 1..=7 published, capacity 3: 5, 6, 7 remain.
        assert_eq!(seqs_after(&topic, 0), (7, vec![5, 6, 7]));
        assert_eq!(seqs_after(&topic, 2), (7, vec![5, 6, 7]));
        assert_eq!(seqs_after(&topic, 4), (7, vec![5, 6, 7]));
        assert_eq!(seqs_after(&topic, 5), (7, vec![6, 7]));
        assert_eq!(topic.head(), 7);
    }

    #[test]
    fn read_some_stops_at_the_limit() {
        let topic = Topic::new(8, usize::MAX);
        for i in 0..5 {
            topic.publish(i, b"x");
        }
        let mut seen = Vec::new();
        assert_eq!(topic.read_some(1, 2, |m| seen.push(m.seq())), 3);
        assert_eq!(seen, vec![2, 3]);
        assert_eq!(topic.read_some(5, 2, |_| unreachable!()), 5);
    }

    #[test]
    fn retained_bytes_covers_both_encodings() {
        let topic = Topic::new(1, usize::MAX);
        topic.publish(0, &[b'a'; 100]);
        let mut size = 0;
        topic.read_after(0, |m| size = m.line().len() + m.sse_event().len());
        assert!(retained_bytes(100) >= (size + std::mem::size_of::<Message>()) as u64);
    }

    #[test]
    fn queued_messages_are_what_subscribers_are_owed() {
        let topic = Arc::new(Topic::new(16, usize::MAX));
        let mut a = Subscription::new(topic.clone(), 0);
        for i in 0..5 {
            topic.publish(i, b"x");
        }
        // One subscriber, five messages, none sent.
        assert_eq!(topic.queued_messages(), 5);
        // A second one joins at the head: owed nothing yet.
        let b = Subscription::new(topic.clone(), 5);
        assert_eq!(topic.queued_messages(), 5);
        topic.publish(5, b"x");
        assert_eq!(topic.queued_messages(), 6 + 1);
        a.advance(4);
        assert_eq!(topic.queued_messages(), 2 + 1);
        drop(b);
        assert_eq!(topic.queued_messages(), 2);
        a.advance(6);
        assert_eq!(topic.queued_messages(), 0);
        drop(a);
        assert_eq!(topic.queued_messages(), 0);
    }

    #[test]
    fn head_at_an_instant_counts_the_messages_due_by_then() {
        // Messages due at 10, 20, …, 50 ns; a ring of 3 keeps the last three (30, 40, 50).
        let topic = Topic::new(3, usize::MAX);
        assert_eq!(topic.head_at(100), 0);
        for seq in 1..=5 {
            topic.publish(seq * 10, b"x");
        }
        assert_eq!(topic.head_at(50), 5);
        assert_eq!(topic.head_at(1_000), 5);
        assert_eq!(topic.head_at(49), 4);
        assert_eq!(topic.head_at(30), 3);
        assert_eq!(topic.head_at(29), 2);
        // Every retained message is later: the newest before the ring, seq 2.
        assert_eq!(topic.head_at(5), 2);
    }

    #[test]
    fn empty_topic_keeps_cursor() {
        let topic = Topic::new(3, usize::MAX);
        assert_eq!(seqs_after(&topic, 0), (0, vec![]));
    }

    #[tokio::test]
    async fn subscriber_is_woken_by_publish() {
        let topic = std::sync::Arc::new(Topic::new(4, usize::MAX));
        let mut rx = topic.subscribe();
        let t = topic.clone();
        let task = tokio::spawn(async move { t.publish(1, b"p") });
        tokio::time::timeout(std::time::Duration::from_secs(5), rx.changed())
            .await
            .expect("woken within 5 s")
            .expect("sender alive");
        assert_eq!(*rx.borrow(), 1);
        task.await.unwrap();
    }
}
