//! A scenario with `client = "browser"` end to end, through the real binary: headless
//! Chromium runs the five transports with the browser's own APIs beside the load
//! generator's own clients, and the run writes the usual files with every message counted.
//!
//! Expected values come from first principles, not from the code under test: no loss, no
//! duplicate, no error; a WebSocket message costs its RFC 6455 frame (a 2-byte header for a
//! server frame of at most 125 bytes, unmasked); a stream message its HTTP/1.1 chunk
//! (`hex length CRLF`, the message and its newline, `CRLF`); the browser's request heads
//! are there and larger than the load generator's minimal ones (their exact size is the
//! browser's, so it is not fixed here).
//!
//! Without Chromium and chromedriver the test says so in one line and passes; with
//! `CI=true` it fails instead (`.ci/run` installs them).

mod common;

use common::{browser_installed, num, pushbench, summary};
use pushbench_testkit::temp_dir;
use std::collections::HashMap;
use std::path::PathBuf;

/// Two clients per transport: one page each. 20 messages a second for 2 s.
const SCENARIO: &str = r#"
name = "browser-clients"
duration = "2s"
warmup = "500ms"
ramp_up = "200ms"
[workload]
rate = 20
payload_bytes = 64
[[transports]]
kind = "poll"
clients = 2
interval = "200ms"
[[transports]]
kind = "poll"
clients = 2
interval = "200ms"
client = "browser"
[[transports]]
kind = "long-poll"
clients = 2
client = "browser"
[[transports]]
kind = "stream"
clients = 2
client = "browser"
[[transports]]
kind = "sse"
clients = 2
client = "browser"
[[transports]]
kind = "websocket"
clients = 2
[[transports]]
kind = "websocket"
clients = 2
client = "browser"
"#;

/// Messages per second the server publishes.
const RATE: f64 = 20.0;

/// Bytes of a message: the 34-byte envelope and the payload (`docs/protocol.md`).
const MESSAGE: u64 = 34 + 64;

/// Messages a phase may count on the other side of its window's edges. Delivered messages
/// are counted by when they arrive, published ones by when they were due: at each edge a
/// client may receive on the other side every tick due within its slowest delivery of the
/// edge (a tick is 50 ms apart; on a quiet machine latency is milliseconds, so one tick, but
/// a loaded one can hold a browser's messages for longer), and for a poll what one answer
/// batches (rate × interval = 4).
fn edge_slack(row: &HashMap<String, String>) -> u64 {
    let per_answer = if row["kind"] == "poll" { 4 } else { 1 };
    let period_us = (1e6 / RATE) as u64;
    let in_flight = num(row, "latency_max_us").div_ceil(period_us).max(1);
    2 * num(row, "clients") * (per_answer + in_flight)
}

/// Runs `scenario` with the real binary into a fresh directory named after `name`; that
/// directory's `out` and the run's pid. `None` (after one line) without Chromium.
fn run(name: &str, scenario: &str) -> Option<(PathBuf, u32)> {
    browser_installed()?;
    let dir = temp_dir(name);
    let file = dir.join("scenario.toml");
    std::fs::write(&file, scenario).unwrap();
    let out = dir.join("out");
    let child = pushbench()
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let run = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "run failed: {stderr}");
    Some((out, pid))
}

#[test]
fn a_scenario_of_browser_clients_runs_end_to_end_and_counts_every_message() {
    let Some((out, pid)) = run("browser-clients", SCENARIO) else {
        return;
    };
    for f in [
        "summary.csv",
        "meta.json",
        "report.html",
        "report.md",
        "timeseries.csv",
    ] {
        assert!(out.join(f).is_file(), "{f} missing");
    }
    for label in [
        "poll-browser",
        "long-poll-browser",
        "sse-browser",
        "websocket-browser",
    ] {
        assert!(
            out.join(format!("{label}-1.hlog")).is_file(),
            "{label}'s hlog"
        );
    }
    // Chromium's profile directories go with it.
    let tmp = std::env::temp_dir();
    let left = std::fs::read_dir(&tmp).unwrap().flatten().any(|e| {
        (e.file_name().to_string_lossy()).starts_with(&format!("pushbench-chromium-{pid}-"))
    });
    assert!(
        !left,
        "a Chromium profile of pid {pid} was left in {}",
        tmp.display()
    );

    let rows = summary(&out);
    for (label, row) in &rows {
        let browser = label.ends_with("-browser");
        assert_eq!(
            row["client"],
            if browser { "browser" } else { "rust" },
            "{label}"
        );
        // The load generator shares the server's clock (loopback: no offset applied), so
        // only a browser's own clock, estimated against /clock, carries an error.
        let clock_error: u64 = row["clock_error_us"].parse().expect("clock_error_us");
        assert_eq!(
            clock_error > 0,
            browser,
            "{label}: clock_error_us {clock_error}"
        );
        for col in [
            "messages_lost",
            "messages_duplicated",
            "messages_out_of_order",
            "errors",
            "reconnects",
        ] {
            assert_eq!(num(row, col), 0, "{label}: {col}");
        }
        // What the schedule owes: `messages_published` is counted from the server's heads
        // as of the window's edges.
        let window_s: f64 = row["duration_s"].parse().unwrap();
        let owed = (RATE * window_s).round() as u64 * num(row, "clients");
        let delivered = num(row, "messages_delivered");
        assert!(
            delivered.abs_diff(owed) <= edge_slack(row),
            "{label}: delivered {delivered}, owed {owed} ({RATE}/s for {window_s} s)"
        );
        assert!(
            num(row, "messages_published") + edge_slack(row) >= owed,
            "{label}"
        );
    }
    framing(&rows);
    request_heads(&rows);
    // The report names the client of each phase.
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(md.contains("| transport | client | rep |"), "{md}");
    assert!(md.contains("| websocket-browser | browser |"), "{md}");
    assert!(md.contains("| websocket | rust |"), "{md}");
    std::fs::remove_dir_all(out.parent().unwrap()).unwrap();
}

