use super::judge::classify;
use super::metric::threshold_for;
use super::stats::{null_counts, rank, shift};
use super::*;
use crate::{PERCENTILES, PhaseKey};
use pushbench_model::TransportKind;
use pushbench_model::rows::{PercentileRow, SummaryRow};
use std::collections::BTreeMap;

// ---------------------------------------------------------------------------------------
// Fixtures: runs built in memory.

/// Per-repetition jitter of the baseline and the candidate: at most 3% either way, as
/// between repetitions on a quiet CI machine.
const BASE_JITTER: [f64; 4] = [1.00, 1.03, 0.98, 1.02];
const NEW_JITTER: [f64; 4] = [0.99, 1.01, 1.02, 0.97];

const TRANSPORTS: [&str; 2] = ["sse", "websocket"];

/// One repetition of a transport: latencies times `latency`, latency, CPU and memory
/// times `jitter`; bytes per message and deliveries exact, as they are in real runs.
fn row(label: &str, rep: u32, latency: f64, jitter: f64) -> SummaryRow {
    let l = |v: f64| v * latency * jitter;
    SummaryRow {
        clients: 100,
        duration_s: 7.0,
        messages_published: 14_000,
        messages_delivered: 14_000,
        latency_mean_us: l(1154.8),
        latency_p50_us: l(1200.0),
        latency_p90_us: l(1578.0),
        latency_p99_us: l(2443.0),
        latency_p999_us: l(4091.0),
        latency_max_us: l(4187.0),
        bytes_per_message: 183.59,
        message_bytes: 162,
        server_cpu_s: 0.329 * jitter,
        server_peak_rss_bytes: (8_843_264.0 * jitter) as u64,
        loadgen_peak_rss_bytes: (10_801_152.0 * jitter) as u64,
        ..SummaryRow::empty(label, kind(label), rep)
    }
}

/// The kind of a label: the kind it is named after.
fn kind(label: &str) -> TransportKind {
    TransportKind::from_name(label).expect("labels are kind names")
}

/// A run of scenario `name`: every transport of `labels`, one repetition per jitter.
fn run(name: &str, labels: &[&str], latency: f64, jitter: &[f64]) -> RunData {
    let mut data = RunData {
        dir: format!("runs/{name}").into(),
        meta: crate::tests::meta(name, jitter.len() as u32),
        summary: Vec::new(),
        latency: BTreeMap::new(),
        bandwidth: BTreeMap::new(),
        timeseries: BTreeMap::new(),
        sweep: Vec::new(),
    };
    for label in labels {
        for (i, j) in jitter.iter().enumerate() {
            let rep = i as u32 + 1;
            data.summary.push(row(label, rep, latency, *j));
            let points = PERCENTILES
                .iter()
                .map(|&p| PercentileRow {
                    transport: label.to_string(),
                    repetition: rep,
                    percentile: p,
                    value: 1000.0 * latency * j * (1.0 + p / 25.0),
                    sweep_dimension: None,
                    sweep_value: None,
                })
                .collect();
            data.latency
                .insert(PhaseKey::new(*label, None, rep), points);
        }
    }
    data
}

fn set(run: &mut RunData, label: &str, rep: u32, change: impl Fn(&mut SummaryRow)) {
    let row = run
        .summary
        .iter_mut()
        .find(|r| r.transport == label && r.repetition == rep)
        .expect("the row exists");
    change(row);
}

fn default_opts() -> CompareOptions {
    CompareOptions::default()
}

fn result<'a>(c: &'a Comparison, transport: &str, metric: Metric) -> &'a MetricResult {
    c.results
        .iter()
        .find(|r| r.transport == transport && r.metric == metric)
        .expect("the result exists")
}

const LATENCY: [Metric; 5] = [
    Metric::LatencyP50,
    Metric::LatencyP90,
    Metric::LatencyP99,
    Metric::LatencyP999,
    Metric::LatencyMean,
];

// ---------------------------------------------------------------------------------------
// Statistics, checked against values worked out by hand.

#[test]
fn mann_whitney_null_distribution_3_by_3() {
    // U counts the pairs (x, y) with y > x. The C(6, 3) = 20 equally likely orderings of
    // 3 x's and 3 y's give U = u in as many ways as there are partitions of u into at
    // most 3 parts of at most 3:
    // u=0: {} ; u=1: 1 ; u=2: 2, 1+1 ; u=3: 3, 2+1, 1+1+1 ; u=4: 3+1, 2+2, 2+1+1 ;
    // then symmetric about 4.5: 3, 3, 2, 1, 1.
    let counts = null_counts(3, 3);
    assert_eq!(counts, [1.0, 1.0, 2.0, 3.0, 3.0, 3.0, 3.0, 2.0, 1.0, 1.0]);
    assert_eq!(counts.iter().sum::<f64>(), 20.0);
    // P(U <= 0) = 1/20, so [min, max] of the 9 differences has confidence
    // 1 - 2/20 = 90%; k = 2 would have 1 - 2 * 2/20 = 80%. 95% is out of reach.
    let (k, confidence) = rank(3, 3);
    assert_eq!(k, 1);
    assert!((confidence - 0.90).abs() < 1e-12);
}

