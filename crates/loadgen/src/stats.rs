//! What a phase measures, and the per-worker recording behind it.
//!
//! Each worker thread owns one [`WorkerStats`]; its clients record into it through a
//! [`Meter`] without locks or per-message allocation. At the end of a phase the workers'
//! stats are merged into one [`PhaseResult`].

use crate::error::ErrorKind;
use crate::scenario::{SweepPoint, TransportKind};
use hdrhistogram::Histogram;
use pushbench_wire::Header;
use serde::Serialize;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

/// Latencies are recorded in microseconds with 3 significant figures; histograms grow to fit
/// the largest value, so a stalled run still records its worst case exactly.
pub fn new_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 2, 3).expect("valid histogram bounds");
    h.auto(true);
    h
}

/// Counts of one phase (or one worker's share of it). Unless said otherwise, a count covers
/// the measured window only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Deliveries the server's publications in the window called for: messages published
    /// in it times the clients subscribed to their topic.
    pub messages_published: u64,
    /// Messages received.
    pub messages_delivered: u64,
    /// Sequence numbers skipped (a gap between two received messages).
    pub messages_lost: u64,
    /// Messages received a second time.
    pub messages_duplicated: u64,
    /// Messages that arrived after a later one (and had been counted lost until then).
    pub messages_out_of_order: u64,
    /// Bytes clients wrote, connection set-up excluded.
    pub bytes_up: u64,
    /// Bytes clients read, connection set-up excluded.
    pub bytes_down: u64,
    /// Bytes of connection set-up (WebSocket handshake, a stream's request and response
    /// head), whole phase.
    pub setup_bytes: u64,
    /// Every byte every client socket carried in both directions, whole phase.
    pub bytes_total: u64,
    /// HTTP requests sent (WebSocket frames are not requests).
    pub requests: u64,
    /// Poll and long-poll answers that carried no message.
    pub empty_responses: u64,
    /// TCP connections opened, whole phase.
    pub connections_opened: u64,
    /// Connections made again after a failure, whole phase.
    pub reconnects: u64,
}

impl Counters {
    fn add(&mut self, o: &Counters) {
        self.messages_published += o.messages_published;
        self.messages_delivered += o.messages_delivered;
        self.messages_lost += o.messages_lost;
        self.messages_duplicated += o.messages_duplicated;
        self.messages_out_of_order += o.messages_out_of_order;
        self.bytes_up += o.bytes_up;
        self.bytes_down += o.bytes_down;
        self.setup_bytes += o.setup_bytes;
        self.bytes_total += o.bytes_total;
        self.requests += o.requests;
        self.empty_responses += o.empty_responses;
        self.connections_opened += o.connections_opened;
        self.reconnects += o.reconnects;
    }
}

/// Failures by kind, whole phase, in [`ErrorKind::ALL`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ErrorCounts(pub [u64; ErrorKind::ALL.len()]);

impl ErrorCounts {
    /// All failures of every kind.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Failures of one kind.
    pub fn get(&self, kind: ErrorKind) -> u64 {
        self.0[kind as usize]
    }
}

/// One second of a phase, counted from the phase's start.
#[derive(Debug, Clone)]
pub struct SecondStats {
    /// Seconds since the phase started (clients start connecting at 0).
    pub second: u32,
    /// Whether this whole second lies inside the measured window.
    pub in_window: bool,
    /// Messages received in this second, inside the window or not.
    pub messages_delivered: u64,
    /// Bytes written in this second, set-up included.
    pub bytes_up: u64,
    /// Bytes read in this second, set-up included.
    pub bytes_down: u64,
    /// Open client connections at the end of this second.
    pub connections: u64,
    /// Latencies of the messages received in this second inside the measured window, µs
    /// (empty outside it, so that the histogram logs hold exactly the window).
    pub latency: Histogram<u64>,
}

impl SecondStats {
    fn new(second: u32) -> Self {
        SecondStats {
            second,
            in_window: false,
            messages_delivered: 0,
            bytes_up: 0,
            bytes_down: 0,
            connections: 0,
            latency: new_histogram(),
        }
    }
}

