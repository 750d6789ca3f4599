//! Sharded runs as a user makes them: one scenario run by one process, and by three shard
//! processes (`pushbench run --shard I/3 --start-at T --server URL`) against one server and
//! merged (`pushbench merge`); the merged run must count what the single process counts, and
//! merge must refuse what is not one sharded run, in one line with exit code 2.
//!
//! The counts are compared exactly, so the scenario keeps every message clear of the
//! window's edges. At 2 messages per second the publisher ticks every 500 ms, counted from
//! the instant the load generator names as the schedule's start when it sets the workload
//! (`pushbench-start-ns`). The window opens 50 ms (the lead, in a single process; 1.05 s
//! in a shard run) plus the ramp-up and warm-up (950 ms) after the workload is set, a whole
//! number of periods, and closes a whole number of periods later: round timings like these
//! would put both edges on ticks, so the load generator names tick 0 half a period after
//! the workload's moment (`crates/loadgen/src/ticks.rs`), and each edge falls 250 ms from a
//! tick. A set-up slower than the lead (a loaded machine) moves the phase by whole periods,
//! so the window keeps that place. A message then crosses an edge only if its latency
//! takes 250 ms: far beyond anything loopback shows, even on a busy machine. The server's topic heads are read as of the edges
//! themselves (`pushbench-heads-at-ns`, docs/protocol.md), so however late a reading is
//! answered it counts the ticks due inside the window.

mod common;
use common::pushbench;
use pushbench_report::RunData;
use pushbench_testkit::temp_dir;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

const SCENARIO: &str = r#"
name = "sharded"
duration = "2s"
warmup = "850ms"
ramp_up = "100ms"
[workload]
rate = 2
payload_bytes = 8
topics = 2
[[transports]]
kind = "websocket"
clients = 7
[[transports]]
kind = "long-poll"
clients = 4
"#;

/// Messages each client is owed in the window: rate × duration.
const PER_CLIENT: u64 = 2 * 2;

/// Kills the server when the runs are done, or the test failed.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn serve() -> (Server, SocketAddr) {
    let mut child = pushbench()
        .args(["serve", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start pushbench serve");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let addr = ready
        .trim()
        .strip_prefix("pushbench server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {ready:?}"))
        .parse()
        .unwrap();
    (Server(child), addr)
}

/// The runs every test reads: one process, three shards, and the shards merged.
struct Runs {
    dir: PathBuf,
    single: PathBuf,
    shards: Vec<PathBuf>,
    merged: PathBuf,
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn runs() -> &'static Runs {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    RUNS.get_or_init(|| {
        let dir = temp_dir("shard");
        let scenario = dir.join("sharded.toml");
        std::fs::write(&scenario, SCENARIO).unwrap();
        let single = dir.join("single");
        let out = pushbench()
            .arg("run")
            .arg(&scenario)
            .arg("--out")
            .arg(&single)
            .arg("--quiet")
            .output()
            .unwrap();
        check(&out, "the single-process run");
        let (_server, addr) = serve();
        // Four seconds for three processes to start, on a busy machine too.
        let start = humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(4))
            .to_string();
        let shards: Vec<PathBuf> = (1..=3).map(|i| dir.join(format!("shard-{i}"))).collect();
        let children: Vec<Child> = shards
            .iter()
            .enumerate()
            .map(|(i, out)| {
                pushbench()
                    .arg("run")
                    .arg(&scenario)
                    .args(["--shard", &format!("{}/3", i + 1), "--start-at", &start])
                    .args(["--server", &format!("http://{addr}"), "--quiet"])
                    // As across machines: latency converted by each shard's estimated offset
                    // (on one host the default is the shared clock).
                    .args(["--clock-offset", "estimate", "--out"])
                    .arg(out)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        for (i, c) in children.into_iter().enumerate() {
            check(&c.wait_with_output().unwrap(), &format!("shard {}", i + 1));
        }
        let merged = dir.join("merged");
        let out = pushbench()
            .arg("merge")
            .args(&shards)
            .arg("--out")
            .arg(&merged)
            .output()
            .unwrap();
        check(&out, "merge");
        Runs {
            dir,
            single,
            shards,
            merged,
        }
    })
}