#[test]
fn mann_whitney_null_distribution_4_by_4() {
    // Partitions of u into at most 4 parts of at most 4, C(8, 4) = 70 in all:
    // u=4: 4, 3+1, 2+2, 2+1+1, 1+1+1+1 (5); u=5: 4+1, 3+2, 3+1+1, 2+2+1, 2+1+1+1 (5);
    // u=6: 4+2, 4+1+1, 3+3, 3+2+1, 3+1+1+1, 2+2+2, 2+2+1+1 (7); u=7: 7; u=8: 4+4, 4+3+1,
    // 4+2+2, 4+2+1+1, 3+3+2, 3+3+1+1, 3+2+2+1, 2+2+2+2 (8); symmetric about 8.
    let counts = null_counts(4, 4);
    let expected = [
        1.0, 1.0, 2.0, 3.0, 5.0, 5.0, 7.0, 7.0, 8.0, 7.0, 7.0, 5.0, 5.0, 3.0, 2.0, 1.0, 1.0,
    ];
    assert_eq!(counts, expected);
    assert_eq!(counts.iter().sum::<f64>(), 70.0);
    // P(U <= 0) = 1/70: [min, max] has 1 - 2/70 = 97.14%; k = 2 has 1 - 4/70 = 94.3%.
    let (k, confidence) = rank(4, 4);
    assert_eq!(k, 1);
    assert!((confidence - 68.0 / 70.0).abs() < 1e-12);
}

#[test]
fn mann_whitney_5_by_5_reaches_95_percent_with_k_3() {
    // C(10, 5) = 252. Partitions of u = 0..4 in a 5×5 box: 1, 1, 2, 3, 5, so
    // P(U <= 2) = 4/252 and P(U <= 3) = 7/252. k = 3: 1 - 8/252 = 96.83% >= 95%;
    // k = 4: 1 - 14/252 = 94.4% < 95%.
    let counts = null_counts(5, 5);
    assert_eq!(counts[..5], [1.0, 1.0, 2.0, 3.0, 5.0]);
    assert_eq!(counts.iter().sum::<f64>(), 252.0);
    let (k, confidence) = rank(5, 5);
    assert_eq!(k, 3);
    assert!((confidence - (1.0 - 8.0 / 252.0)).abs() < 1e-12);
}

#[test]
fn hodges_lehmann_and_interval_by_hand_4_by_4() {
    // base x = [1, 2, 3, 4], new y = [2, 3, 4, 5]; differences y - x:
    //   y=2: 1  0 -1 -2
    //   y=3: 2  1  0 -1
    //   y=4: 3  2  1  0
    //   y=5: 4  3  2  1
    // sorted (16): -2 -1 -1 0 0 0 1 1 | 1 1 2 2 2 3 3 4
    // Hodges–Lehmann = mean of the 8th and 9th = (1 + 1) / 2 = 1.
    // 4 vs 4: k = 1, so the interval is [D(1), D(16)] = [-2, 4] at 68/70 = 97.1%.
    let s = shift(&[1.0, 2.0, 3.0, 4.0], &[2.0, 3.0, 4.0, 5.0]);
    assert_eq!(s.estimate, 1.0);
    assert_eq!((s.lo, s.hi), (-2.0, 4.0));
    assert!((s.confidence - 68.0 / 70.0).abs() < 1e-12);
}

#[test]
fn interval_by_hand_5_by_5_takes_the_third_from_each_end() {
    // x = 10..=14, y = 20..=24: y_j - x_i = 10 + (j - i), j - i from -4 to 4 with
    // multiplicities 1 2 3 4 5 4 3 2 1, so the sorted 25 differences are
    // 6, 7 7, 8 8 8, 9×4, 10×5, 11×4, 12×3, 13×2, 14. k = 3: [D(3), D(23)] = [7, 13];
    // the median (13th) is 10.
    let s = shift(
        &[10.0, 11.0, 12.0, 13.0, 14.0],
        &[20.0, 21.0, 22.0, 23.0, 24.0],
    );
    assert_eq!((s.lo, s.estimate, s.hi), (7.0, 10.0, 13.0));
}

#[test]
fn ratio_interval_by_hand_on_logs_3_by_3() {
    // base [100, 110, 120], new [150, 160, 170]: the 9 ratios new/base sorted are
    // 150/120=1.25, 160/120=1.333, 150/110=1.364, 170/120=1.417, 160/110=1.4545,
    // 150/100=1.5, 170/110=1.545, 160/100=1.6, 170/100=1.7. On logs the differences keep
    // that order, so HL = 160/110 - 1 = +45.45% and the 90% interval (k = 1) is
    // [150/120 - 1, 170/100 - 1] = [+25%, +70%].
    let ln = |v: [f64; 3]| v.map(f64::ln);
    let s = shift(&ln([100.0, 110.0, 120.0]), &ln([150.0, 160.0, 170.0]));
    assert!((s.estimate.exp_m1() - (160.0 / 110.0 - 1.0)).abs() < 1e-12);
    assert!((s.lo.exp_m1() - 0.25).abs() < 1e-12);
    assert!((s.hi.exp_m1() - 0.70).abs() < 1e-12);
    assert!((s.confidence - 0.90).abs() < 1e-12);
    // The whole interval is beyond +10%: a regression (latency, up is bad); for
    // throughput (down is bad) the same interval is an improvement.
    assert_eq!(classify(0.25, 0.70, 0.10, true), Verdict::Regression);
    assert_eq!(classify(0.25, 0.70, 0.10, false), Verdict::Improvement);
    assert_eq!(classify(-0.05, 0.05, 0.10, true), Verdict::NoChange);
    assert_eq!(classify(0.05, 0.15, 0.10, true), Verdict::Inconclusive);
}

#[test]
fn coverage_stays_near_95_percent_for_large_samples() {
    // 60 vs 60 uses the normal approximation: still close to, and at least, 95%.
    let (k, confidence) = rank(60, 60);
    assert!(k > 1);
    assert!((0.95..0.96).contains(&confidence), "{confidence}");
}

// ---------------------------------------------------------------------------------------
// Comparisons of whole runs.