/// A push transport's bytes in the window are its messages' framing, both clients alike.
fn framing(rows: &HashMap<String, HashMap<String, String>>) {
    // RFC 6455 §5.2: FIN/opcode byte and a 7-bit length, no mask from a server.
    let ws = MESSAGE + 2;
    // RFC 9112 §7.1: the length in hex ("63" for the 99 bytes of a message and its
    // newline), CRLF, the data, CRLF.
    let chunk = format!("{:x}", MESSAGE + 1).len() as u64 + 2 + MESSAGE + 1 + 2;
    for (label, per_message) in [
        ("websocket", ws),
        ("websocket-browser", ws),
        ("stream-browser", chunk),
    ] {
        let row = &rows[label];
        let (down, delivered) = (num(row, "bytes_down"), num(row, "messages_delivered"));
        // Bytes are stamped at the relay, messages in the page: at each edge a client's
        // message in flight may fall on the other side.
        let slack = edge_slack(row) * per_message;
        assert!(
            down.abs_diff(delivered * per_message) <= slack,
            "{label}: {down} bytes for {delivered} messages, expected {per_message} each"
        );
        assert_eq!(
            num(row, "bytes_up"),
            0,
            "{label}: nothing goes up in the window"
        );
    }
}

/// The browser's request heads are counted, and are larger than the load generator's.
fn request_heads(rows: &HashMap<String, HashMap<String, String>>) {
    let per_request = |label: &str| {
        let row = &rows[label];
        num(row, "bytes_up") as f64 / num(row, "requests") as f64
    };
    let (ours, chromium) = (per_request("poll"), per_request("poll-browser"));
    // A GET without a body is its head alone: ours is the request line and Host.
    assert!(
        ours > 30.0 && chromium > ours + 100.0,
        "poll request heads: ours {ours}, Chromium's {chromium}"
    );
    // The WebSocket handshake (request and 101 heads) is set-up, one per connection.
    let setup = |label: &str| {
        let row = &rows[label];
        num(row, "setup_bytes") as f64 / num(row, "connections_opened") as f64
    };
    let (ours, chromium) = (setup("websocket"), setup("websocket-browser"));
    assert!(
        chromium > ours + 100.0,
        "WebSocket handshakes: ours {ours}, Chromium's {chromium}"
    );
}

/// With `[network]`, browser connections cross the emulated link in the relay, as the load
/// generator's own clients' do: 100 ms round trip, 50 ms each way, no jitter.
const LINKED: &str = r#"
name = "browser-link"
duration = "2s"
warmup = "500ms"
ramp_up = "200ms"
[network]
rtt = "100ms"
[workload]
rate = 10
payload_bytes = 64
[[transports]]
kind = "websocket"
clients = 2
[[transports]]
kind = "websocket"
clients = 2
client = "browser"
[[transports]]
kind = "sse"
clients = 2
client = "browser"
"#;

#[test]
fn browser_clients_cross_the_emulated_link() {
    let Some((out, _)) = run("browser-link", LINKED) else {
        return;
    };
    let rows = summary(&out);
    let ms = 1_000;
    for label in ["websocket", "websocket-browser", "sse-browser"] {
        let row = &rows[label];
        for col in ["messages_lost", "messages_duplicated", "errors"] {
            assert_eq!(num(row, col), 0, "{label}: {col}");
        }
        assert!(num(row, "messages_delivered") > 0, "{label}");
        // Every message crosses the link down once (one transit per push): 50 ms at least,
        // less only by the bound on a browser's clock error.
        let p50 = num(row, "latency_p50_us");
        let clock_error = num(row, "clock_error_us");
        assert!(
            p50 + clock_error >= 50 * ms,
            "{label}: latency p50 {p50} µs ± {clock_error} µs behind a 50 ms one-way link"
        );
        // Connecting is the TCP handshake's round trip, then the WebSocket upgrade or the
        // event stream's request and response head: two round trips, on the load
        // generator's clock (the relay's, for a browser).
        let connect = num(row, "connect_p50_us");
        assert!(
            connect >= 200 * ms,
            "{label}: connect p50 {connect} µs over two 100 ms round trips"
        );
    }
    // The link delays bytes, it does not add any: RFC 6455 frames of 2 + 98 bytes.
    let row = &rows["websocket-browser"];
    let (down, delivered) = (num(row, "bytes_down"), num(row, "messages_delivered"));
    assert!(
        down.abs_diff(delivered * (MESSAGE + 2)) <= 2 * num(row, "clients") * (MESSAGE + 2),
        "{down} bytes for {delivered} messages"
    );
    std::fs::remove_dir_all(out.parent().unwrap()).unwrap();
}
