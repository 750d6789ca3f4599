//! Sharded runs: one scenario's clients split over N load-generator processes
//! (`pushbench run --shard I/N`), each writing a shard run directory, and merged back into one
//! run directory (`pushbench merge`) without loss. What every shard and the merge must agree
//! on is defined here: which clients a shard runs, the phase plan every shard follows, what a
//! shard records about itself in `meta.json`, and how shards' phases add up.

use crate::overload::{Evidence, judge};
use crate::scenario::SweepPoint;
use serde::{Deserialize, Serialize};

/// Shard `index` (from 1) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which shard, from 1.
    pub index: u32,
    /// How many shards the run is split into.
    pub count: u32,
}

impl Shard {
    /// Reads `I/N` (`2/3`): 1 ≤ I ≤ N.
    pub fn parse(text: &str) -> Result<Shard, String> {
        let expected = || format!("expected I/N with 1 <= I <= N, such as 2/3, found {text:?}");
        let (i, n) = text.split_once('/').ok_or_else(expected)?;
        let (index, count) = match (i.trim().parse::<u32>(), n.trim().parse::<u32>()) {
            (Ok(i), Ok(n)) => (i, n),
            _ => return Err(expected()),
        };
        if index == 0 || index > count {
            return Err(expected());
        }
        Ok(Shard { index, count })
    }

    /// The shard that sets the server's workload and stops its publisher: shard 1.
    pub fn drives(&self) -> bool {
        self.index == 1
    }

    /// How many of a phase's `total` clients this shard runs. The shard runs the clients
    /// whose number (from 0, as in a single process) leaves remainder `index - 1` when
    /// divided by `count`, so the first `total mod count` shards run one client more than
    /// the others and the shares add up to `total` exactly.
    pub fn clients(&self, total: u32) -> u32 {
        total / self.count + u32::from(self.index - 1 < total % self.count)
    }

    /// The number, in the whole phase, of this shard's `j`-th client (from 0): every
    /// shard's clients keep the number they have in a single process, so they subscribe to
    /// the same topics and start at the same moments of the ramp-up.
    pub fn client_number(&self, j: u32) -> u32 {
        (self.index - 1) + j * self.count
    }
}

/// One phase of the plan every shard follows, as offsets from the run's start time, ns.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlannedPhase {
    /// The phase's transport label.
    pub transport: String,
    /// Repetition, from 1.
    pub repetition: u32,
    /// Its sweep point, when the scenario sweeps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sweep: Option<SweepPoint>,
    /// When shard 1 sets the server's workload.
    pub workload_at_ns: u64,
    /// When the first client starts: the phase clock's zero.
    pub phase_start_ns: u64,
    /// When the measured window opens.
    pub window_start_ns: u64,
    /// When it closes.
    pub window_end_ns: u64,
    /// When the next phase's workload may be set at the earliest: every shard must be done
    /// with this phase by then.
    pub slot_end_ns: u64,
}

impl PartialEq for PlannedPhase {
    fn eq(&self, o: &PlannedPhase) -> bool {
        let point = |p: &Option<SweepPoint>| p.map(|p| (p.dimension, p.value.to_bits()));
        (
            &self.transport,
            self.repetition,
            self.workload_at_ns,
            self.phase_start_ns,
            self.window_start_ns,
            self.window_end_ns,
            self.slot_end_ns,
        ) == (
            &o.transport,
            o.repetition,
            o.workload_at_ns,
            o.phase_start_ns,
            o.window_start_ns,
            o.window_end_ns,
            o.slot_end_ns,
        ) && point(&self.sweep) == point(&o.sweep)
    }
}

/// What a shard run records in `meta.json` (`shard`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardMeta {
    /// Which shard of how many.
    pub shard: Shard,
    /// The wall-clock time the plan counts from (`--start-at`), RFC 3339 UTC with the
    /// fraction of a second.
    pub start_at: String,
    /// The same instant, ns since the UNIX epoch.
    pub start_at_unix_ns: u64,
    /// Every phase, in order, at its planned times.
    pub plan: Vec<PlannedPhase>,
}

/// What a merged run records in `meta.json` (`merged`): the shards it is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedMeta {
    /// The shards' common start time, RFC 3339 UTC.
    pub start_at: String,
    /// The phase plan they all followed.
    pub plan: Vec<PlannedPhase>,
    /// Every shard, in order.
    pub shards: Vec<MergedShard>,
}