#[test]
fn a_run_compared_with_itself_has_no_regression() {
    let base = run("ci", &TRANSPORTS, 1.0, &BASE_JITTER);
    let c = compare(&base, &base, &default_opts()).unwrap();
    assert!(c.regressions().is_empty());
    // Jitter within 0.98..1.03: the widest interval is [0.98/1.03 - 1, 1.03/0.98 - 1] =
    // [-4.9%, +5.1%], within ±10%; exact values and zero counts give no change either.
    assert!(c.results.iter().all(|r| r.verdict == Verdict::NoChange));
    assert_eq!(c.results.len(), TRANSPORTS.len() * Metric::ALL.len());
    let p99 = result(&c, "sse", Metric::LatencyP99);
    assert_eq!(p99.change, Some(0.0));
    assert!((p99.confidence.unwrap() - 68.0 / 70.0).abs() < 1e-12);
}

#[test]
fn latency_50_percent_worse_is_a_regression_named_in_the_markdown() {
    let base = run("ci", &TRANSPORTS, 1.0, &BASE_JITTER);
    let new = run("ci", &TRANSPORTS, 1.5, &NEW_JITTER);
    let c = compare(&base, &new, &default_opts()).unwrap();
    // Lowest possible ratio: 1.5 × 0.97 / 1.03 = 1.41, far beyond 1.10, for all five
    // latency metrics of both transports; nothing else changed beyond 3% jitter.
    assert_eq!(c.regressions().len(), LATENCY.len() * TRANSPORTS.len());
    let md = c.markdown();
    assert!(md.lines().next().unwrap().contains("Regression"), "{md}");
    for t in TRANSPORTS {
        for m in LATENCY {
            let r = result(&c, t, m);
            assert_eq!(r.verdict, Verdict::Regression, "{t} {m:?}");
            let [lo, hi] = r.interval.unwrap();
            assert!(lo > 0.40 && hi < 0.60, "{lo} {hi}");
            assert!(
                md.contains(&format!("**{t} {}:", m.label())),
                "{t} {m:?} not named"
            );
        }
        assert_eq!(result(&c, t, Metric::Throughput).verdict, Verdict::NoChange);
    }
}

#[test]
fn one_lost_message_is_a_regression_whatever_the_threshold() {
    let base = run("ci", &TRANSPORTS, 1.0, &BASE_JITTER);
    let mut new = base.clone();
    set(&mut new, "websocket", 3, |r| r.messages_lost = 1);
    let opts = CompareOptions {
        thresholds: vec![parse_threshold("1000%").unwrap()],
        allow_different: false,
    };
    let c = compare(&base, &new, &opts).unwrap();
    let regressions = c.regressions();
    assert_eq!(regressions.len(), 1);
    assert_eq!(regressions[0].transport, "websocket");
    assert_eq!(regressions[0].metric, Metric::Lost);
    assert_eq!(regressions[0].change, Some(1.0));
    // The other way round it is an improvement, and a count the baseline shared is not
    // judged.
    let back = compare(&new, &base, &opts).unwrap();
    assert!(back.regressions().is_empty());
    assert_eq!(
        result(&back, "websocket", Metric::Lost).verdict,
        Verdict::Improvement
    );
    let both = compare(&new, &new, &opts).unwrap();
    assert!(both.regressions().is_empty());
}

#[test]
fn errors_out_of_order_and_duplicates_count_too() {
    let base = run("ci", &TRANSPORTS, 1.0, &BASE_JITTER);
    let mut new = base.clone();
    set(&mut new, "sse", 1, |r| r.errors = 2);
    set(&mut new, "sse", 2, |r| r.messages_out_of_order = 1);
    set(&mut new, "websocket", 4, |r| r.messages_duplicated = 5);
    let c = compare(&base, &new, &default_opts()).unwrap();
    let mut got: Vec<(String, Metric)> = c
        .regressions()
        .iter()
        .map(|r| (r.transport.clone(), r.metric))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("sse".to_string(), Metric::OutOfOrder),
            ("sse".to_string(), Metric::Errors),
            ("websocket".to_string(), Metric::Duplicated),
        ]
    );
}

#[test]
fn throughput_down_is_a_regression_latency_down_an_improvement() {
    let base = run("ci", &TRANSPORTS, 1.0, &BASE_JITTER);
    let mut new = run("ci", &TRANSPORTS, 0.5, &NEW_JITTER);
    for rep in 1..=4 {
        set(&mut new, "sse", rep, |r| r.messages_delivered = 7_000);
    }
    let c = compare(&base, &new, &default_opts()).unwrap();
    let tp = result(&c, "sse", Metric::Throughput);
    // 7000/7 against 14000/7 in every repetition: exactly -50%.
    assert_eq!(tp.verdict, Verdict::Regression);
    assert!((tp.change.unwrap() + 0.5).abs() < 1e-12);
    // Latency halved: highest ratio 0.5 × 1.02 / 0.98 = 0.52, beyond -10%.
    assert_eq!(
        result(&c, "websocket", Metric::LatencyP99).verdict,
        Verdict::Improvement
    );
    // Same deliveries for half the CPU? No: CPU per message doubled for sse.
    assert_eq!(
        result(&c, "sse", Metric::ServerCpu).verdict,
        Verdict::Regression
    );
}

#[test]
fn bytes_per_message_has_a_1_percent_default() {
    let base = run("ci", &TRANSPORTS, 1.0, &BASE_JITTER);
    let mut new = base.clone();
    for rep in 1..=4 {
        // 183.59 → 186.0: +1.3%, exact in every repetition.
        set(&mut new, "sse", rep, |r| r.bytes_per_message = 186.0);
    }
    let c = compare(&base, &new, &default_opts()).unwrap();
    assert_eq!(
        result(&c, "sse", Metric::BytesPerMessage).verdict,
        Verdict::Regression
    );
    // A general threshold does not loosen bytes; a specific one does.
    let loose = |t: &str| CompareOptions {
        thresholds: vec![parse_threshold(t).unwrap()],
        allow_different: false,
    };
    let c = compare(&base, &new, &loose("50%")).unwrap();
    assert_eq!(c.regressions().len(), 1);
    let c = compare(&base, &new, &loose("bytes=2%")).unwrap();
    assert!(c.regressions().is_empty());
}