/// CPU and memory a process used during a phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProcessUsage {
    /// User plus system CPU seconds.
    pub cpu_s: f64,
    /// Peak resident set size during the phase.
    pub peak_rss_bytes: u64,
    /// Resident set size before the run's first phase: memory an allocator kept from an
    /// earlier phase then counts against the later one, so per-connection figures are upper
    /// bounds rather than understated.
    pub idle_rss_bytes: u64,
}

impl ProcessUsage {
    /// Peak memory above the idle process, per connection of the phase.
    pub fn rss_per_connection(&self, connections: u64) -> u64 {
        self.peak_rss_bytes.saturating_sub(self.idle_rss_bytes) / connections.max(1)
    }
}

/// Everything one phase (one transport, one repetition) measured.
#[derive(Debug, Clone)]
pub struct PhaseResult {
    /// The phase's label (the transport kind unless the scenario gave a label).
    pub label: String,
    /// The client kind.
    pub transport: TransportKind,
    /// Repetition number, from 1.
    pub repetition: u32,
    /// The sweep point the phase ran at, when the scenario sweeps.
    pub sweep: Option<SweepPoint>,
    /// Planned concurrent clients.
    pub clients: u32,
    /// Connections the phase holds at once (clients, or twice that for echo over HTTP).
    pub connections: u64,
    /// Length of the measured window, seconds.
    pub duration_s: f64,
    /// Where the measured window starts, seconds after the phase start.
    pub window_offset_s: f64,
    /// Counts.
    pub counters: Counters,
    /// Failures by kind.
    pub errors: ErrorCounts,
    /// Delivery latency of every message received in the window, µs.
    pub latency: Histogram<u64>,
    /// Time to connect (TCP connect plus handshake or response head), µs, whole phase.
    pub connect_latency: Histogram<u64>,
    /// Round trip of each poll or long-poll request sent in the window, from its last byte
    /// written to its answer's last byte read, µs (what `wrk` reports as latency); empty
    /// for the push transports.
    pub request_latency: Histogram<u64>,
    /// Each client's bandwidth over the window, bytes per second, up plus down.
    pub bandwidth: Histogram<u64>,
    /// Per-second series over the whole phase.
    pub seconds: Vec<SecondStats>,
    /// The server's cost.
    pub server: ProcessUsage,
    /// The load generator's own cost.
    pub loadgen: ProcessUsage,
    /// Load-generator CPU time as a share of all its cores over the phase (0 to 1).
    pub loadgen_cpu_share: f64,
    /// Bytes the control connection carried (workload, stats and stop requests).
    pub control_bytes: u64,
    /// Start of the phase (the first client starts), UNIX seconds.
    pub started_unix_s: f64,
}

impl PhaseResult {
    /// Bytes per delivered message, up plus down, over the window (0 when none arrived).
    pub fn bytes_per_message(&self) -> f64 {
        let c = &self.counters;
        if c.messages_delivered == 0 {
            0.0
        } else {
            (c.bytes_up + c.bytes_down) as f64 / c.messages_delivered as f64
        }
    }

    /// Whether the load generator used so much CPU that its numbers are suspect.
    pub fn loadgen_saturated(&self) -> bool {
        self.loadgen_cpu_share > 0.8
    }
}

/// When things happen in a phase, on the shared monotonic clock (ns).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Phase start: the first client starts connecting.
    pub phase_start: u64,
    /// Start of the measured window.
    pub start: u64,
    /// End of the measured window: clients stop sending and the publisher stops.
    pub end: u64,
    /// Clients close their connections here, after reading what was still in flight, so
    /// that no byte the server sent goes uncounted.
    pub close: u64,
}

impl Window {
    #[inline]
    fn contains(&self, t: u64) -> bool {
        t >= self.start && t < self.end
    }

    #[inline]
    fn second(&self, t: u64) -> usize {
        (t.saturating_sub(self.phase_start) / 1_000_000_000) as usize
    }

