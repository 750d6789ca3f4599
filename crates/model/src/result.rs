//! What a phase measured ([`PhaseResult`]), and how its histograms are kept. The load
//! generator makes these; the report writes them to the run directory.

use crate::scenario::SweepPoint;
use crate::transport::TransportKind;
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The percentiles written for every distribution: at least 20 points from p0 to p100,
/// dense in the tail where transports differ.
pub const PERCENTILES: [f64; 22] = [
    0.0, 5.0, 10.0, 20.0, 25.0, 30.0, 40.0, 50.0, 60.0, 70.0, 75.0, 80.0, 90.0, 95.0, 97.5, 99.0,
    99.5, 99.9, 99.95, 99.99, 99.999, 100.0,
];

/// The kinds failures are counted by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The TCP connection could not be made.
    Connect,
    /// Reading or writing failed.
    Io,
    /// The server closed the connection where an answer was due.
    Closed,
    /// The server answered with an unexpected HTTP status.
    Status,
    /// The server's bytes broke the protocol.
    Protocol,
}

impl ErrorKind {
    /// Every kind, in column order.
    pub const ALL: [ErrorKind; 5] = [
        ErrorKind::Connect,
        ErrorKind::Io,
        ErrorKind::Closed,
        ErrorKind::Status,
        ErrorKind::Protocol,
    ];

    /// Column-friendly name.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::Connect => "connect",
            ErrorKind::Io => "io",
            ErrorKind::Closed => "closed",
            ErrorKind::Status => "status",
            ErrorKind::Protocol => "protocol",
        }
    }
}

/// Latencies are recorded in microseconds with 3 significant figures; histograms grow to fit
/// the largest value, so a stalled run still records its worst case exactly.
pub fn new_histogram() -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 2, 3).expect("valid histogram bounds");
    h.auto(true);
    h
}

/// Counts of one phase (or one worker's share of it). Unless said otherwise, a count covers
/// the measured window only.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Delivered messages whose latency came out below zero: possible only when receipts are
    /// converted by an estimated clock offset ([`crate::clock`]), within its error bound.
    /// Each is in the latency histograms as 0 µs, so that they hold every delivered message.
    #[serde(default)]
    pub negative_latencies: u64,
}

impl Counters {
    /// Adds another share of the same phase (another worker's) into this one.
    pub fn add(&mut self, o: &Counters) {
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
        self.negative_latencies += o.negative_latencies;
    }
}

/// Failures by kind, whole phase, in [`ErrorKind::ALL`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
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
    /// An empty second.
    pub fn new(second: u32) -> Self {
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
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
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
    /// Which client ran it: pushbench's own or the browser's.
    pub client: crate::client::ClientKind,
    /// Browser clients: how far a page's receive times may be off the load generator's
    /// clock, at most (the largest half round trip of the pages' best `GET /clock`
    /// reading), µs; `None` for the load generator's own clients, which read its clock.
    pub clock_error_us: Option<u64>,
    /// Repetition number, from 1.
    pub repetition: u32,
    /// The sweep point the phase ran at, when the scenario sweeps.
    pub sweep: Option<SweepPoint>,
    /// Planned concurrent clients.
    pub clients: u32,
    /// Connections the phase holds at once (clients, or twice that for echo over HTTP).
    pub connections: u64,
    /// Bytes of one message: the 34-byte envelope and the payload.
    pub message_bytes: u64,
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
    /// The clock offset to the server estimated at the phase's start, one per load
    /// generator (every shard's, once merged); empty when none was (a target has no
    /// `/clock`).
    pub clock: Vec<crate::clock::ClockEstimate>,
    /// Whether the server kept up: what it reported, and the judgement.
    pub keeping_up: KeepingUp,
    /// What the judgement looked at, kept so that shards' phases merged
    /// ([`crate::shard::merge_phase`]) are judged on their sums as one process would be.
    pub evidence: crate::overload::Evidence,
}

/// What a phase learnt about the server keeping up ([`crate::overload`]). A figure is
/// `None` when the server did not report it.
#[derive(Debug, Clone, Default)]
pub struct KeepingUp {
    /// The lag of every tick the publisher published in the window (actual minus scheduled
    /// time), µs.
    pub publisher_lag: Option<Histogram<u64>>,
    /// How much further behind its schedule the publisher was at the window's end than at
    /// its start, µs.
    pub publisher_fell_behind_us: Option<u64>,
    /// The most bytes queued for push subscribers at any publication from the workload's
    /// start to the window's end.
    pub peak_queued_bytes: Option<u64>,
    /// The verdict and its reasons.
    pub judgement: crate::overload::Judgement,
}

impl PhaseResult {
    /// Whether the load generator used so much CPU that its numbers are suspect.
    pub fn loadgen_saturated(&self) -> bool {
        self.loadgen_cpu_share > crate::overload::LOADGEN_SATURATED_SHARE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_list_covers_the_tail() {
        assert!(PERCENTILES.len() >= 20);
        assert_eq!(PERCENTILES[0], 0.0);
        assert_eq!(*PERCENTILES.last().unwrap(), 100.0);
        assert!(PERCENTILES.contains(&99.9) && PERCENTILES.contains(&99.99));
        assert!(PERCENTILES.windows(2).all(|w| w[0] < w[1]));
    }
}