#[test]
fn one_repetition_is_judged_without_an_interval() {
    let base = run("ci", &TRANSPORTS, 1.0, &[1.0]);
    let new = run("ci", &TRANSPORTS, 1.2, &[1.0]);
    let c = compare(&base, &new, &default_opts()).unwrap();
    let p50 = result(&c, "sse", Metric::LatencyP50);
    // 1200 µs → 1440 µs: +20% > 10%.
    assert_eq!(p50.verdict, Verdict::Regression);
    assert_eq!(p50.interval, None);
    assert!((p50.change.unwrap() - 0.2).abs() < 1e-12);
    assert!(
        c.markdown()
            .contains("no confidence interval (1 repetition)")
    );
    assert!(c.notes.iter().any(|n| n.contains("single repetition")));
}

#[test]
fn a_transport_run_by_another_client_is_noted() {
    let base = run("ci", &TRANSPORTS, 1.0, &[1.0, 1.03, 0.98]);
    let mut new = base.clone();
    for rep in 1..=3 {
        set(&mut new, "sse", rep, |r| {
            r.client = pushbench_model::ClientKind::Browser
        });
    }
    let c = compare(&base, &new, &default_opts()).unwrap();
    let noted: Vec<&String> = c
        .notes
        .iter()
        .filter(|n| n.contains("clients in the"))
        .collect();
    assert_eq!(
        noted,
        [
            "`sse` ran rust clients in the baseline and browser clients in the candidate: its changes are the client's as much as the server's."
        ]
    );
    assert!(
        !compare(&base, &base, &default_opts())
            .unwrap()
            .notes
            .iter()
            .any(|n| n.contains("clients in the"))
    );
}

#[test]
fn three_repetitions_are_compared_at_90_percent_with_a_note() {
    // 3 vs 3: the widest interval has 1 - 2/20 = 90% confidence (see above).
    let base = run("ci", &TRANSPORTS, 1.0, &[1.0, 1.03, 0.98]);
    let c = compare(&base, &base, &default_opts()).unwrap();
    assert!(c.regressions().is_empty());
    assert_eq!(result(&c, "sse", Metric::LatencyP99).confidence, Some(0.9));
    assert_eq!(c.notes.len(), 1);
    assert!(c.notes[0].contains("3 baseline against 3 candidate"));
    assert!(c.notes[0].contains("90.0%"));
}

#[test]
fn a_transport_that_delivered_nothing_regresses_in_throughput_not_improves_in_latency() {
    let base = run("ci", &TRANSPORTS, 1.0, &BASE_JITTER);
    let mut new = base.clone();
    for rep in 1..=4 {
        set(&mut new, "sse", rep, |r| {
            r.messages_delivered = 0;
            r.latency_p50_us = 0.0;
            r.bytes_per_message = 0.0;
        });
    }
    let c = compare(&base, &new, &default_opts()).unwrap();
    assert_eq!(
        result(&c, "sse", Metric::Throughput).verdict,
        Verdict::Regression
    );
    for m in [
        Metric::LatencyP50,
        Metric::BytesPerMessage,
        Metric::ServerCpu,
    ] {
        let r = result(&c, "sse", m);
        assert_eq!(r.verdict, Verdict::NotComparable, "{m:?}");
        assert!(r.candidate.values.is_empty());
    }
}

#[test]
fn zero_values_fall_back_to_differences() {
    let base = run("ci", &TRANSPORTS, 1.0, &BASE_JITTER);
    let mut new = base.clone();
    let mut zero = base.clone();
    for rep in 1..=4 {
        set(&mut zero, "sse", rep, |r| r.server_cpu_s = 0.0);
        set(&mut new, "sse", rep, |r| r.server_cpu_s = 0.0);
    }
    // Zero against zero: no change.
    let c = compare(&zero, &new, &default_opts()).unwrap();
    assert_eq!(
        result(&c, "sse", Metric::ServerCpu).verdict,
        Verdict::NoChange
    );
    // From zero to something: no relative change exists.
    let c = compare(&zero, &base, &default_opts()).unwrap();
    assert_eq!(
        result(&c, "sse", Metric::ServerCpu).verdict,
        Verdict::NotComparable
    );
    // Zeros among positive values: compared as differences, relative to the baseline
    // median. With c = 0.329 s / 14 (CPU ms per 1k messages at jitter 1), the baseline is
    // c × [1.00, 1.03, 0.98, 1.02] (median 1.01c) and the candidate [c, 0, 0, 0]: the
    // differences run from 0 - 1.03c to c - 0.98c = 0.02c, so the 97.1% interval is
    // [-1.03/1.01, 0.02/1.01] = [-102%, +2%]: it straddles -10%, inconclusive.
    set(&mut new, "sse", 1, |r| r.server_cpu_s = 0.329);
    let c = compare(&base, &new, &default_opts()).unwrap();
    let cpu = result(&c, "sse", Metric::ServerCpu);
    assert_eq!(cpu.method, Method::Difference);
    assert_eq!(cpu.verdict, Verdict::Inconclusive);
    let [lo, hi] = cpu.interval.unwrap();
    assert!((lo + 1.03 / 1.01).abs() < 1e-9 && (hi - 0.02 / 1.01).abs() < 1e-9);
}

#[test]
fn different_scenarios_are_refused_unless_allowed() {
    let base = run("ci", &TRANSPORTS, 1.0, &BASE_JITTER);
    let new = run("smoke", &TRANSPORTS, 1.0, &NEW_JITTER);
    match compare(&base, &new, &default_opts()) {
        Err(CompareError::DifferentScenario { base, new }) => {
            assert_eq!((base.as_str(), new.as_str()), ("ci", "smoke"));
        }
        other => panic!("expected DifferentScenario, got {other:?}"),
    }
    let allow = CompareOptions {
        thresholds: Vec::new(),
        allow_different: true,
    };
    let c = compare(&base, &new, &allow).unwrap();
    assert!(c.regressions().is_empty());
    assert!(c.notes.iter().any(|n| n.contains("different scenarios")));
}