    /// Seconds from phase start to window end, rounded up.
    pub fn seconds(&self) -> usize {
        (self.end - self.phase_start).div_ceil(1_000_000_000) as usize
    }
}

/// One worker thread's share of a phase.
#[derive(Debug)]
pub struct WorkerStats {
    pub(crate) counters: Counters,
    pub(crate) errors: ErrorCounts,
    pub(crate) latency: Histogram<u64>,
    pub(crate) connect_latency: Histogram<u64>,
    pub(crate) request_latency: Histogram<u64>,
    pub(crate) bandwidth: Histogram<u64>,
    pub(crate) seconds: Vec<SecondStats>,
    pub(crate) open_connections: u64,
    /// Messages received at any time of the phase, for the progress display only.
    pub(crate) received: u64,
}

impl WorkerStats {
    pub(crate) fn new(window: &Window) -> Self {
        let n = window.seconds();
        let mut seconds: Vec<SecondStats> = (0..n as u32).map(SecondStats::new).collect();
        for s in &mut seconds {
            let from = window.phase_start + u64::from(s.second) * 1_000_000_000;
            s.in_window = from >= window.start && from + 1_000_000_000 <= window.end;
        }
        WorkerStats {
            counters: Counters::default(),
            errors: ErrorCounts::default(),
            latency: new_histogram(),
            connect_latency: new_histogram(),
            request_latency: new_histogram(),
            bandwidth: new_histogram(),
            seconds,
            open_connections: 0,
            received: 0,
        }
    }

    /// Adds another worker's share into this one.
    pub(crate) fn merge(&mut self, o: WorkerStats) {
        self.counters.add(&o.counters);
        for (a, b) in self.errors.0.iter_mut().zip(o.errors.0) {
            *a += b;
        }
        self.latency
            .add(&o.latency)
            .expect("auto-resizing histograms always merge");
        self.connect_latency
            .add(&o.connect_latency)
            .expect("auto-resizing histograms always merge");
        self.request_latency
            .add(&o.request_latency)
            .expect("auto-resizing histograms always merge");
        self.bandwidth
            .add(&o.bandwidth)
            .expect("auto-resizing histograms always merge");
        for (a, b) in self.seconds.iter_mut().zip(o.seconds) {
            a.messages_delivered += b.messages_delivered;
            a.bytes_up += b.bytes_up;
            a.bytes_down += b.bytes_down;
            a.connections += b.connections;
            a.latency
                .add(&b.latency)
                .expect("auto-resizing histograms always merge");
        }
    }
}

/// Shared by all clients of one worker thread.
pub(crate) struct Worker {
    pub(crate) stats: RefCell<WorkerStats>,
    pub(crate) window: Window,
}

/// The recording handle of one client: every byte and message it sees goes through here.
#[derive(Clone)]
pub(crate) struct Meter {
    worker: Rc<Worker>,
    /// This client's bytes in the window, for the per-client bandwidth distribution.
    tally: Rc<Cell<u64>>,
}

impl Meter {
    pub(crate) fn new(worker: Rc<Worker>) -> Self {
        Meter {
            worker,
            tally: Rc::new(Cell::new(0)),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut WorkerStats) -> R) -> R {
        f(&mut self.worker.stats.borrow_mut())
    }

    /// Whether the window has ended: a client then sends nothing new and only drains.
    pub(crate) fn draining(&self) -> bool {
        pushbench_wire::now_ns() >= self.worker.window.end
    }

    pub(crate) fn window(&self) -> Window {
        self.worker.window
    }

    /// `n` bytes read at `t`.
    pub(crate) fn down(&self, n: usize, t: u64) {
        let n = n as u64;
        let in_window = self.worker.window.contains(t);
        let sec = self.worker.window.second(t);
        self.with(|s| {
            s.counters.bytes_total += n;
            if in_window {
                s.counters.bytes_down += n;
                self.tally.set(self.tally.get() + n);
            }
            if let Some(b) = s.seconds.get_mut(sec) {
                b.bytes_down += n;
            }
        });
    }