fn load(dir: &Path) -> RunData {
    RunData::load(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

#[test]
fn three_shards_merged_count_what_one_process_counts() {
    let r = runs();
    let (single, merged) = (load(&r.single), load(&r.merged));
    assert_eq!(single.summary.len(), 2);
    assert_eq!(merged.summary.len(), 2);
    for (a, b) in single.summary.iter().zip(&merged.summary) {
        let what = &a.transport;
        assert_eq!(a.transport, b.transport);
        assert_eq!(a.clients, b.clients, "{what}");
        // From first principles: every client is owed rate × duration messages, and gets them.
        let owed = u64::from(a.clients) * PER_CLIENT;
        for row in [a, b] {
            assert_eq!(row.messages_published, owed, "{what}: {row:?}");
            assert_eq!(row.messages_delivered, owed, "{what}: {row:?}");
            assert_eq!(
                (row.messages_lost, row.messages_duplicated, row.errors),
                (0, 0, 0),
                "{what}"
            );
        }
        // The same bytes: the same messages, with sequence numbers of one digit in both runs
        // (at most 8 ticks before a window's end), and request heads naming a server port of
        // five digits in both (Linux picks free ports from 32768 to 60999).
        assert_eq!(a.bytes_per_message, b.bytes_per_message, "{what}");
        assert_eq!(
            (a.bytes_up, a.bytes_down),
            (b.bytes_up, b.bytes_down),
            "{what}"
        );
        assert_eq!(a.requests, b.requests, "{what}");
        assert_eq!(a.connections_opened, b.connections_opened, "{what}");
        // The merge adds samples exactly (the next test); latency itself differs between two
        // runs by the machine's noise, which on a busy machine is large: every process here
        // runs at nice 19 (the test is run niced), and with both cores busy a niced process
        // waits many scheduler slices for a CPU, more often the more processes share it
        // (measured: a 15.8 ms median for three shards against 0.4 ms for one process, with
        // every count equal). So the medians are compared with the runs' own spread: they
        // may differ by no more than the wider of the two runs' p10-p90 ranges, plus 1 ms
        // for quiet runs, whose ranges are a few hundred µs. A shift beyond the noise (a
        // clock read wrongly, messages held back) fails it.
        let spread = |run: &RunData| {
            let rows = &run.latency[&pushbench_report::PhaseKey::of(a)];
            let at = |q: f64| rows.iter().find(|r| r.percentile == q).unwrap().value;
            at(90.0) - at(10.0)
        };
        let allowed = spread(&single).max(spread(&merged)) + 1_000.0;
        let (pa, pb) = (a.latency_p50_us, b.latency_p50_us);
        eprintln!(
            "{what}: p50 {pa} µs (one process) vs {pb} µs (three shards), allowed {allowed} µs"
        );
        assert!(
            (pa - pb).abs() <= allowed,
            "{what}: p50 {pa} µs vs {pb} µs, allowed {allowed} µs"
        );
        // No message may take the 250 ms that would carry it across a window edge: the
        // counts above rest on it.
        assert!(
            a.latency_max_us < 250_000.0 && b.latency_max_us < 250_000.0,
            "{what}"
        );
    }
    // RFC 6455: a 42-byte message (34-byte envelope, 8-byte payload) in a frame with a
    // 2-byte header, and nothing else in the window.
    assert_eq!(merged.summary[0].transport, "websocket");
    assert_eq!(merged.summary[0].bytes_per_message, 44.0);
}

#[test]
fn shards_run_their_share_and_the_merge_adds_them_exactly() {
    let r = runs();
    let shards: Vec<RunData> = r.shards.iter().map(|d| load(d)).collect();
    let merged = load(&r.merged);
    // 7 WebSocket clients over 3 shards: 3, 2, 2; 4 long pollers: 2, 1, 1.
    let clients: Vec<Vec<u32>> = shards
        .iter()
        .map(|s| s.summary.iter().map(|row| row.clients).collect())
        .collect();
    assert_eq!(clients, [[3, 2], [2, 1], [2, 1]]);
    for (k, m) in merged.summary.iter().enumerate() {
        let sum = |f: fn(&pushbench_model::rows::SummaryRow) -> u64| -> u64 {
            shards.iter().map(|s| f(&s.summary[k])).sum()
        };
        assert_eq!(m.messages_delivered, sum(|r| r.messages_delivered));
        assert_eq!(m.messages_published, sum(|r| r.messages_published));
        assert_eq!(m.bytes_total, sum(|r| r.bytes_total));
        assert_eq!(m.setup_bytes, sum(|r| r.setup_bytes));
        // The latency log of the merged phase is every shard's log added: the same
        // histogram, sample for sample.
        let name = format!("{}-1.hlog", m.transport);
        let mut union = pushbench_model::new_histogram();
        for d in &r.shards {
            union
                .add(pushbench_report::hlog::read(&d.join(&name)).unwrap())
                .unwrap();
        }
        let whole = pushbench_report::hlog::read(&r.merged.join(&name)).unwrap();
        assert_eq!(whole, union, "{name}");
        assert_eq!(whole.len(), m.messages_delivered, "{name}");
    }
    // The time series adds up second by second of the phase clock the shards share.
    assert_eq!(merged.timeseries.len(), 2);
    for (key, seconds) in &merged.timeseries {
        for (i, row) in seconds.iter().enumerate() {
            let of = |s: &RunData| s.timeseries[key][i].clone();
            let delivered: u64 = shards.iter().map(|s| of(s).messages_delivered).sum();
            let conns: u64 = shards.iter().map(|s| of(s).connections).sum();
            let bytes: u64 = shards.iter().map(|s| of(s).bytes_down).sum();
            assert_eq!(
                (row.messages_delivered, row.connections, row.bytes_down),
                (delivered, conns, bytes),
                "{row:?}"
            );
        }
    }
}

#[test]
fn merged_run_lists_its_shards_and_every_process() {
    let r = runs();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(r.merged.join("meta.json")).unwrap())
            .unwrap();
    let shards = meta["merged"]["shards"].as_array().expect("merged.shards");
    let indices: Vec<u64> = shards
        .iter()
        .map(|s| s["index"].as_u64().unwrap())
        .collect();
    assert_eq!(indices, [1, 2, 3]);
    assert_eq!(meta["completed"], true);
    assert!(meta.get("shard").is_none());
    // Every phase keeps every shard's clock offset, each zero within its bound on this host.
    let clock = meta["clock"].as_array().expect("merged clock");
    assert_eq!(clock.len(), 2);
    for phase in clock {
        let estimates = phase["estimates"].as_array().unwrap();
        let shards: Vec<u64> = estimates
            .iter()
            .map(|e| e["shard"].as_u64().unwrap())
            .collect();
        assert_eq!(shards, [1, 2, 3], "{phase}");
        for e in estimates {
            let (offset, error) = (
                e["offset_ns"].as_i64().unwrap(),
                e["error_ns"].as_u64().unwrap(),
            );
            // Server and load generator read one clock: the estimate lies within its bound,
            // half the best round trip, which a loaded machine stretches to milliseconds (its
            // size on a quiet one: docs/distributed.md).
            assert!(error > 0 && offset.unsigned_abs() <= error, "{e}");
            assert_eq!(e["applied"], true, "{e}");
        }
    }
    // The bound each phase's latencies carry is the largest of its shards', in whole µs
    // rounded up.
    let merged = load(&r.merged);
    for (row, phase) in merged.summary.iter().zip(clock) {
        let largest = phase["estimates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["error_ns"].as_u64().unwrap())
            .max()
            .unwrap();
        assert_eq!(row.clock_error_us, Some(largest.div_ceil(1000)), "{phase}");
    }
    let text = std::fs::read_to_string(r.merged.join("processes.csv")).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some(
            "transport,repetition,process,shard,host,cpu_s,peak_rss_bytes,connections,sweep_dimension,sweep_value"
        )
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // Per phase: the server, three load generators, their total.
    assert_eq!(rows.len(), 2 * 5);
    for phase in rows.chunks(5) {
        let who: Vec<(&str, &str)> = phase.iter().map(|r| (r[2], r[3])).collect();
        assert_eq!(
            who,
            [
                ("server", "1"),
                ("loadgen", "1"),
                ("loadgen", "2"),
                ("loadgen", "3"),
                ("loadgen", "total")
            ]
        );
        let rss = |r: &Vec<&str>| r[6].parse::<u64>().unwrap();
        let conns = |r: &Vec<&str>| r[7].parse::<u64>().unwrap();
        assert_eq!(rss(&phase[4]), phase[1..4].iter().map(rss).sum::<u64>());
        assert_eq!(conns(&phase[4]), phase[1..4].iter().map(conns).sum::<u64>());
        assert!(phase[1..4].iter().all(|r| rss(r) > 0));
    }
}

#[test]
fn report_and_compare_read_a_merged_run() {
    let r = runs();
    let out = pushbench().arg("report").arg(&r.merged).output().unwrap();
    check(&out, "report");
    let md = std::fs::read_to_string(r.merged.join("report.md")).unwrap();
    for section in ["\n## Clock\n", "\n## Processes\n"] {
        assert!(md.contains(section), "{section:?} in {md}");
    }
    let out = pushbench()
        .arg("compare")
        .arg(&r.single)
        .arg(&r.merged)
        .args(["--format", "json"])
        .output()
        .unwrap();
    // 0 or 1 (whether noise crossed a threshold is not this test's business), never 2.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("compare's JSON");
    assert!(json.is_object());
}

/// `pushbench merge ARGS... --out OUT`, expected to fail with exit 2 and one line
/// containing `expect`.
fn refused(args: &[&Path], out: &Path, expect: &str) {
    let o = pushbench()
        .arg("merge")
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(
        err.contains(expect),
        "{args:?}: expected {expect:?} in {err}"
    );
    assert!(!out.exists(), "nothing is written: {}", out.display());
}

/// A copy of shard `i`'s directory with its meta.json changed by `edit`.
fn altered(r: &Runs, i: usize, tag: &str, edit: impl Fn(&mut serde_json::Value)) -> PathBuf {
    let to = r.dir.join(format!("altered-{tag}"));
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir_all(&to).unwrap();
    for e in std::fs::read_dir(&r.shards[i]).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
    let path = to.join("meta.json");
    let mut meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    edit(&mut meta);
    std::fs::write(&path, serde_json::to_string(&meta).unwrap()).unwrap();
    to
}

#[test]
fn merge_refuses_what_is_not_one_sharded_run() {
    let r = runs();
    let out = r.dir.join("refused");
    let [s1, s2, s3] = [&r.shards[0], &r.shards[1], &r.shards[2]].map(|p| p.as_path());
    refused(&[s1, s2], &out, "shard(s) 3/3 missing");
    refused(&[s1, s2, s2, s3], &out, "shard 2/3 again");
    refused(&[s1, s2, &r.single], &out, "not a shard run");
    let other = altered(r, 2, "scenario", |m| m["scenario"]["name"] = "other".into());
    refused(&[s1, s2, &other], &out, "its scenario differs");
    let other = altered(r, 2, "version", |m| m["pushbench_version"] = "0.0.1".into());
    refused(&[s1, s2, &other], &out, "made by pushbench 0.0.1");
    let other = altered(r, 2, "start", |m| {
        let t = m["shard"]["start_at_unix_ns"].as_u64().unwrap();
        m["shard"]["start_at_unix_ns"] = (t + 1).into();
    });
    refused(
        &[s1, s2, &other],
        &out,
        "its start time (--start-at) differs",
    );
    let other = altered(r, 2, "plan", |m| {
        let t = m["shard"]["plan"][1]["slot_end_ns"].as_u64().unwrap();
        m["shard"]["plan"][1]["slot_end_ns"] = (t + 1).into();
    });
    refused(&[s1, s2, &other], &out, "its phase plan differs");
    let other = altered(r, 2, "count", |m| m["shard"]["shard"]["count"] = 4.into());
    refused(&[s1, s2, &other], &out, "its shard count differs");
    // An output directory that holds files is never written into.
    let o = pushbench()
        .arg("merge")
        .args([s1, s2, s3])
        .arg("--out")
        .arg(&r.shards[0])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert_eq!(String::from_utf8_lossy(&o.stderr).lines().count(), 1);
}

/// `pushbench run` with shard options that cannot work: exit 2, one line naming the option.
#[test]
fn bad_shard_options_are_refused_in_one_line() {
    let dir = temp_dir("shard-options");
    let scenario = dir.join("s.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let past =
        humantime::format_rfc3339_seconds(SystemTime::now() - Duration::from_secs(60)).to_string();
    let server = "http://127.0.0.1:9";
    let bin = env!("CARGO_BIN_EXE_pushbench");
    let paired = ["--baseline-bin", bin, "--candidate-bin", bin];
    let paired_shard = [&paired[..], &["--shard", "1/1", "--start-at", "+5"]].concat();
    let cases: [(&[&str], &str); 7] = [
        (&["--shard", "2/3"], "--shard: needs --start-at"),
        (&["--start-at", "+5"], "--start-at: only with --shard"),
        (
            &["--shard", "4/3", "--start-at", "+5"],
            "--shard: expected I/N",
        ),
        (
            &["--shard", "1/2", "--start-at", "soon"],
            "--start-at: expected an RFC 3339",
        ),
        (
            &["--shard", "2/3", "--start-at", "+5"],
            "--shard: with more than one shard, give every shard the same --server",
        ),
        (
            &["--shard", "1/1", "--start-at", &past],
            "ago when this shard was ready",
        ),
        (&paired_shard, "--shard: a paired run cannot be sharded"),
    ];
    for (i, (args, expect)) in cases.iter().enumerate() {
        let out = dir.join(format!("out-{i}"));
        let mut cmd = pushbench();
        cmd.arg("run")
            .arg(&scenario)
            .args(*args)
            .arg("--out")
            .arg(&out);
        if args.contains(&"--shard") && args.contains(&"1/2") {
            cmd.args(["--server", server]);
        }
        let o = cmd.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.contains(expect),
            "{args:?}: expected {expect:?} in {err}"
        );
    }
}