#[test]
fn different_transports_are_refused_unless_allowed() {
    let base = run("ci", &TRANSPORTS, 1.0, &BASE_JITTER);
    let new = run("ci", &["sse", "poll"], 1.0, &NEW_JITTER);
    let err = compare(&base, &new, &default_opts()).unwrap_err();
    assert!(matches!(
        &err,
        CompareError::DifferentTransports { only_base, only_new }
            if only_base == &["websocket"] && only_new == &["poll"]
    ));
    assert!(!err.to_string().contains('\n'));
    let allow = CompareOptions {
        thresholds: Vec::new(),
        allow_different: true,
    };
    let c = compare(&base, &new, &allow).unwrap();
    assert_eq!(c.transports, ["sse"]);
    assert_eq!(
        c.skipped,
        [
            "websocket (only in the baseline)",
            "poll (only in the candidate)"
        ]
    );
    let other = run("ci", &["poll"], 1.0, &NEW_JITTER);
    assert!(matches!(
        compare(&base, &other, &allow),
        Err(CompareError::NoCommonTransports { .. })
    ));
    let empty = run("ci", &[], 1.0, &NEW_JITTER);
    assert!(matches!(
        compare(&base, &empty, &allow),
        Err(CompareError::NoData {
            which: "candidate",
            ..
        })
    ));
}

// ---------------------------------------------------------------------------------------
// Thresholds.

#[test]
fn thresholds_parse() {
    let t = |s: &str| parse_threshold(s).unwrap();
    assert_eq!(
        t("10%"),
        Threshold {
            metric: None,
            fraction: 0.10
        }
    );
    assert_eq!(
        t("p99=15%"),
        Threshold {
            metric: Some("latency_p99_us".into()),
            fraction: 0.15
        }
    );
    assert_eq!(
        t("bytes_per_message=1%"),
        Threshold {
            metric: Some("bytes_per_message".into()),
            fraction: 0.01
        }
    );
    assert_eq!(
        t(" P99.9 = 2.5% ").metric.as_deref(),
        Some("latency_p999_us")
    );
    assert_eq!(t("p999=0%").fraction, 0.0);
    for (alias, key) in [
        ("p50", "latency_p50_us"),
        ("p90", "latency_p90_us"),
        ("mean", "latency_mean_us"),
        ("throughput", "messages_delivered_per_s"),
        ("bytes", "bytes_per_message"),
        ("cpu", "server_cpu_s_per_1k_messages"),
        ("server_rss", "server_peak_rss_bytes"),
        ("loadgen_rss", "loadgen_peak_rss_bytes"),
        ("latency_p90_us", "latency_p90_us"),
    ] {
        assert_eq!(t(&format!("{alias}=5%")).metric.as_deref(), Some(key));
    }
}

#[test]
fn bad_thresholds_say_what_is_wrong_in_one_line() {
    for (given, says) in [
        ("10", "not a percentage"),
        ("ten%", "not a percentage"),
        ("-5%", "zero or more"),
        ("p98=10%", "unknown metric `p98`"),
        ("=10%", "unknown metric ``"),
        ("lost=5%", "correctness count"),
        ("messages_lost=5%", "correctness count"),
        ("p99=", "not a percentage"),
    ] {
        let err = parse_threshold(given).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, CompareError::BadThreshold { .. }));
        assert!(text.contains(&format!("`{given}`")), "{text}");
        assert!(text.contains(says), "{given}: {text}");
        assert!(!text.contains('\n'));
    }
    let text = parse_threshold("p98=10%").unwrap_err().to_string();
    for name in [
        "p50",
        "p999",
        "loadgen_rss",
        "latency_p50_us",
        "bytes_per_message",
    ] {
        assert!(text.contains(name), "{text}");
    }
}

#[test]
fn specific_thresholds_override_the_general_one() {
    let ts = [
        parse_threshold("50%").unwrap(),
        parse_threshold("p99=5%").unwrap(),
    ];
    assert_eq!(threshold_for(Metric::LatencyP99, &ts), Some(0.05));
    assert_eq!(threshold_for(Metric::LatencyP50, &ts), Some(0.50));
    assert_eq!(threshold_for(Metric::BytesPerMessage, &ts), Some(0.01));
    assert_eq!(threshold_for(Metric::Lost, &ts), None);
    assert_eq!(threshold_for(Metric::ServerRss, &[]), Some(0.10));
}

// ---------------------------------------------------------------------------------------
// Output formats.

#[test]
fn markdown_and_json_carry_the_verdict() {
    let base = run("ci", &TRANSPORTS, 1.0, &BASE_JITTER);
    let worse = run("ci", &TRANSPORTS, 1.5, &NEW_JITTER);
    let pass = compare(&base, &base, &default_opts()).unwrap();
    let fail = compare(&base, &worse, &default_opts()).unwrap();

    let md = pass.markdown();
    assert!(md.lines().next().unwrap().contains("No regression"));
    assert!(md.contains('▲') || md.contains('=') || md.contains('▼'));
    assert!(md.contains("Legend:"));
    // A row per transport and metric.
    let rows = md.lines().filter(|l| l.starts_with("| sse |")).count();
    assert_eq!(rows, Metric::ALL.len());
    assert!(fail.markdown().contains('▲'));

    let json: serde_json::Value = serde_json::from_str(&pass.json()).unwrap();
    assert_eq!(json["verdict"], "pass");
    assert_eq!(json["regressions"], 0);
    let json: serde_json::Value = serde_json::from_str(&fail.json()).unwrap();
    assert_eq!(json["verdict"], "regression");
    assert_eq!(json["regressions"], 10);
    let first = &json["results"][0];
    assert_eq!(first["transport"], "sse");
    assert_eq!(first["metric"], "latency_p50_us");
    assert_eq!(first["verdict"], "regression");
    assert_eq!(first["method"], "log_ratio");
    assert_eq!(first["baseline"]["values"].as_array().unwrap().len(), 4);
    assert_eq!(Format::Json.render(&fail), fail.json());
    assert_eq!(Format::Markdown.render(&fail), fail.markdown());
}