    /// `n` bytes written at `t`; `setup` for connection set-up.
    pub(crate) fn up(&self, n: usize, t: u64, setup: bool) {
        let n = n as u64;
        let in_window = !setup && self.worker.window.contains(t);
        let sec = self.worker.window.second(t);
        self.with(|s| {
            s.counters.bytes_total += n;
            if setup {
                s.counters.setup_bytes += n;
            } else if in_window {
                s.counters.bytes_up += n;
                self.tally.set(self.tally.get() + n);
            }
            if let Some(b) = s.seconds.get_mut(sec) {
                b.bytes_up += n;
            }
        });
    }

    /// `n` bytes already counted by [`Meter::down`] at `t` turned out to be set-up (a
    /// response head read together with the first messages).
    pub(crate) fn down_was_setup(&self, n: usize, t: u64) {
        let n = n as u64;
        let in_window = self.worker.window.contains(t);
        self.with(|s| {
            s.counters.setup_bytes += n;
            if in_window {
                s.counters.bytes_down -= n;
                self.tally.set(self.tally.get() - n);
            }
        });
    }

    /// A message received at `t`, checked against the client's sequence state.
    #[inline]
    pub(crate) fn message(&self, seq: &mut SeqState, h: Header, t: u64) {
        let verdict = seq.observe(h.seq);
        let sec = self.worker.window.second(t);
        if !self.worker.window.contains(t) {
            // Outside the window a message only shows in the time series' count.
            self.with(|s| {
                s.received += 1;
                if let (Some(b), false) = (s.seconds.get_mut(sec), verdict == Seen::Duplicate) {
                    b.messages_delivered += 1;
                }
            });
            return;
        }
        let latency_us = t.saturating_sub(h.sent_ns) / 1000;
        self.with(|s| {
            let c = &mut s.counters;
            match verdict {
                Seen::InOrder { lost } => {
                    c.messages_delivered += 1;
                    c.messages_lost += lost;
                }
                Seen::Late => {
                    c.messages_delivered += 1;
                    c.messages_out_of_order += 1;
                    c.messages_lost = c.messages_lost.saturating_sub(1);
                }
                Seen::Duplicate => {
                    c.messages_duplicated += 1;
                    return;
                }
            }
            s.received += 1;
            s.latency
                .record(latency_us)
                .expect("auto-resizing histogram");
            if let Some(b) = s.seconds.get_mut(sec) {
                b.messages_delivered += 1;
                b.latency
                    .record(latency_us)
                    .expect("auto-resizing histogram");
            }
        });
    }

    pub(crate) fn request(&self, t: u64) {
        if self.worker.window.contains(t) {
            self.with(|s| s.counters.requests += 1);
        }
    }

    /// A request written at `sent` was answered in full at `answered`.
    pub(crate) fn round_trip(&self, sent: u64, answered: u64) {
        if self.worker.window.contains(sent) {
            let us = answered.saturating_sub(sent) / 1000;
            self.with(|s| {
                s.request_latency
                    .record(us)
                    .expect("auto-resizing histogram")
            });
        }
    }

    pub(crate) fn empty_response(&self, t: u64) {
        if self.worker.window.contains(t) {
            self.with(|s| s.counters.empty_responses += 1);
        }
    }

    pub(crate) fn connected(&self) {
        self.with(|s| {
            s.counters.connections_opened += 1;
            s.open_connections += 1;
        });
    }

    /// A connection without a handshake was ready `connect_ns` after connecting started.
    pub(crate) fn connect_time(&self, connect_ns: u64) {
        self.handshake_done(connect_ns);
    }

    pub(crate) fn disconnected(&self) {
        self.with(|s| s.open_connections -= 1);
    }

    /// A connection's handshake was done `handshake_ns` after connecting started: one
    /// time-to-connect sample per connection, TCP connect included.
    pub(crate) fn handshake_done(&self, handshake_ns: u64) {
        self.with(|s| {
            s.connect_latency
                .record(handshake_ns / 1000)
                .expect("auto-resizing histogram")
        });
    }

    pub(crate) fn error(&self, kind: ErrorKind) {
        self.with(|s| s.errors.0[kind as usize] += 1);
    }