/// One shard of a merged run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MergedShard {
    /// Which shard, from 1.
    pub index: u32,
    /// Its run directory, as given to `pushbench merge`.
    pub dir: String,
    /// The machine it ran on.
    pub hostname: String,
    /// When it started and ended, RFC 3339 UTC.
    pub started: String,
    /// See `started`.
    pub ended: String,
    /// Whether it ran every phase to its end.
    pub completed: bool,
    /// Why not, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incomplete_reason: Option<String>,
}

/// One shard's share of a phase, with what the merge needs to know about the shard.
#[derive(Debug, Clone, Copy)]
pub struct ShardPart<'a> {
    /// The shard's result of the phase.
    pub phase: &'a crate::PhaseResult,
    /// Which shard.
    pub shard: Shard,
    /// The machine it ran on: load-generator CPU shares add up on one machine only.
    pub hostname: &'a str,
}

/// The shards' results of one phase as one phase: what a single process running every
/// client would have recorded. Counts, bytes and histograms add up (histograms exactly:
/// every sample of every shard is in the sum), the seconds add up on the phase clock the
/// shards share, and the load generators' CPU and memory add up. The server is one process
/// every shard reads: its CPU, memory and publisher figures are the driving shard's (shard 1,
/// whose readings bracket its workload), and its slow-consumer count is not added but taken
/// once. The phase is judged again on the summed evidence, as a single process would judge it.
pub fn merge_phase(parts: &[ShardPart<'_>]) -> crate::PhaseResult {
    let driver = parts
        .iter()
        .find(|p| p.shard.drives())
        .unwrap_or(&parts[0])
        .phase;
    let mut m = driver.clone();
    m.clients = parts.iter().map(|p| p.phase.clients).sum();
    m.connections = parts.iter().map(|p| p.phase.connections).sum();
    m.duration_s = parts.iter().map(|p| p.phase.duration_s).fold(0.0, f64::max);
    m.started_unix_s = parts
        .iter()
        .map(|p| p.phase.started_unix_s)
        .fold(f64::INFINITY, f64::min);
    m.control_bytes = parts.iter().map(|p| p.phase.control_bytes).sum();
    // Every shard's own offset: each converted its own receipts by it.
    m.clock = parts
        .iter()
        .flat_map(|p| {
            p.phase.clock.iter().map(|e| crate::clock::ClockEstimate {
                shard: Some(p.shard.index),
                ..*e
            })
        })
        .collect();
    m.loadgen = Default::default();
    m.counters = Default::default();
    m.errors = Default::default();
    let mut seconds: Vec<crate::SecondStats> = Vec::new();
    for p in parts {
        let ph = p.phase;
        if !std::ptr::eq(ph, driver) {
            add_histograms(&mut m, ph);
        }
        m.counters.add(&ph.counters);
        for (a, b) in m.errors.0.iter_mut().zip(ph.errors.0) {
            *a += b;
        }
        m.loadgen.cpu_s += ph.loadgen.cpu_s;
        m.loadgen.peak_rss_bytes += ph.loadgen.peak_rss_bytes;
        m.loadgen.idle_rss_bytes += ph.loadgen.idle_rss_bytes;
        add_seconds(&mut seconds, &ph.seconds);
        m.keeping_up.peak_queued_bytes = m
            .keeping_up
            .peak_queued_bytes
            .max(ph.keeping_up.peak_queued_bytes);
    }
    m.seconds = seconds;
    m.loadgen_cpu_share = loadgen_cpu_share(parts);
    m.evidence = Evidence {
        published: parts
            .iter()
            .map(|p| p.phase.evidence.published)
            .sum::<Option<u64>>(),
        delivered: m.counters.messages_delivered,
        burst: parts.iter().map(|p| p.phase.evidence.burst).sum(),
        late_ticks: parts
            .iter()
            .map(|p| p.phase.evidence.late_ticks)
            .max()
            .unwrap_or(0),
        loadgen_cpu_share: m.loadgen_cpu_share,
        ..driver.evidence
    };
    m.keeping_up.judgement = judge(&m.evidence);
    m
}

/// Adds `o`'s distributions into `m`'s. Every histogram is made by
/// [`crate::new_histogram`] (same precision, auto-resizing), so adding cannot fail.
fn add_histograms(m: &mut crate::PhaseResult, o: &crate::PhaseResult) {
    let add = |a: &mut hdrhistogram::Histogram<u64>, b: &hdrhistogram::Histogram<u64>| {
        a.add(b)
            .expect("histograms of one precision, auto-resizing, add");
    };
    add(&mut m.latency, &o.latency);
    add(&mut m.connect_latency, &o.connect_latency);
    add(&mut m.request_latency, &o.request_latency);
    add(&mut m.bandwidth, &o.bandwidth);
}

/// Adds a shard's seconds into the merged ones, second by second of the phase clock.
fn add_seconds(into: &mut Vec<crate::SecondStats>, from: &[crate::SecondStats]) {
    for s in from {
        let k = s.second as usize;
        while into.len() <= k {
            into.push(crate::SecondStats::new(into.len() as u32));
        }
        let t = &mut into[k];
        t.in_window |= s.in_window;
        t.messages_delivered += s.messages_delivered;
        t.bytes_up += s.bytes_up;
        t.bytes_down += s.bytes_down;
        t.connections += s.connections;
        t.latency
            .add(&s.latency)
            .expect("histograms of one precision, auto-resizing, add");
    }
}

/// The load generators' CPU share: shares of shards on one machine add up (they share its
/// cores), and across machines the busiest machine's counts, since the verdict asks whether
/// any load generator may have been the bottleneck.
fn loadgen_cpu_share(parts: &[ShardPart<'_>]) -> f64 {
    let mut by_host: Vec<(&str, f64)> = Vec::new();
    for p in parts {
        match by_host.iter_mut().find(|(h, _)| *h == p.hostname) {
            Some((_, s)) => *s += p.phase.loadgen_cpu_share,
            None => by_host.push((p.hostname, p.phase.loadgen_cpu_share)),
        }
    }
    by_host.into_iter().map(|(_, s)| s).fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_spread_the_remainder_over_the_first_shards() {
        for total in [0u32, 1, 2, 7, 100, 10_001] {
            for count in 1..=7u32 {
                let shards = (1..=count).map(|index| Shard { index, count });
                let shares: Vec<u32> = shards.clone().map(|s| s.clients(total)).collect();
                assert_eq!(shares.iter().sum::<u32>(), total, "{total} over {count}");
                // Every client number from 0 to total - 1 belongs to exactly one shard.
                let mut numbers: Vec<u32> = shards
                    .flat_map(|s| (0..s.clients(total)).map(move |j| s.client_number(j)))
                    .collect();
                numbers.sort_unstable();
                assert_eq!(numbers, (0..total).collect::<Vec<_>>());
            }
        }
        // 7 clients over 3 shards: 3, 2, 2.
        let of = |index| Shard { index, count: 3 }.clients(7);
        assert_eq!((of(1), of(2), of(3)), (3, 2, 2));
    }

    /// A phase of `clients` clients whose deliveries had `latencies` (µs), the `k`-th in
    /// second `1 + k % 2` of the phase; everything else a fixed multiple of `clients`.
    fn phase(clients: u32, latencies: &[u64]) -> crate::PhaseResult {
        let c = u64::from(clients);
        let mut latency = crate::new_histogram();
        let mut seconds: Vec<crate::SecondStats> = (0..3).map(crate::SecondStats::new).collect();
        for (k, v) in latencies.iter().enumerate() {
            latency.record(*v).unwrap();
            let s = &mut seconds[1 + k % 2];
            s.latency.record(*v).unwrap();
            s.messages_delivered += 1;
        }
        for s in &mut seconds {
            s.connections = c;
            s.in_window = s.second > 0;
        }
        let mut bandwidth = crate::new_histogram();
        bandwidth.record(1000 * c).unwrap();
        crate::PhaseResult {
            label: "websocket".into(),
            transport: crate::TransportKind::WebSocket,
            client: Default::default(),
            clock_error_us: None,
            repetition: 1,
            sweep: None,
            clients,
            connections: c,
            message_bytes: 42,
            duration_s: 2.0,
            window_offset_s: 1.0,
            counters: crate::Counters {
                messages_published: latencies.len() as u64,
                messages_delivered: latencies.len() as u64,
                bytes_down: 44 * latencies.len() as u64,
                negative_latencies: u64::from(clients),
                connections_opened: c,
                ..Default::default()
            },
            errors: crate::ErrorCounts([c, 0, 0, 0, 1]),
            latency,
            connect_latency: crate::new_histogram(),
            request_latency: crate::new_histogram(),
            bandwidth,
            seconds,
            server: crate::ProcessUsage {
                cpu_s: 0.5,
                peak_rss_bytes: 9_000_000,
                idle_rss_bytes: 8_000_000,
            },
            loadgen: crate::ProcessUsage {
                cpu_s: 0.1 * f64::from(clients),
                peak_rss_bytes: 1_000_000 * c,
                idle_rss_bytes: 500_000 * c,
            },
            loadgen_cpu_share: 0.3,
            control_bytes: 100,
            started_unix_s: 1_000.0 + f64::from(clients),
            clock: vec![crate::clock::ClockEstimate {
                shard: None,
                offset_ns: -1_000 * i64::from(clients),
                error_ns: 40 * u64::from(clients),
                exchanges: 16,
                applied: true,
            }],
            keeping_up: Default::default(),
            evidence: Evidence {
                period_us: Some(500_000.0),
                publisher_fell_behind_us: Some(0),
                published: Some(latencies.len() as u64),
                delivered: latencies.len() as u64,
                burst: c,
                slow_consumer_disconnects: Some(0),
                ..Default::default()
            },
        }
    }

    /// Through the file a shard writes and the merge reads.
    fn through_record(p: &crate::PhaseResult) -> crate::PhaseResult {
        let json = serde_json::to_string(&crate::record::PhaseRecord::of(p)).unwrap();
        serde_json::from_str::<crate::record::PhaseRecord>(&json)
            .unwrap()
            .into_result()
            .unwrap()
    }

    #[test]
    fn a_merged_histogram_is_the_histogram_of_every_sample() {
        // Values spread over the histogram's whole range, repeats and a shard with none.
        let samples: [&[u64]; 3] = [
            &[100, 250, 1_000, 1_000, 70_000, 3],
            &[90, 250, 3_000_000, 12_345],
            &[],
        ];
        let phases: Vec<crate::PhaseResult> = samples
            .iter()
            .enumerate()
            .map(|(i, s)| through_record(&phase(3 - i as u32, s)))
            .collect();
        let hosts = ["a", "a", "b"];
        let parts: Vec<ShardPart<'_>> = phases
            .iter()
            .enumerate()
            .map(|(i, p)| ShardPart {
                phase: p,
                shard: Shard {
                    index: i as u32 + 1,
                    count: 3,
                },
                hostname: hosts[i],
            })
            .collect();
        let m = merge_phase(&parts);
        let mut union = crate::new_histogram();
        for v in samples.concat() {
            union.record(v).unwrap();
        }
        assert_eq!(m.latency, union);
        assert_eq!(m.latency.len(), 10);
        assert_eq!(m.latency.max(), union.max());
        for q in [0.0, 0.5, 0.9, 0.99, 1.0] {
            assert_eq!(m.latency.value_at_quantile(q), union.value_at_quantile(q));
        }
        // Second by second too: samples 0, 2, 4 of each shard were in second 1.
        let mut second1 = crate::new_histogram();
        for v in [100, 1_000, 70_000, 90, 3_000_000] {
            second1.record(v).unwrap();
        }
        assert_eq!(m.seconds[1].latency, second1);
        assert_eq!(m.seconds[1].messages_delivered, 5);
        assert_eq!(m.seconds[0].connections, 3 + 2 + 1);
        // Counts add; the server is shard 1's reading; the load generators add up.
        assert_eq!((m.clients, m.connections), (6, 6));
        assert_eq!(m.counters.messages_delivered, 10);
        assert_eq!(m.counters.bytes_down, 440);
        assert_eq!(m.errors.0, [6, 0, 0, 0, 3]);
        assert_eq!(m.server, phases[0].server);
        assert_eq!(m.loadgen.peak_rss_bytes, 6_000_000);
        assert!((m.loadgen.cpu_s - 0.6).abs() < 1e-9);
        assert_eq!(m.control_bytes, 300);
        assert_eq!(m.started_unix_s, 1_001.0);
        // Negative latencies add up; every shard's clock offset is kept, with its shard.
        assert_eq!(m.counters.negative_latencies, 3 + 2 + 1);
        let offsets: Vec<(Option<u32>, i64, u64)> = m
            .clock
            .iter()
            .map(|e| (e.shard, e.offset_ns, e.error_ns))
            .collect();
        assert_eq!(
            offsets,
            [
                (Some(1), -3_000, 120),
                (Some(2), -2_000, 80),
                (Some(3), -1_000, 40)
            ]
        );
        assert_eq!(crate::clock::carried_error_ns(&m.clock), 120);
        // Shares add on host a (0.3 + 0.3) and not across hosts (b: 0.3).
        assert!((m.loadgen_cpu_share - 0.6).abs() < 1e-9);
        // Judged again on the sums: everything owed was delivered.
        assert_eq!(
            m.keeping_up.judgement.verdict,
            Some(crate::overload::Verdict::Ok)
        );
        assert_eq!(m.evidence.burst, 6);
    }

    #[test]
    fn shard_text() {
        assert_eq!(Shard::parse("2/3"), Ok(Shard { index: 2, count: 3 }));
        assert_eq!(Shard::parse("1/1"), Ok(Shard { index: 1, count: 1 }));
        for bad in ["0/3", "4/3", "3", "a/3", "1/0", "-1/3", ""] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }
}