#[test]
fn html_is_self_contained_with_one_overlay_per_transport() {
    let base = run("ci", &TRANSPORTS, 1.0, &BASE_JITTER);
    let new = run("ci", &TRANSPORTS, 1.5, &NEW_JITTER);
    let c = compare(&base, &new, &default_opts()).unwrap();
    let html = c.html(&base, &new).unwrap();
    assert!(!html.to_ascii_lowercase().contains("<script"));
    assert_eq!(html.matches("<svg").count(), TRANSPORTS.len());
    assert!(!html.contains("href=") && !html.contains("src="));
    assert!(html.contains("Regression"));
    // Each transport: 4 solid candidate lines (one polyline through all 22 percentiles
    // each) and 4 dashed baseline lines (plotters draws each dash as a short polyline of its
    // own), all in the transport's colour, and a legend naming both runs' repetitions.
    for (t, section) in TRANSPORTS.iter().zip(html.split("<section").skip(1)) {
        let color = crate::charts::css_color(&new, t).to_ascii_uppercase();
        let stroke = format!("stroke=\"{color}\" stroke-width=\"2\" points=\"");
        let lines: Vec<usize> = section
            .split(&stroke)
            .skip(1)
            .map(|rest| rest[..rest.find('"').unwrap()].split_whitespace().count())
            .collect();
        let solid = lines.iter().filter(|&&n| n == PERCENTILES.len()).count();
        let dashes = lines.iter().filter(|&&n| n < PERCENTILES.len()).count();
        assert_eq!(solid, 4, "{t}: candidate lines");
        assert!(dashes >= 4 * 4, "{t}: {dashes} dashes for 4 baseline lines");
        assert!(section.contains("baseline (4 repetitions)"), "{t}");
        assert!(section.contains("candidate (4 repetitions)"), "{t}");
    }
    // The SVGs are well-formed XML.
    for chunk in html.split("<svg").skip(1) {
        let end = chunk.find("</svg>").unwrap();
        let svg = format!("<svg{}</svg>", &chunk[..end]);
        roxmltree::Document::parse(&svg).unwrap();
    }
}

// ---------------------------------------------------------------------------------------
// Sweeps: a transport at each point is its own group.

/// `run`, with every phase repeated at each of `points` clients.
fn sweep_run(points: &[f64], jitter: &[f64]) -> RunData {
    let plain = run("sweep", &TRANSPORTS, 1.0, jitter);
    let mut data = RunData {
        summary: Vec::new(),
        latency: BTreeMap::new(),
        ..plain.clone()
    };
    for &value in points {
        let at = Some(pushbench_model::SweepPoint {
            dimension: pushbench_model::SweepDimension::Clients,
            value,
        });
        for r in &plain.summary {
            data.summary.push(SummaryRow {
                sweep_dimension: at.map(|p| p.dimension),
                sweep_value: at.map(|p| p.value),
                ..r.clone()
            });
        }
        for (k, v) in &plain.latency {
            let key = PhaseKey::new(k.transport.clone(), at, k.repetition);
            data.latency.insert(key, v.clone());
        }
    }
    data
}

#[test]
fn a_sweep_is_compared_point_by_point() {
    let base = sweep_run(&[100.0, 1000.0], &BASE_JITTER);
    let c = compare(&base, &base, &default_opts()).unwrap();
    assert_eq!(
        c.transports,
        [
            "sse clients=100",
            "sse clients=1000",
            "websocket clients=100",
            "websocket clients=1000"
        ]
    );
    assert_eq!(c.results.len(), 4 * Metric::ALL.len());
    assert!(c.regressions().is_empty());
    // Every group was judged from its own 4 repetitions, not from 8 pooled over points.
    assert!(c.results.iter().all(|r| r.baseline.values.len() == 4));

    // p99 50% worse at 1,000 clients only: a regression there, named with its point.
    let mut new = sweep_run(&[100.0, 1000.0], &NEW_JITTER);
    for r in &mut new.summary {
        if r.sweep().is_some_and(|p| p.value == 1000.0) {
            r.latency_p99_us *= 1.5;
        }
    }
    let c = compare(&base, &new, &default_opts()).unwrap();
    let regressed: Vec<String> = c
        .regressions()
        .iter()
        .map(|r| format!("{} {}", r.group(), r.metric.key()))
        .collect();
    assert_eq!(
        regressed,
        [
            "sse clients=1000 latency_p99_us",
            "websocket clients=1000 latency_p99_us"
        ]
    );
    assert!(c.markdown().contains("sse clients=1000"));
    let json: serde_json::Value = serde_json::from_str(&c.json()).unwrap();
    let first = &json["results"][0];
    assert_eq!(first["sweep"]["dimension"], "clients");
    assert_eq!(first["sweep"]["value"], 100.0);
    let page = c.html(&base, &new).unwrap();
    assert!(
        page.contains("id=\"sse-clients1000\""),
        "one section per group"
    );

    // A point only one run has is a different set of transports.
    let more = sweep_run(&[100.0, 1000.0, 5000.0], &NEW_JITTER);
    match compare(&base, &more, &default_opts()) {
        Err(e @ CompareError::DifferentTransports { .. }) => {
            assert!(e.to_string().contains("sse clients=5000"), "{e}")
        }
        other => panic!("{other:?}"),
    }
    let opts = CompareOptions {
        allow_different: true,
        ..default_opts()
    };
    let c = compare(&base, &more, &opts).unwrap();
    assert_eq!(c.transports.len(), 4);
    assert_eq!(c.skipped.len(), 2);
}