    pub(crate) fn reconnect(&self) {
        self.with(|s| s.counters.reconnects += 1);
    }

    /// Called once when the client stops: records its bandwidth over the window.
    pub(crate) fn finish(&self) {
        let w = self.worker.window;
        let secs = (w.end - w.start) as f64 / 1e9;
        let bps = (self.tally.get() as f64 / secs).round() as u64;
        self.with(|s| s.bandwidth.record(bps).expect("auto-resizing histogram"));
    }
}

/// What one received sequence number means for a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Seen {
    /// The newest so far; `lost` numbers were skipped to reach it.
    InOrder { lost: u64 },
    /// Older than the newest, not seen before: it had been counted lost.
    Late,
    /// Seen before.
    Duplicate,
}

/// A client's position in its topic. Remembers which of the 64 numbers below the newest
/// arrived, so a late arrival is told apart from a duplicate.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SeqState {
    /// Newest sequence number received (or the cursor the client started from).
    pub(crate) cursor: Option<u64>,
    /// Bit `i` set: `cursor - 1 - i` has arrived.
    seen: u64,
}

impl SeqState {
    /// Starts at a known cursor (a topic head): the next expected number is `cursor + 1`.
    pub(crate) fn start_at(&mut self, cursor: u64) {
        if self.cursor.is_none() {
            self.cursor = Some(cursor);
            self.seen = u64::MAX;
        }
    }

    pub(crate) fn observe(&mut self, seq: u64) -> Seen {
        let Some(cur) = self.cursor else {
            self.cursor = Some(seq);
            self.seen = u64::MAX;
            return Seen::InOrder { lost: 0 };
        };
        if seq > cur {
            let shift = seq - cur;
            self.seen = if shift >= 64 {
                0
            } else {
                (self.seen << shift) | (1 << (shift - 1))
            };
            self.cursor = Some(seq);
            Seen::InOrder { lost: shift - 1 }
        } else if seq == cur {
            Seen::Duplicate
        } else {
            let back = cur - seq - 1;
            if back >= 64 || self.seen & (1 << back) != 0 {
                Seen::Duplicate
            } else {
                self.seen |= 1 << back;
                Seen::Late
            }
        }
    }
}

/// Merges the workers' shares and attaches phase-level facts.
pub(crate) fn merge_workers(mut parts: Vec<WorkerStats>) -> WorkerStats {
    let mut all = parts.pop().expect("at least one worker");
    for p in parts {
        all.merge(p);
    }
    all
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequence_gaps_late_arrivals_and_duplicates() {
        let mut s = SeqState::default();
        s.start_at(10);
        assert_eq!(s.observe(11), Seen::InOrder { lost: 0 });
        assert_eq!(s.observe(14), Seen::InOrder { lost: 2 });
        assert_eq!(s.observe(12), Seen::Late);
        assert_eq!(s.observe(12), Seen::Duplicate);
        assert_eq!(s.observe(14), Seen::Duplicate);
        assert_eq!(s.observe(11), Seen::Duplicate);
        assert_eq!(s.observe(13), Seen::Late);
        assert_eq!(s.observe(200), Seen::InOrder { lost: 185 });
        assert_eq!(
            s.observe(100),
            Seen::Duplicate,
            "too old to tell: never counted twice as delivered"
        );
    }

    #[test]
    fn first_message_without_a_cursor_starts_the_count() {
        let mut s = SeqState::default();
        assert_eq!(s.observe(5), Seen::InOrder { lost: 0 });
        assert_eq!(s.observe(4), Seen::Duplicate);
        assert_eq!(s.observe(6), Seen::InOrder { lost: 0 });
    }

    #[test]
    fn window_second_flags() {
        let w = Window {
            phase_start: 0,
            start: 1_500_000_000,
            end: 4_000_000_000,
            close: 4_300_000_000,
        };
        let ws = WorkerStats::new(&w);
        let flags: Vec<bool> = ws.seconds.iter().map(|s| s.in_window).collect();
        assert_eq!(flags, vec![false, false, true, true]);
    }
}
