//! The per-worker recording behind a phase's results.
//!
//! Each worker thread owns one [`WorkerStats`]; its clients record into it through a
//! [`Meter`] without locks or per-message allocation. At the end of a phase the workers'
//! stats are merged into one `PhaseResult` (`pushbench_model::result`).

use hdrhistogram::Histogram;
use pushbench_model::result::{Counters, ErrorCounts, ErrorKind, SecondStats, new_histogram};
use pushbench_wire::Header;
use std::cell::{Cell, RefCell};
use std::rc::Rc;

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
    /// Browser clients: the bound on their pages' clock error, ns (`None`: the load
    /// generator's own clients).
    pub(crate) clock_error_ns: Option<u64>,
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
            clock_error_ns: None,
        }
    }

    /// Adds another worker's share into this one.
    pub(crate) fn merge(&mut self, o: WorkerStats) {
        self.counters.add(&o.counters);
        self.clock_error_ns = self.clock_error_ns.max(o.clock_error_ns);
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
    /// Added to a receipt time to read it on the clock messages are stamped with (the
    /// server's, `pushbench_model::clock`); 0 where both are one clock.
    pub(crate) offset_ns: i64,
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
        // Exact in i128 whatever the stamps; below zero only through an estimated offset.
        let latency_ns = i128::from(t) + i128::from(self.worker.offset_ns) - i128::from(h.sent_ns);
        let negative = u64::from(latency_ns < 0);
        let latency_us = (latency_ns.clamp(0, i128::from(u64::MAX)) as u64) / 1000;
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
            s.counters.negative_latencies += negative;
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

    /// A message sent by this client (the echo pattern), stamped `sent_ns`: counted as
    /// published when that is inside the window. Against pushbench's own server the phase
    /// replaces the count by the server's own (its topic heads).
    pub(crate) fn published(&self, sent_ns: u64) {
        if self.worker.window.contains(sent_ns) {
            self.with(|s| s.counters.messages_published += 1);
        }
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

    /// A browser page's clock error is at most `ns`: the phase's bound is the largest.
    pub(crate) fn clock_error(&self, ns: u64) {
        self.with(|s| s.clock_error_ns = s.clock_error_ns.max(Some(ns)));
    }

    /// What the live display shows of this meter's worker.
    pub(crate) fn snapshot(&self) -> crate::live::ProgressSnapshot {
        self.with(|s| crate::live::ProgressSnapshot {
            connected: s.open_connections,
            received: s.received,
            errors: s.errors.total(),
            p99_us: if s.latency.is_empty() {
                0
            } else {
                s.latency.value_at_quantile(0.99)
            },
        })
    }

    /// Called once when a page of `clients` browser clients stops: its connections carry
    /// all of its clients' bytes, so each gets an equal share in the bandwidth distribution.
    pub(crate) fn finish_shared(&self, clients: u32) {
        let w = self.worker.window;
        let secs = (w.end - w.start) as f64 / 1e9;
        let bps = (self.tally.get() as f64 / f64::from(clients.max(1)) / secs).round() as u64;
        self.with(|s| {
            s.bandwidth
                .record_n(bps, u64::from(clients))
                .expect("auto-resizing histogram")
        });
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
    fn receipts_are_read_on_the_servers_clock_and_negative_latencies_counted() {
        let window = Window {
            phase_start: 0,
            start: 1_000_000_000,
            end: 3_000_000_000,
            close: 3_300_000_000,
        };
        // The server's clock is 5 µs behind this one: a receipt at local t is at t − 5 µs
        // on the clock the messages are stamped with.
        let worker = Rc::new(Worker {
            stats: RefCell::new(WorkerStats::new(&window)),
            window,
            offset_ns: -5_000,
        });
        let meter = Meter::new(worker.clone());
        let mut seq = SeqState::default();
        let t = 2_000_000_000;
        // Stamped 12 µs before the local receipt: 7 µs; 2 µs before: −3 µs, counted and
        // recorded as 0; 5 µs before: exactly 0, not negative.
        for (n, before_ns) in [(1, 12_000), (2, 2_000), (3, 5_000)] {
            let h = Header {
                seq: n,
                sent_ns: t - before_ns,
            };
            meter.message(&mut seq, h, t);
        }
        // A duplicate is neither a latency nor a negative one.
        meter.message(&mut seq, Header { seq: 2, sent_ns: t }, t);
        let s = worker.stats.borrow();
        assert_eq!(s.counters.messages_delivered, 3);
        assert_eq!(s.counters.messages_duplicated, 1);
        assert_eq!(s.counters.negative_latencies, 1);
        let recorded: Vec<(u64, u64)> = s
            .latency
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        assert_eq!(recorded, [(0, 2), (7, 1)]);
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