#[test]
fn without_a_sweep_json_has_no_sweep_key() {
    let base = run("ci", &TRANSPORTS, 1.0, &BASE_JITTER);
    let c = compare(&base, &base, &default_opts()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&c.json()).unwrap();
    assert!(json["results"][0].get("sweep").is_none());
    assert_eq!(c.transports, ["sse", "websocket"]);
}

// ---------------------------------------------------------------------------------------
// Paired runs: the two sides of one run, compared pair by pair.

/// Six repetitions, the baseline's spread by machine speed over a factor of 32 (a slow
/// minute, a noisy neighbour, a drifting clock: whatever hit the machine hit both sides
/// of a pair alike).
const SPREAD: [f64; 6] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0];

/// A paired run whose sides are `base` and `new`.
fn paired_run(base: RunData, new: RunData) -> PairedRun {
    use pushbench_model::paired::{PairedMeta, PairedPhase, ServerSource, Side};
    let mut order = Vec::new();
    for r in &base.summary {
        for side in Side::order(r.repetition) {
            order.push(PairedPhase {
                slot: order.len() as u32 + 1,
                side,
                transport: r.transport.clone(),
                repetition: r.repetition,
                sweep: None,
            });
        }
    }
    PairedRun {
        dir: "runs/paired".into(),
        meta: PairedMeta {
            baseline: ServerSource::Bin {
                path: "/tmp/base/pushbench".into(),
            },
            candidate: ServerSource::Bin {
                path: "/tmp/head/pushbench".into(),
            },
            order,
        },
        baseline: base,
        candidate: new,
    }
}

/// Powers of 1.1: ratio `1.1^k` in pair `i` for `k = EXPONENTS[i]`.
const EXPONENTS: [i32; 6] = [3, 5, 2, 4, 2, 3];

/// A run of `SPREAD` whose sse p50 is `100 µs × SPREAD[i] × 1.1^exponents[i]`.
fn spread_run(exponents: [i32; 6]) -> RunData {
    let mut run = run("ci", &TRANSPORTS, 1.0, &[1.0; 6]);
    for (i, (s, k)) in SPREAD.iter().zip(exponents).enumerate() {
        set(&mut run, "sse", i as u32 + 1, |r| {
            r.latency_p50_us = 100.0 * s * 1.1f64.powi(k)
        });
    }
    run
}

#[test]
fn paired_log_ratio_interval_by_hand() {
    // In pair i the candidate is the baseline times 1.1^k, k = 3, 5, 2, 4, 2, 3. On logs
    // the differences are k · ln 1.1, and a Walsh average (d_i + d_j)/2 is
    // ((k_i + k_j)/2) · ln 1.1. The 21 values of (k_i + k_j)/2, i <= j, for k sorted
    // 2, 2, 3, 3, 4, 5: 2 (3 times: 2, 2, (2+2)/2), 2.5 (4: 2 with 3, twice each),
    // 3 (5: 3, 3, (3+3)/2, (2+4)/2 twice), 3.5 (4: (2+5)/2 twice, (3+4)/2 twice),
    // 4 (3: 4, (3+5)/2 twice), 4.5 (1), 5 (1). The 11th is 3: the estimate is
    // 1.1^3 - 1 = +33.1%. With 6 pairs k = 1: the interval runs from the smallest to the
    // largest Walsh average, 1.1^2 - 1 = +21% to 1.1^5 - 1 = +61.051%, at 1 - 2/64 = 96.9%.
    let base = spread_run([0; 6]);
    let new = spread_run(EXPONENTS);
    let run = paired_run(base.clone(), new.clone());
    let c = compare_paired(&run, &default_opts()).unwrap();
    let p50 = result(&c, "sse", Metric::LatencyP50);
    assert_eq!(p50.method, Method::PairedLogRatio);
    assert!((p50.change.unwrap() - (1.1f64.powi(3) - 1.0)).abs() < 1e-12);
    let [lo, hi] = p50.interval.unwrap();
    assert!((lo - 0.21).abs() < 1e-12 && (hi - (1.1f64.powi(5) - 1.0)).abs() < 1e-12);
    assert!((p50.confidence.unwrap() - 62.0 / 64.0).abs() < 1e-12);
    // The whole interval lies beyond +10%: a regression, and the only one.
    assert_eq!(p50.verdict, Verdict::Regression);
    assert_eq!(c.regressions().len(), 1);

    // The same values as two independent runs: the smallest of the 36 ratios is
    // 100·1.1^2 / 3200 (-99.6%), the largest 3200·1.1^3 / 100: the machine's spread swamps
    // the change, and the interval straddles the threshold.
    let c = compare(&base, &new, &default_opts()).unwrap();
    let p50 = result(&c, "sse", Metric::LatencyP50);
    assert_eq!(p50.method, Method::LogRatio);
    assert_eq!(p50.verdict, Verdict::Inconclusive);
    assert!(c.regressions().is_empty());
}

#[test]
fn paired_shift_on_log_ratios_as_compare_takes_it() {
    // The statistics alone, on the logs of the values above: differences ln(n_i / b_i).
    let b: Vec<f64> = SPREAD.iter().map(|s| (100.0 * s).ln()).collect();
    let n: Vec<f64> = SPREAD
        .iter()
        .zip(EXPONENTS)
        .map(|(s, k)| (100.0 * s * 1.1f64.powi(k)).ln())
        .collect();
    let d: Vec<f64> = b.iter().zip(&n).map(|(x, y)| y - x).collect();
    let s = super::paired::shift(&d);
    assert!((s.estimate.exp_m1() - 0.331).abs() < 1e-12);
    assert!((s.lo.exp_m1() - 0.21).abs() < 1e-12);
    assert!((s.hi.exp_m1() - 0.61051).abs() < 1e-12);
}

