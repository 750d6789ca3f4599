//! `pushbench run` as a user runs it: the real binary, a child server on a free loopback
//! port, a tiny scenario, and the files it leaves behind.

mod common;

use std::path::Path;

use common::{compare, copy_dir, pushbench, rewrite_columns, run_with};
use pushbench_testkit::temp_dir;

/// `pushbench run SCENARIO --out OUT`, waited for.
fn run_into(scenario: &Path, out: &Path) -> std::process::Output {
    run_with(scenario, out, &[])
}

const TINY: &str = r#"
name = "tiny"
duration = "1s"
warmup = "200ms"
ramp_up = "100ms"
[workload]
rate = 20
payload_bytes = 8
[[transports]]
kind = "poll"
clients = 2
interval = "100ms"
[[transports]]
kind = "long-poll"
clients = 2
[[transports]]
kind = "stream"
clients = 2
[[transports]]
kind = "sse"
clients = 2
[[transports]]
kind = "websocket"
clients = 2
[[transports]]
kind = "raw"
clients = 2
"#;

fn csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>());
    let header = lines.next().expect("header");
    (header, lines.collect())
}

#[test]
fn run_writes_the_five_files_with_the_documented_columns() {
    let dir = temp_dir("run");
    let scenario = dir.join("tiny.toml");
    std::fs::write(&scenario, TINY).unwrap();
    let out = dir.join("out");
    let status = pushbench()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .arg("--quiet")
        .status()
        .unwrap();
    assert!(status.success(), "{status}");

    let (header, rows) = csv(&out.join("summary.csv"));
    let first = [
        "transport",
        "repetition",
        "clients",
        "duration_s",
        "messages_published",
        "messages_delivered",
        "messages_lost",
        "messages_duplicated",
        "messages_out_of_order",
        "latency_mean_us",
        "latency_p50_us",
        "latency_p90_us",
        "latency_p99_us",
        "latency_p999_us",
        "latency_max_us",
        "bytes_up",
        "bytes_down",
        "bytes_per_message",
        "setup_bytes",
        "bytes_total",
        "requests",
        "empty_responses",
        "connections_opened",
        "errors",
        "server_cpu_s",
        "server_peak_rss_bytes",
        "loadgen_cpu_s",
        "loadgen_peak_rss_bytes",
    ];
    assert_eq!(&header[..first.len()], &first);
    let names: Vec<&str> = rows.iter().map(|r| r[0].as_str()).collect();
    // The baseline first, wherever the scenario lists it.
    assert_eq!(
        names,
        ["raw", "poll", "long-poll", "stream", "sse", "websocket"]
    );
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    for r in &rows {
        assert!(
            r[col("messages_delivered")].parse::<u64>().unwrap() > 0,
            "{r:?}"
        );
        assert_eq!(r[col("errors")], "0", "{r:?}");
        assert_eq!(r[col("messages_lost")], "0", "{r:?}");
        assert!(
            r[col("server_cpu_s")].parse::<f64>().unwrap() > 0.0,
            "the child server's CPU is measured: {r:?}"
        );
        assert!(
            r[col("server_peak_rss_bytes")].parse::<u64>().unwrap() > 0,
            "{r:?}"
        );
        // Request round trips exist exactly for the transports that make requests.
        let rtt = |c: &str| r[col(c)].parse::<u64>().unwrap();
        let requests = rtt("requests");
        if requests > 0 {
            assert!(rtt("request_p50_us") > 0, "{r:?}");
            assert!(rtt("request_p50_us") <= rtt("request_p90_us"), "{r:?}");
            assert!(rtt("request_p99_us") <= rtt("request_max_us"), "{r:?}");
        } else {
            assert_eq!(rtt("request_max_us"), 0, "{r:?}");
        }
        assert_eq!(
            requests > 0,
            matches!(r[0].as_str(), "poll" | "long-poll"),
            "{r:?}"
        );
        // Every phase is judged; the child server reports its publisher's lag.
        assert!(
            ["ok", "overloaded", "loadgen-saturated"].contains(&r[col("verdict")].as_str()),
            "{r:?}"
        );
        assert!(
            rtt("publisher_lag_p50_us") <= rtt("publisher_lag_max_us"),
            "{r:?}"
        );
        // One host: latency is read on the shared clock, so none is negative and none
        // carries an offset's error.
        assert_eq!(rtt("negative_latencies"), 0, "{r:?}");
        assert_eq!(rtt("clock_error_us"), 0, "{r:?}");
    }

    // Every per-phase file ends with the phase's sweep point, empty without a sweep.
    assert_eq!(
        &header[header.len() - 2..],
        ["sweep_dimension", "sweep_value"]
    );
    assert!(rows.iter().all(|r| r[r.len() - 2..] == ["", ""]));
    let (header, rows) = csv(&out.join("latency_percentiles.csv"));
    assert_eq!(
        header,
        [
            "transport",
            "repetition",
            "percentile",
            "latency_us",
            "sweep_dimension",
            "sweep_value"
        ]
    );
    let ws: Vec<f64> = rows
        .iter()
        .filter(|r| r[0] == "websocket")
        .map(|r| r[2].parse().unwrap())
        .collect();
    assert!(
        ws.len() >= 20
            && ws.contains(&99.9)
            && ws.contains(&99.99)
            && ws[0] == 0.0
            && *ws.last().unwrap() == 100.0
    );

    let (header, rows) = csv(&out.join("timeseries.csv"));
    assert_eq!(
        &header[..9],
        [
            "transport",
            "repetition",
            "second",
            "messages_delivered",
            "bytes_up",
            "bytes_down",
            "latency_p50_us",
            "latency_p99_us",
            "connections"
        ]
    );
    assert!(rows.len() >= 5);
    let (header, _) = csv(&out.join("bandwidth_percentiles.csv"));
    assert_eq!(
        header,
        [
            "transport",
            "repetition",
            "percentile",
            "bytes_per_second",
            "sweep_dimension",
            "sweep_value"
        ]
    );
    assert!(
        !out.join("sweep.csv").exists(),
        "sweep.csv only for a sweep"
    );

    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("meta.json")).unwrap()).unwrap();
    assert_eq!(meta["completed"], true);
    assert_eq!(meta["scenario"]["name"], "tiny");
    assert!(meta["host"]["cores"].as_u64().unwrap() >= 1);
    assert!(meta["pushbench_version"].is_string());
    // The clock offset to the server, estimated at every phase's start: on one host zero
    // within its bound (the server reads the same clock between request and answer), the
    // bound under 1 ms, and not applied (the default on loopback).
    let clock = meta["clock"].as_array().expect("meta.json clock");
    let phases: Vec<&str> = clock
        .iter()
        .map(|p| p["transport"].as_str().unwrap())
        .collect();
    assert_eq!(phases, names);
    for p in clock {
        let [e] = p["estimates"].as_array().unwrap().as_slice() else {
            panic!("one estimate per phase: {p}");
        };
        let (offset, error) = (
            e["offset_ns"].as_i64().unwrap(),
            e["error_ns"].as_u64().unwrap(),
        );
        // Server and load generator read one clock: the estimate lies within its bound,
        // half the best round trip, which a loaded machine stretches to milliseconds (its
        // size on a quiet one: docs/distributed.md).
        assert!(error > 0 && offset.unsigned_abs() <= error, "{p}");
        assert_eq!(e["applied"], false, "{p}");
        assert_eq!(e["exchanges"], 16, "{p}");
    }

    check_charts_reports_and_logs(&out, &rows_by_column(&out));

    // `pushbench report` on a copy rebuilds the same reports from the files alone.
    let copy = dir.join("copy");
    copy_dir(&out, &copy);
    for f in ["report.html", "report.md"] {
        std::fs::remove_file(copy.join(f)).unwrap();
    }
    std::fs::remove_dir_all(copy.join("charts")).unwrap();
    let status = pushbench().arg("report").arg(&copy).status().unwrap();
    assert!(status.success());
    for f in [
        "report.html",
        "report.md",
        "charts/latency_percentiles.svg",
        "charts/timeseries.svg",
    ] {
        assert_eq!(
            std::fs::read_to_string(out.join(f)).unwrap(),
            std::fs::read_to_string(copy.join(f)).unwrap(),
            "{f} is reproduced"
        );
    }
    let not_a_run = pushbench().arg("report").arg(&dir).output().unwrap();
    assert_eq!(not_a_run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&not_a_run.stderr).contains("not a pushbench run directory"));

    check_compare(&dir, &out);

    // A second run into the same directory is refused: results are never overwritten.
    let again = pushbench()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .arg("--quiet")
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("non-empty"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Two transports at two client counts, written largest first: they run smallest first.
const SWEEP: &str = r#"
name = "tiny-sweep"
duration = "1s"
warmup = "200ms"
ramp_up = "100ms"
[workload]
rate = 20
payload_bytes = 8
[sweep]
clients = [3, 1]
[[transports]]
kind = "sse"
[[transports]]
kind = "websocket"
"#;

#[test]
fn a_sweep_runs_every_transport_at_every_point() {
    let dir = temp_dir("sweep");
    let scenario = dir.join("sweep.toml");
    std::fs::write(&scenario, SWEEP).unwrap();
    let out = dir.join("out");
    let run = run_into(&scenario, &out);
    assert!(run.status.success(), "{run:?}");
    // Points ascending, the transports inside each, every title naming its point.
    let stdout = String::from_utf8_lossy(&run.stdout);
    let titles: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with('[') && l.contains(": delivered"))
        .map(|l| l.split(':').next().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "[1/4] sse clients=1 rep 1",
            "[2/4] websocket clients=1 rep 1",
            "[3/4] sse clients=3 rep 1",
            "[4/4] websocket clients=3 rep 1"
        ],
        "{stdout}"
    );

    let (header, rows) = csv(&out.join("summary.csv"));
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let summary: Vec<(String, String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r[0].clone(),
                r[col("sweep_dimension")].clone(),
                r[col("sweep_value")].clone(),
                r[col("clients")].clone(),
            )
        })
        .collect();
    let expected: Vec<(String, String, String, String)> = [
        ("sse", "1"),
        ("websocket", "1"),
        ("sse", "3"),
        ("websocket", "3"),
    ]
    .iter()
    .map(|(t, n)| {
        (
            t.to_string(),
            "clients".into(),
            n.to_string(),
            n.to_string(),
        )
    })
    .collect();
    assert_eq!(summary, expected);

    // sweep.csv: one row per transport and point, with the summary's columns. With one
    // repetition, pooling changes nothing: every shared column equals the summary's.
    let (sweep_header, sweep_rows) = csv(&out.join("sweep.csv"));
    assert_eq!(
        &sweep_header[..4],
        ["transport", "sweep_dimension", "sweep_value", "repetitions"]
    );
    let scol = |name: &str| sweep_header.iter().position(|h| h == name).unwrap();
    let mut got: Vec<(String, String, String)> = sweep_rows
        .iter()
        .map(|r| {
            (
                r[0].clone(),
                r[scol("sweep_value")].clone(),
                r[scol("clients")].clone(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String, String)> = expected
        .iter()
        .map(|e| (e.0.clone(), e.2.clone(), e.3.clone()))
        .collect();
    want.sort();
    assert_eq!(got, want);
    for r in &sweep_rows {
        assert_eq!(r[scol("sweep_dimension")], "clients");
        assert_eq!(r[scol("repetitions")], "1");
        let phase = rows
            .iter()
            .find(|s| s[0] == r[0] && s[col("sweep_value")] == r[scol("sweep_value")])
            .unwrap();
        for c in [
            "messages_published",
            "messages_delivered",
            "messages_lost",
            "latency_p50_us",
            "latency_p99_us",
            "latency_max_us",
            "bytes_up",
            "bytes_down",
            "errors",
        ] {
            assert_eq!(r[scol(c)], phase[col(c)], "{c} of {r:?}");
        }
        assert!(r[scol("messages_delivered")].parse::<u64>().unwrap() > 0);
        assert_eq!(r[scol("messages_lost")], "0");
        assert_eq!(r[scol("errors")], "0");
        // The phase's log, named with its point, holds every message delivered.
        let log = format!("{}-clients{}-1.hlog", r[0], r[scol("sweep_value")]);
        let delivered: u64 = r[scol("messages_delivered")].parse().unwrap();
        assert_eq!(
            hlog_samples(&std::fs::read(out.join(&log)).unwrap()),
            delivered
        );
    }

    let sweep_charts = [
        "latency_vs_clients",
        "bytes_per_message_vs_clients",
        "server_cpu_vs_clients",
    ];
    for chart in sweep_charts {
        let svg = std::fs::read_to_string(out.join("charts").join(format!("{chart}.svg"))).unwrap();
        roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{chart}.svg is not XML: {e}"));
        for t in ["sse", "websocket"] {
            assert!(svg.contains(t), "{chart}.svg names {t}");
        }
        assert!(out.join("charts").join(format!("{chart}.png")).is_file());
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_eq!(
        html.matches("<svg").count(),
        8,
        "three sweep charts and five"
    );
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for chart in sweep_charts {
        assert!(
            html.contains(&format!("<figure id=\"{chart}\">")),
            "{chart}"
        );
        assert!(md.contains(&format!("](charts/{chart}.svg)")), "{chart}");
    }

    // `pushbench report` makes sweep.csv, the charts and the reports again from the files.
    let copy = dir.join("copy");
    copy_dir(&out, &copy);
    for f in ["report.html", "report.md", "sweep.csv"] {
        std::fs::remove_file(copy.join(f)).unwrap();
    }
    std::fs::remove_dir_all(copy.join("charts")).unwrap();
    let status = pushbench().arg("report").arg(&copy).status().unwrap();
    assert!(status.success());
    for f in ["report.html", "report.md", "sweep.csv"]
        .into_iter()
        .map(String::from)
        .chain(sweep_charts.iter().map(|c| format!("charts/{c}.svg")))
    {
        assert_eq!(
            std::fs::read_to_string(out.join(&f)).unwrap(),
            std::fs::read_to_string(copy.join(&f)).unwrap(),
            "{f} is reproduced"
        );
    }

    // Compared with itself, point by point.
    let (code, stdout, stderr) = compare(&[&out, &out], &[]);
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    for group in [
        "sse clients=1",
        "sse clients=3",
        "websocket clients=1",
        "websocket clients=3",
    ] {
        assert!(
            stdout.contains(&format!("| {group} |")),
            "{group}: {stdout}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_scenario_is_one_line_and_exit_code_2() {
    let dir = temp_dir("bad");
    let scenario = dir.join("bad.toml");
    std::fs::write(
        &scenario,
        TINY.replace("clients = 2\ninterval", "clients = 2\nintervall"),
    )
    .unwrap();
    let out = run_into(&scenario, &dir.join("out"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}:12: intervall: unknown field",
            scenario.display()
        )),
        "{stderr}"
    );
    assert!(
        !dir.join("out").exists(),
        "nothing is written for a scenario that does not parse"
    );

    // More clients than a process may hold descriptors: refused before anything runs,
    // saying how many fit (each process here may hold at most 20,000).
    std::fs::write(
        &scenario,
        TINY.replacen("clients = 2", "clients = 900000", 1),
    )
    .unwrap();
    let out = run_into(&scenario, &dir.join("out"));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("transports[0].clients") && stderr.contains("clients fit"),
        "{stderr}"
    );
    assert!(!dir.join("out").exists());

    let out = pushbench()
        .arg("run")
        .arg(&scenario)
        .arg("--server")
        .arg("http://192.0.2.1:80")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    // A sweep's errors name the sweep's line and key; every point must fit the descriptors.
    for (sweep, says) in [
        (
            "clients = []",
            ":10: sweep.clients: expected a non-empty array",
        ),
        (
            "clients = [1, 900000]",
            ":10: sweep.clients: 900000 clients need",
        ),
    ] {
        std::fs::write(&scenario, SWEEP.replace("clients = [3, 1]", sweep)).unwrap();
        let out = run_into(&scenario, &dir.join("out"));
        assert_eq!(out.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(stderr.contains(says), "{stderr}");
        assert!(!dir.join("out").exists());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// (transport, messages_delivered) per summary row.
fn rows_by_column(out: &Path) -> Vec<(String, u64)> {
    let (header, rows) = csv(&out.join("summary.csv"));
    let d = header
        .iter()
        .position(|h| h == "messages_delivered")
        .unwrap();
    rows.iter()
        .map(|r| (r[0].clone(), r[d].parse().unwrap()))
        .collect()
}

fn check_charts_reports_and_logs(out: &Path, phases: &[(String, u64)]) {
    const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a];
    for chart in [
        "latency_percentiles",
        "bytes_per_message",
        "timeseries",
        "server_cost",
        "bandwidth",
    ] {
        let svg = std::fs::read_to_string(out.join("charts").join(format!("{chart}.svg"))).unwrap();
        roxmltree::Document::parse(&svg).unwrap_or_else(|e| panic!("{chart}.svg is not XML: {e}"));
        for (t, _) in phases {
            assert!(svg.contains(t.as_str()), "{chart}.svg names {t}");
        }
        let png = std::fs::read(out.join("charts").join(format!("{chart}.png"))).unwrap();
        assert_eq!(png[..8], PNG_SIGNATURE, "{chart}.png");
        assert!(png.len() > 5_000, "{chart}.png has {} bytes", png.len());
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    // Self-contained and offline: no script, and nothing loaded from anywhere (the SVG
    // namespace URI is a name, not a fetch).
    assert!(!html.contains("<script"), "no script");
    for fetch in ["src=", "href=", "url(", "@import", "<link"] {
        assert!(!html.contains(fetch), "nothing fetched: found {fetch}");
    }
    assert_eq!(html.matches("<svg").count(), 5, "five inline charts");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("](charts/latency_percentiles.svg)"));
    // The others read against the raw stream.
    for page in [&html, &md] {
        assert!(
            page.contains("Per delivered message over the raw stream (raw, the baseline): poll +"),
            "{page}"
        );
    }
    for (t, delivered) in phases {
        assert!(html.contains(t.as_str()) && md.contains(t.as_str()));
        let log = std::fs::read(out.join(format!("{t}-1.hlog"))).unwrap();
        assert_eq!(
            hlog_samples(&log),
            *delivered,
            "{t}-1.hlog holds every delivered message"
        );
    }
}

/// Adds up the samples of every interval histogram in a V2 interval log.
fn hlog_samples(log: &[u8]) -> u64 {
    use base64::Engine as _;
    use hdrhistogram::serialization::Deserializer;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    let mut total = 0;
    let mut intervals = 0;
    for entry in IntervalLogIterator::new(log) {
        if let LogEntry::Interval(h) = entry.expect("well-formed log") {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(h.encoded_histogram())
                .unwrap();
            let hist: hdrhistogram::Histogram<u64> =
                Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
            total += hist.len();
            intervals += 1;
        }
    }
    assert!(intervals >= 1, "one interval per second of the window");
    total
}

fn check_compare(dir: &Path, run: &Path) {
    // The same run on both sides: nothing to report.
    let (code, stdout, _) = compare(&[run, run], &[]);
    assert_eq!(code, Some(0), "{stdout}");

    // Latencies 50% worse in the candidate: a regression, named by metric and transport.
    let slow = dir.join("slow");
    copy_dir(run, &slow);
    for col in [
        "latency_mean_us",
        "latency_p50_us",
        "latency_p90_us",
        "latency_p99_us",
        "latency_p999_us",
    ] {
        rewrite_columns(&slow, &[col], |v| v * 1.5);
    }
    let (code, stdout, _) = compare(&[run, &slow], &[]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("websocket") && stdout.contains("raw") && stdout.contains("p99"),
        "{stdout}"
    );
    let (code, json, _) = compare(&[run, &slow], &["--format", "json"]);
    assert_eq!(code, Some(1));
    serde_json::from_str::<serde_json::Value>(&json).expect("JSON output");
    let page = dir.join("compare.html");
    let (code, _, _) = compare(&[run, &slow], &["--html", page.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(std::fs::read_to_string(&page).unwrap().contains("<svg"));

    // One lost message is a regression whatever the threshold.
    let lossy = dir.join("lossy");
    copy_dir(run, &lossy);
    rewrite_columns(&lossy, &["messages_lost"], |v| v + 1.0);
    let (code, stdout, _) = compare(&[run, &lossy], &["--threshold", "1000%"]);
    assert_eq!(code, Some(1), "{stdout}");

    // Runs of different scenarios are not compared.
    let other = dir.join("other");
    copy_dir(run, &other);
    let meta = std::fs::read_to_string(other.join("meta.json"))
        .unwrap()
        .replace("\"name\": \"tiny\"", "\"name\": \"other\"");
    std::fs::write(other.join("meta.json"), meta).unwrap();
    let (code, _, stderr) = compare(&[run, &other], &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    let (code, _, _) = compare(&[run, &other], &["--allow-different"]);
    assert_eq!(code, Some(0));

    // A malformed threshold and a directory that is not a run are bad input.
    assert_eq!(compare(&[run, run], &["--threshold", "fast"]).0, Some(2));
    assert_eq!(compare(&[run, dir], &[]).0, Some(2));
}

/// One short SSE phase, for the `--pin` tests.
const ONE_PHASE: &str = r#"
name = "pin"
duration = "500ms"
warmup = "100ms"
ramp_up = "100ms"
[workload]
rate = 20
payload_bytes = 8
[[transports]]
kind = "sse"
clients = 2
"#;

/// The CPUs the kernel reports for a process, from `/proc/<pid>/status`.
fn cpus_of(status: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .expect("Cpus_allowed_list in /proc/*/status")
        .trim()
        .to_string()
}

#[test]
fn pin_splits_the_cpus_and_meta_json_says_how() {
    let own = cpus_of(&std::fs::read_to_string("/proc/self/status").unwrap());
    if !own.contains(['-', ',']) {
        eprintln!("skipped: this test process may use only CPU {own}");
        return;
    }
    let dir = temp_dir("pin");
    let scenario = dir.join("s.toml");
    std::fs::write(&scenario, ONE_PHASE).unwrap();
    let out = dir.join("out");
    let run = run_with(&scenario, &out, &["--quiet", "--pin"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("meta.json")).unwrap()).unwrap();
    let (server, loadgen) = (
        meta["cpu_pinning"]["server"].as_str().unwrap(),
        meta["cpu_pinning"]["loadgen"].as_str().unwrap(),
    );
    // Two halves of the CPUs this process may use: disjoint, non-empty, server first.
    assert!(!server.is_empty() && !loadgen.is_empty(), "{meta}");
    assert_ne!(server, loadgen);
    let first = |list: &str| -> u32 { list.split([',', '-']).next().unwrap().parse().unwrap() };
    assert!(first(server) < first(loadgen), "{meta}");
    assert!(
        std::fs::read_to_string(out.join("report.md"))
            .unwrap()
            .contains(&format!("server pinned to CPUs {server}")),
        "the report says where the processes ran"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn impossible_cpu_lists_are_refused_in_one_line() {
    let dir = temp_dir("pin-bad");
    let scenario = dir.join("s.toml");
    std::fs::write(&scenario, ONE_PHASE).unwrap();
    for (pin, says) in [
        ("0:0", "given to both"),
        ("0", "expected SERVER:LOADGEN"),
        ("0:1-", "expected a CPU list"),
        ("0:1000", "CPU 1000 is not available"),
    ] {
        let run = run_with(&scenario, &dir.join("out"), &["--quiet", "--pin", pin]);
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "--pin {pin}: {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("--pin") && stderr.contains(says),
            "{stderr}"
        );
        assert!(!dir.join("out").exists(), "nothing written for bad input");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
