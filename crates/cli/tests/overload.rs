//! Overload is a result (issue 17): a server that cannot keep up, made so on purpose with
//! `pushbench serve --publisher-max-rate`, is driven past its ceiling by the real binary.
//! The run completes, exits 0, and marks the phase `overloaded` with the publisher's lag;
//! a sweep past the ceiling keeps the points after it.
//!
//! Expected values from the schedule: a publisher held to N ticks per second against a
//! schedule of M > N publishes each tick at least 1/N after the one before, while the
//! schedule moves on by 1/M, so it falls behind by at least 1/N − 1/M per tick, and over a
//! window of W seconds by at least W·(1 − N/M) − 1/M (it may publish one tick more than
//! W·N in the window). How much further it falls on a busy machine only adds to that.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use pushbench_testkit::temp_dir;

fn pushbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pushbench"))
}

/// `pushbench serve` on a free loopback port with its publisher held to `max_rate` ticks
/// per second; killed when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(max_rate: &str) -> Server {
        let mut child = pushbench()
            .args(["serve", "--addr", "127.0.0.1:0", "--threads", "1"])
            .args(["--publisher-max-rate", max_rate])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let addr = line
            .trim()
            .strip_prefix("pushbench server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .parse()
            .unwrap();
        Server { child, addr }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The rows of a CSV file as maps from column to cell.
fn rows(path: &Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(l.split(',').map(str::to_string))
                .collect()
        })
        .collect()
}

fn run(scenario: &str, server: &Server, name: &str) -> (std::process::Output, std::path::PathBuf) {
    let dir = temp_dir(name);
    let path = dir.join("s.toml");
    std::fs::write(&path, scenario).unwrap();
    let out = dir.join("out");
    let output = pushbench()
        .arg("run")
        .arg(&path)
        .args(["--server", &server.url(), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    (output, out)
}

const WINDOW_S: f64 = 2.0;

#[test]
fn a_throttled_publisher_is_reported_overloaded_and_the_run_exits_zero() {
    // Schedule M = 40 per second, publisher held to N = 10.
    let (m, n) = (40.0, 10.0);
    let server = Server::start("10");
    let scenario = format!(
        "name = \"throttled\"\nduration = \"{WINDOW_S}s\"\nwarmup = \"300ms\"\nramp_up = \"100ms\"\n\
         [workload]\nrate = {m}\npayload_bytes = 16\n\
         [[transports]]\nkind = \"websocket\"\nclients = 2\n"
    );
    let (output, out) = run(&scenario, &server, "overload-throttled");
    assert!(output.status.success(), "{output:?}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("overloaded: websocket rep 1: publisher-lag"),
        "{stdout}"
    );
    let summary = rows(&out.join("summary.csv"));
    let r = &summary[0];
    assert_eq!(r["verdict"], "overloaded");
    assert!(
        r["overload_reasons"]
            .split(';')
            .any(|x| x == "publisher-lag"),
        "{r:?}"
    );
    let us = |c: &str| -> f64 { r[c].parse().unwrap_or_else(|_| panic!("{c}: {:?}", r[c])) };
    // At least W·(1 − N/M) − 1/M, less what the first reading of the window may take
    // after the window opens on a busy machine (allowed 200 ms, at the same 1 − N/M).
    let fell_at_least = ((WINDOW_S - 0.2) * (1.0 - n / m) - 1.0 / m) * 1e6;
    assert!(us("publisher_fell_behind_us") >= fell_at_least, "{r:?}");
    // Every tick after the first is at least 1/N − 1/M later than the one before it.
    assert!(
        us("publisher_lag_max_us") >= (1.0 / n - 1.0 / m) * 1e6,
        "{r:?}"
    );
    assert!(us("publisher_lag_p50_us") <= us("publisher_lag_p99_us"));
    assert!(us("publisher_lag_p99_us") <= us("publisher_lag_max_us"));
    // The queue right after a publication holds at least that message for each of the
    // two subscribers: 34 + 16 bytes each.
    assert!(us("server_peak_queued_bytes") >= 2.0 * 50.0, "{r:?}");
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("## Keeping up"), "{md}");
    assert!(md.contains("| overloaded | publisher-lag"), "{md}");
}

#[test]
fn a_sweep_past_the_ceiling_keeps_its_later_points() {
    // The ceiling is 10 ticks per second: 5 is below it, 40 and 60 past it.
    let server = Server::start("10");
    let scenario = "name = \"past-the-ceiling\"\nduration = \"1s\"\nwarmup = \"300ms\"\nramp_up = \"100ms\"\n\
         [workload]\npayload_bytes = 16\n[sweep]\nrate = [5, 40, 60]\n\
         [[transports]]\nkind = \"websocket\"\nclients = 2\n";
    let (output, out) = run(scenario, &server, "overload-sweep");
    assert!(output.status.success(), "{output:?}");
    let sweep = rows(&out.join("sweep.csv"));
    let at = |v: &str| {
        sweep
            .iter()
            .find(|r| r["sweep_value"] == v)
            .unwrap_or_else(|| panic!("no point {v} in {sweep:?}"))
    };
    for past in ["40", "60"] {
        let r = at(past);
        assert_eq!(r["verdict"], "overloaded", "{r:?}");
        assert!(r["overload_reasons"].contains("publisher-lag"), "{r:?}");
        assert!(
            r["messages_delivered"].parse::<f64>().unwrap() > 0.0,
            "{r:?}"
        );
    }
    // Below the ceiling a verdict is given too (ok on a quiet machine).
    assert!(!at("5")["verdict"].is_empty());
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("websocket: overloaded from rate=40"), "{md}");
}