#[test]
fn a_paired_run_with_equal_sides_has_no_regression() {
    let base = run("ci", &TRANSPORTS, 1.0, &[1.0, 1.03, 0.98, 1.02, 0.99, 1.01]);
    let c = compare_paired(&paired_run(base.clone(), base), &default_opts()).unwrap();
    assert!(c.regressions().is_empty());
    assert!(c.results.iter().all(|r| r.verdict == Verdict::NoChange));
    assert!(c.notes.is_empty(), "{:?}", c.notes);
    let p99 = result(&c, "sse", Metric::LatencyP99);
    assert_eq!(p99.method, Method::PairedLogRatio);
    assert!((p99.confidence.unwrap() - 62.0 / 64.0).abs() < 1e-12);
}

#[test]
fn a_paired_run_judges_correctness_counts_as_two_runs_do() {
    let base = run("ci", &TRANSPORTS, 1.0, &[1.0; 6]);
    let mut new = base.clone();
    set(&mut new, "websocket", 4, |r| r.messages_lost = 1);
    let c = compare_paired(&paired_run(base, new), &default_opts()).unwrap();
    let lost = result(&c, "websocket", Metric::Lost);
    assert_eq!(
        (lost.verdict, lost.method),
        (Verdict::Regression, Method::Count)
    );
    assert_eq!(c.regressions().len(), 1);
}

#[test]
fn paired_zeros_fall_back_to_differences_within_pairs() {
    // Server CPU c = 0.329 s per 14,000 messages in every baseline repetition; the
    // candidate has 0 in pair 1 and c in the others: differences -c, 0, 0, 0, 0, 0. The
    // Walsh averages are -c (once), -c/2 (5 times) and 0 (15 times): estimate (11th) 0,
    // interval [-c, 0] over the baseline median c: [-100%, 0%], straddling -10%.
    let base = run("ci", &TRANSPORTS, 1.0, &[1.0; 6]);
    let mut new = base.clone();
    set(&mut new, "sse", 1, |r| r.server_cpu_s = 0.0);
    let c = compare_paired(&paired_run(base, new), &default_opts()).unwrap();
    let cpu = result(&c, "sse", Metric::ServerCpu);
    assert_eq!(cpu.method, Method::PairedDifference);
    assert_eq!(cpu.change, Some(0.0));
    assert_eq!(cpu.interval, Some([-1.0, 0.0]));
    assert_eq!(cpu.verdict, Verdict::Inconclusive);
}

#[test]
fn only_repetitions_both_sides_have_are_paired() {
    // An interrupted run: the candidate lacks repetition 6. Five pairs remain, whose widest
    // interval has 1 - 2/32 = 93.75%.
    let base = run("ci", &TRANSPORTS, 1.0, &[1.0; 6]);
    let mut new = base.clone();
    new.summary.retain(|r| r.repetition != 6);
    let c = compare_paired(&paired_run(base, new), &default_opts()).unwrap();
    let p50 = result(&c, "sse", Metric::LatencyP50);
    assert_eq!(p50.baseline.values.len(), 6);
    assert_eq!(p50.candidate.values.len(), 5);
    assert!((p50.confidence.unwrap() - 30.0 / 32.0).abs() < 1e-12);
    assert!(
        c.notes
            .iter()
            .any(|n| n.starts_with("sse: the baseline has 6 repetitions and the candidate 5")),
        "{:?}",
        c.notes
    );
    assert!(
        c.notes
            .iter()
            .any(|n| n.contains("With 5 pairs") && n.contains("93.8%"))
    );
}

#[test]
fn a_paired_comparison_says_so_in_every_format() {
    let base = run("ci", &TRANSPORTS, 1.0, &[1.0; 6]);
    let new = run("ci", &TRANSPORTS, 1.5, &[1.0; 6]);
    let c = compare_paired(&paired_run(base.clone(), new.clone()), &default_opts()).unwrap();
    let md = c.markdown();
    // 2 transports × 6 pairs × 2 sides.
    assert!(md.contains("- Paired run `runs/paired`: 24 phases"), "{md}");
    assert!(md.contains("- Baseline: `runs/ci`, server `/tmp/base/pushbench serve`"));
    assert!(md.contains("Wilcoxon signed-rank") && !md.contains("Mann–Whitney"));
    let json: serde_json::Value = serde_json::from_str(&c.json()).unwrap();
    assert_eq!(json["paired"]["phases"], 24);
    assert_eq!(
        json["baseline"]["server"]["bin"]["path"],
        "/tmp/base/pushbench"
    );
    assert_eq!(json["results"][0]["method"], "paired_log_ratio");
    let html = c.html(&base, &new).unwrap();
    assert!(html.contains("Paired run runs/paired") && html.contains("Wilcoxon"));
    // Two runs say nothing of pairs.
    let c = compare(&base, &new, &default_opts()).unwrap();
    let json: serde_json::Value = serde_json::from_str(&c.json()).unwrap();
    assert!(json.get("paired").is_none() && json["baseline"].get("server").is_none());
    assert!(c.markdown().contains("Mann–Whitney"));
}

#[test]
fn six_pairs_are_the_fewest_for_a_95_percent_paired_interval() {
    // The widest interval of n pairs misses only when every difference has the same sign:
    // 2 of the 2^n sign patterns. 5 pairs: 1 - 2/32 = 93.75%; 6 pairs: 1 - 2/64 = 96.875%.
    assert_eq!(paired_confidence(5), 1.0 - 2.0 / 32.0);
    assert_eq!(paired_confidence(6), 1.0 - 2.0 / 64.0);
    assert_eq!(min_pairs(), 6);
}
