//! What a run writes, byte for byte: `summary.csv`, the percentile and time-series CSV
//! files, the histogram logs and `meta.json` of a fixed set of phases, against the files
//! the code wrote when this test was recorded (`tests/writer/`). Restructuring the writers
//! must not change a byte of the run directory.
//!
//! `PUSHBENCH_BLESS=1 cargo test -p pushbench-report --test writer` records them again,
//! for an intended change only.

use hdrhistogram::Histogram;
use pushbench_model::clock::ClockEstimate;
use pushbench_model::overload::{Judgement, Reason, Verdict};
use pushbench_model::run::RunMeta;
use pushbench_model::{
    Counters, ErrorCounts, KeepingUp, PhaseResult, ProcessUsage, Scenario, SecondStats,
    TransportKind,
};
use pushbench_report::RunDir;
use std::path::Path;

/// The recorded `meta.json`: its scenario is the plan the phases below ran (a two-point
/// clients sweep of poll, long-poll as `lp` and WebSocket, repeated twice, with `[network]`
/// and `[http]`), and the whole document must be written back byte for byte.
/// `crates/loadgen/tests/scenario_errors.rs` checks that the scenario file it came from
/// still parses to it.
fn recorded_meta() -> RunMeta {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/writer/meta.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A histogram of `n` values spread from `low` by a fixed pseudo-random walk.
fn histogram(n: u64, low: u64, seed: u64) -> Histogram<u64> {
    let mut h = Histogram::new_with_bounds(1, 2, 3).unwrap();
    h.auto(true);
    let mut x = seed;
    for _ in 0..n {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        h.record(low + (x >> 33) % (low * 3 + 7)).unwrap();
    }
    h
}

fn phase(kind: TransportKind, label: &str, rep: u32, clients: u32, seed: u64) -> PhaseResult {
    // The WebSocket phase of the second repetition at the large point delivered nothing.
    let delivered = if kind == TransportKind::WebSocket && rep == 2 && clients == 10 {
        0
    } else {
        40 * u64::from(clients) + seed
    };
    let seconds = (0..4)
        .map(|s| SecondStats {
            second: s,
            in_window: (1..3).contains(&s),
            messages_delivered: delivered / 4 + u64::from(s),
            bytes_up: 100 * u64::from(s) + seed,
            bytes_down: 1700 * u64::from(s) + seed,
            connections: u64::from(clients),
            latency: if (1..3).contains(&s) {
                histogram(delivered / 2, 200 + 10 * u64::from(s), seed + u64::from(s))
            } else {
                histogram(0, 1, 1)
            },
        })
        .collect();
    let mut latency = histogram(0, 1, 1);
    let all: &Vec<SecondStats> = &seconds;
    for s in all {
        latency.add(&s.latency).unwrap();
    }
    PhaseResult {
        label: label.to_string(),
        transport: kind,
        client: Default::default(),
        clock_error_us: None,
        repetition: rep,
        sweep: None,
        clients,
        connections: u64::from(clients),
        message_bytes: 98,
        duration_s: 2.0004 + seed as f64 / 1e4,
        window_offset_s: 1.0,
        counters: Counters {
            messages_published: 40 * u64::from(clients),
            messages_delivered: delivered,
            messages_lost: seed % 3,
            messages_duplicated: seed % 2,
            messages_out_of_order: u64::from(seed.is_multiple_of(5)),
            bytes_up: 17 * delivered + seed,
            bytes_down: 101 * delivered + 3 * seed,
            setup_bytes: 163 * u64::from(clients),
            bytes_total: 130 * delivered + 500,
            requests: if kind == TransportKind::WebSocket {
                0
            } else {
                delivered + 7
            },
            empty_responses: seed % 4,
            connections_opened: u64::from(clients) + seed % 2,
            reconnects: seed % 2,
            negative_latencies: seed % 3,
        },
        errors: ErrorCounts([seed % 2, 0, seed % 3, 0, u64::from(seed.is_multiple_of(7))]),
        latency,
        connect_latency: histogram(u64::from(clients), 90, seed),
        request_latency: if kind == TransportKind::WebSocket {
            histogram(0, 1, 1)
        } else {
            histogram(delivered, 1000, seed + 9)
        },
        bandwidth: histogram(u64::from(clients), 5000, seed + 3),
        seconds,
        server: ProcessUsage {
            cpu_s: 0.0123 * seed as f64 + 0.05,
            peak_rss_bytes: 9_000_000 + 4096 * seed,
            idle_rss_bytes: 8_000_000,
        },
        loadgen: ProcessUsage {
            cpu_s: 0.0456 * seed as f64,
            peak_rss_bytes: 11_000_000 + 8192 * seed,
            idle_rss_bytes: 10_500_000,
        },
        loadgen_cpu_share: 0.0333 * seed as f64,
        control_bytes: 700 + seed,
        started_unix_s: 1_790_000_000.25 + seed as f64,
        // Converted by the offset in odd phases: 12.346 µs and up, carried as 13 µs.
        clock: vec![ClockEstimate {
            shard: None,
            offset_ns: -250_000 + seed as i64,
            error_ns: 12_345 + seed,
            exchanges: 16,
            applied: seed % 2 == 1,
        }],
        keeping_up: keeping_up(seed),
        evidence: Default::default(),
    }
}

/// Every third phase overloaded (its publisher behind, a backlog), one without server
/// figures (judged unknown), the rest keeping up.
fn keeping_up(seed: u64) -> KeepingUp {
    if seed == 2 {
        return KeepingUp {
            judgement: Judgement {
                verdict: Some(Verdict::Unknown),
                reasons: Vec::new(),
            },
            ..KeepingUp::default()
        };
    }
    let overloaded = seed.is_multiple_of(3);
    KeepingUp {
        publisher_lag: Some(histogram(100, 40, seed + 5)),
        publisher_fell_behind_us: Some(if overloaded { 250_000 * seed } else { 30 }),
        peak_queued_bytes: Some(980 * seed),
        judgement: Judgement {
            verdict: Some(if overloaded {
                Verdict::Overloaded
            } else {
                Verdict::Ok
            }),
            reasons: if overloaded {
                vec![Reason::PublisherLag, Reason::Backlog]
            } else {
                Vec::new()
            },
        },
    }
}

fn phases(scenario: &Scenario) -> Vec<PhaseResult> {
    let mut out = Vec::new();
    let mut seed = 1;
    for rep in 1..=scenario.repeat {
        for plan in scenario.points() {
            for t in &plan.scenario.transports {
                let mut p = phase(t.kind, &t.label, rep, t.clients, seed);
                p.sweep = plan.point;
                out.push(p);
                seed += 1;
            }
        }
    }
    out
}

#[test]
fn a_run_directory_is_written_as_before() {
    let meta = recorded_meta();
    let phases = phases(&meta.scenario);
    let dir = std::env::temp_dir()
        .join(format!("pushbench-test-writer-{}", std::process::id()))
        .join("run");
    let _ = std::fs::remove_dir_all(&dir);
    let run = RunDir::create(&dir).unwrap();
    run.write_results(&phases).unwrap();
    run.write_meta(&meta).unwrap();
    let expected = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/writer");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let bless = std::env::var_os("PUSHBENCH_BLESS").is_some_and(|v| v == "1");
    if bless {
        let _ = std::fs::remove_dir_all(&expected);
        std::fs::create_dir_all(&expected).unwrap();
    }
    let mut want: Vec<String> = std::fs::read_dir(&expected)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    want.sort();
    if !bless {
        assert_eq!(names, want, "the files of the run directory");
    }
    for name in names {
        let got = std::fs::read(dir.join(&name)).unwrap();
        if bless {
            std::fs::write(expected.join(&name), &got).unwrap();
            continue;
        }
        let was = std::fs::read(expected.join(&name)).unwrap();
        assert!(
            got == was,
            "{name} differs from tests/writer/{name}; the new one is {}",
            dir.join(&name).display()
        );
    }
    std::fs::remove_dir_all(dir.parent().unwrap()).unwrap();
}

#[test]
fn the_printed_table_names_the_clock_error_and_every_negative_latency() {
    let phases = phases(&recorded_meta().scenario);
    let text = pushbench_report::summary_table(&phases);
    // Offsets applied in the odd phases, bounds 12,345 ns + seed: the largest is phase 11's
    // (long polling at 10 clients, repetition 2), 12.356 µs.
    assert!(
        text.contains("each carries at most 12.4 µs of error (lp rep 2;"),
        "{text}"
    );
    // seed mod 3 negative latencies: every phase but the 4 of seeds 3, 6, 9 and 12.
    let notes = text
        .lines()
        .filter(|l| l.contains("negative latencies, within"));
    assert_eq!(notes.count(), 8, "{text}");
}
