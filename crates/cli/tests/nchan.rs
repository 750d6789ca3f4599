//! nginx with the nchan module as a target (`targets/nchan.toml`), driven by the real
//! binary as a user runs it: pushbench writes the configuration into a temporary directory,
//! starts nginx unprivileged on a free loopback port, and stops it after the run.
//!
//! nginx and the module come from Debian's packages (`scripts/install-nchan.sh`, run by
//! `.ci/run`). Without them a test says so in one line and passes, but with `CI=true` it
//! fails instead.
//!
//! Expected values come from the framing rules and from what nchan sends, as observed with
//! curl (docs/targets.md): a chunk per message holding exactly the message (no newline), a
//! WebSocket text frame per message, an EventSource event `id: <seconds>:<tag>\ndata:
//! <message>\n\n` in a body that no chunking frames.

mod common;

use common::{num, repo, run_with, summary};
use pushbench_testkit::temp_dir;
use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

const MODULE: &str = "/usr/lib/nginx/modules/ngx_nchan_module.so";

/// Whether nginx and the nchan module are installed; without them, `None` after one line
/// on stderr, or a failure when `CI=true`.
fn nchan_installed() -> Option<()> {
    let nginx = Command::new("nginx").arg("-v").output().is_ok();
    if nginx && Path::new(MODULE).exists() {
        return Some(());
    }
    let what = "nginx with the nchan module is not installed (scripts/install-nchan.sh)";
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{what}, and CI=true: the nchan tests must run");
    }
    eprintln!("skipped: {what}");
    None
}

/// nchan's tests run phases of several seconds; run concurrently they would share two
/// cores with each other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Runs `scenario` against nchan; the rows of `summary.csv` by transport label.
fn run(tag: &str, scenario: &str) -> HashMap<String, HashMap<String, String>> {
    let dir = temp_dir(tag);
    let path = dir.join("s.toml");
    std::fs::write(&path, scenario).unwrap();
    let out = dir.join("out");
    let target = repo("targets/nchan.toml");
    let o = run_with(
        &path,
        &out,
        &["--target", target.to_str().unwrap(), "--quiet"],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // meta.json says which server the run drove, and where.
    let meta = std::fs::read_to_string(out.join("meta.json")).unwrap();
    assert!(
        meta.contains("\"server\": \"target nchan (")
            && meta.contains("), started by pushbench on 127.0.0.1:"),
        "{meta}"
    );
    summary(&out)
}

#[test]
fn every_transport_delivers_every_message_in_order() {
    let Some(()) = nchan_installed() else { return };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    // 20 messages/s into one channel for 2 s, to 4 clients of each transport: 160
    // deliveries owed per transport.
    let rows = run(
        "nchan-all",
        r#"
name = "nchan-all"
duration = "2s"
warmup = "500ms"
ramp_up = "500ms"
[workload]
rate = 20
payload_bytes = 128
[[transports]]
kind = "poll"
clients = 4
interval = "100ms"
[[transports]]
kind = "long-poll"
clients = 4
[[transports]]
kind = "stream"
clients = 4
[[transports]]
kind = "sse"
clients = 4
[[transports]]
kind = "websocket"
clients = 4
"#,
    );
    for label in ["poll", "long-poll", "stream", "sse", "websocket"] {
        let r = &rows[label];
        for col in [
            "messages_lost",
            "messages_duplicated",
            "messages_out_of_order",
            "errors",
            "reconnects",
        ] {
            assert_eq!(num(r, col), 0, "{label}: {col}");
        }
        // Messages due in the window and accepted by nchan, once per client: 40 per
        // client, give or take the one due at each edge.
        let published = num(r, "messages_published");
        assert!(
            (152..=168).contains(&published),
            "{label}: published {published}"
        );
        // Received in the window: a message in flight at each edge of it either way; a
        // 100 ms poll may find one interval's worth late.
        let delivered = num(r, "messages_delivered");
        let slack = if label == "poll" { 12 } else { 8 };
        assert!(
            delivered.abs_diff(published) <= slack,
            "{label}: delivered {delivered} of {published}"
        );
    }
    // Interval polls find nothing new most of the time (nchan answers 304), and each
    // answer carries at most one message, so a 100 ms poll of 20 messages/s asks again at
    // once after every answer with one: at least one request per message.
    let poll = &rows["poll"];
    assert!(num(poll, "empty_responses") > 0);
    assert!(num(poll, "requests") >= num(poll, "messages_delivered"));
}

/// RFC 9112 §7.1: `chunk-size CRLF chunk-data CRLF`, chunk-size in hex.
fn chunk(data: u64) -> u64 {
    format!("{data:x}").len() as u64 + 2 + data + 2
}

#[test]
fn bytes_per_message_follow_the_framing_nchan_sends() {
    let Some(()) = nchan_installed() else { return };
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    for (payload, m) in [(50u64, 84u64), (128, 162)] {
        let rows = run(
            &format!("nchan-bytes-{payload}"),
            &format!(
                r#"
name = "nchan-bytes"
duration = "4s"
warmup = "300ms"
ramp_up = "300ms"
[workload]
rate = 5
payload_bytes = {payload}
[[transports]]
kind = "stream"
clients = 2
[[transports]]
kind = "sse"
clients = 2
[[transports]]
kind = "websocket"
clients = 2
"#
            ),
        );
        // A chunk holding exactly the message; a text frame whose header is 2 bytes up to
        // 125 bytes of payload and 4 above (RFC 6455 §5.2).
        let ws = m + if m <= 125 { 2 } else { 4 };
        for (label, per) in [("stream", chunk(m)), ("websocket", ws)] {
            let r = &rows[label];
            let delivered = num(r, "messages_delivered");
            assert!(delivered >= 36, "{label}: {delivered}");
            assert_eq!(
                num(r, "bytes_down"),
                delivered * per,
                "{label}, {m}-byte messages: {per} bytes each"
            );
            assert_eq!(num(r, "bytes_up"), 0, "{label}");
        }
        // `id: ` + ten digits of seconds + `:` + the message's tag within its second (one
        // digit at 5 messages/s, even with a message late into the next second) + `\n` +
        // `data: ` + the message + `\n\n`; the body has no chunk framing.
        let sse = &rows["sse"];
        let per = 4 + 10 + 1 + 1 + 1 + 6 + m + 2;
        assert_eq!(
            num(sse, "bytes_down"),
            num(sse, "messages_delivered") * per,
            "sse, {m}-byte messages"
        );
    }
}
