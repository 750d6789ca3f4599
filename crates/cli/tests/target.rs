//! `pushbench run --target`: pushbench's own server driven as a target (`targets/pushbench.toml`)
//! through the generic clients gives what the native path gives, request for request and
//! byte for byte; and a target that cannot run says why in one line.

mod common;

use common::{num, repo, run_with, summary};
use pushbench_testkit::temp_dir;
use std::path::Path;
use std::process::{Command, Output};

fn run(scenario: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["--quiet"];
    args.extend_from_slice(extra);
    run_with(scenario, out, &args)
}

/// The port of the server a run drove, from `meta.json`'s `server`.
fn port(out: &Path) -> usize {
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("meta.json")).unwrap()).unwrap();
    let server = meta["server"].as_str().unwrap();
    server.rsplit(':').next().unwrap().parse().unwrap()
}

/// 10 messages/s into one topic, a 4 s window opening 1.5 s after the phase starts: every
/// sequence number a client sees in the window has two decimal digits (from about 15 to
/// about 56), in both paths, since the target's request before each phase starts the
/// topics over as `/control/workload` does.
const SCENARIO: &str = r#"
name = "same"
duration = "4s"
warmup = "1s"
ramp_up = "500ms"
[workload]
rate = 10
payload_bytes = 50
[[transports]]
kind = "poll"
clients = 3
interval = "100ms"
[[transports]]
kind = "long-poll"
clients = 3
[[transports]]
kind = "stream"
clients = 3
[[transports]]
kind = "sse"
clients = 3
[[transports]]
kind = "websocket"
clients = 3
"#;

/// RFC 9112 §7.1: `chunk-size CRLF chunk-data CRLF`, chunk-size in hex.
fn chunk(data: u64) -> u64 {
    format!("{data:x}").len() as u64 + 2 + data + 2
}

#[test]
fn the_generic_path_gives_what_the_native_path_gives() {
    let dir = temp_dir("target-same");
    let scenario = dir.join("same.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let (native, generic) = (dir.join("native"), dir.join("generic"));
    let target = repo("targets/pushbench.toml");
    let o = run(&scenario, &native, &[]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = run(&scenario, &generic, &["--target", target.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let (a, b) = (summary(&native), summary(&generic));
    let m = 34 + 50;
    // Push transports: one chunk of `<message>\n`, an SSE event `id: NN\ndata: <message>\n\n`
    // in one chunk, a WebSocket frame with a 2-byte header (RFC 6455 §5.2, m ≤ 125).
    let per_message = [
        ("stream", chunk(m + 1)),
        ("sse", chunk(4 + 2 + 1 + 6 + m + 2)),
        ("websocket", 2 + m),
    ];
    for label in ["poll", "long-poll", "stream", "sse", "websocket"] {
        for (path, rows) in [("native", &a), ("generic", &b)] {
            let r = &rows[label];
            let what = format!("{label} ({path})");
            for col in [
                "messages_lost",
                "messages_duplicated",
                "messages_out_of_order",
                "errors",
            ] {
                assert_eq!(num(r, col), 0, "{what}: {col}");
            }
            // 10 messages/s for 4 s to 3 clients: 120, give or take one in flight at each
            // edge of the window per client (a 100 ms poll: one interval's).
            for col in ["messages_published", "messages_delivered"] {
                let n = num(r, col);
                assert!((110..=130).contains(&n), "{what}: {col} {n}");
            }
        }
        if let Some((_, per)) = per_message.iter().find(|(l, _)| *l == label) {
            for (path, rows) in [("native", &a), ("generic", &b)] {
                let r = &rows[label];
                // Pushed within a fraction of the 100 ms between messages, on either path
                // (the generic one has the publish request on top): no message waits for
                // the next. The two paths' latencies are compared in docs/targets.md.
                let p50 = num(r, "latency_p50_us");
                assert!(p50 < 50_000, "{label} ({path}): p50 {p50} µs");
                assert_eq!(
                    num(r, "bytes_down"),
                    num(r, "messages_delivered") * per,
                    "{label} ({path}): {per} bytes per message"
                );
                assert_eq!(num(r, "bytes_up"), 0, "{label} ({path})");
            }
        }
    }
    // Polls: every request of the window is the same bytes in both paths, from its parts:
    // the request line with a two-digit cursor, `host: 127.0.0.1:PORT`, the blank line.
    for (label, query) in [
        ("poll", "/poll?topic=0&cursor=NN"),
        ("long-poll", "/longpoll?topic=0&timeout=30000&cursor=NN"),
    ] {
        for (path, rows, out) in [("native", &a, &native), ("generic", &b, &generic)] {
            let r = &rows[label];
            let host = format!("host: 127.0.0.1:{}\r\n", port(out));
            let request = format!("GET {query} HTTP/1.1\r\n").len() + host.len() + 2;
            assert!(num(r, "requests") > 0, "{label} ({path})");
            assert_eq!(
                num(r, "bytes_up"),
                num(r, "requests") * request as u64,
                "{label} ({path}): {request} bytes per request"
            );
        }
    }
}

/// Runs a one-client SSE scenario in `dir` against a target file of `text`, into `dir/out`.
fn run_tiny_against(dir: &Path, text: &str) -> Output {
    let target = dir.join("t.toml");
    std::fs::write(&target, text).unwrap();
    let scenario = dir.join("tiny.toml");
    let tiny = "name = \"tiny\"\nduration = \"1s\"\n[workload]\nrate = 5\npayload_bytes = 8\n[[transports]]\nkind = \"sse\"\nclients = 1\n";
    std::fs::write(&scenario, tiny).unwrap();
    run(
        &scenario,
        &dir.join("out"),
        &["--target", target.to_str().unwrap()],
    )
}

fn stderr_line(o: &Output) -> String {
    let err = String::from_utf8_lossy(&o.stderr).to_string();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    err.trim().to_string()
}

#[test]
fn a_target_without_a_transport_of_the_scenario_is_refused_with_exit_2() {
    let dir = temp_dir("target-lacks");
    let o = run_tiny_against(
        &dir,
        "name = \"x\"\n[server]\ncommand = [\"true\"]\nready = \"{base}/\"\n[publish]\nurl = \"{base}/p\"\n[subscribe.poll]\nurl = \"{base}/s\"\n",
    );
    assert_eq!(o.status.code(), Some(2));
    let line = stderr_line(&o);
    assert!(
        line.ends_with("target x: scenario \"tiny\" uses transport `sse`, which the target does not declare (add [subscribe.sse])"),
        "{line}"
    );
    assert!(
        !dir.join("out").exists(),
        "no run directory for a run that never started"
    );
}

#[test]
fn a_bad_target_file_names_its_line_and_key_with_exit_2() {
    let dir = temp_dir("target-bad");
    let o = run_tiny_against(
        &dir,
        "name = \"x\"\n[server]\ncommand = [\"srv\", \"{prot}\"]\n",
    );
    assert_eq!(o.status.code(), Some(2));
    let line = stderr_line(&o);
    assert!(
        line.ends_with("t.toml:3: server.command: unknown variable `{prot}`; expected one of {port}, {dir}, {cpus}, {pushbench}"),
        "{line}"
    );
}

#[test]
fn a_server_that_never_becomes_ready_is_stopped_and_named() {
    let dir = temp_dir("target-unready");
    // A program that runs but never listens: pushbench must give up after the timeout and
    // stop it. Its argument is this test's own, to find it afterwards.
    let seconds = format!("60.{}", std::process::id());
    let started = std::time::Instant::now();
    let o = run_tiny_against(
        &dir,
        &format!(
            "name = \"mute\"\n[server]\ncommand = [\"sleep\", \"{seconds}\"]\nready = \"{{base}}/\"\nready_timeout = \"1s\"\n[publish]\nurl = \"{{base}}/p\"\n[subscribe.sse]\nurl = \"{{base}}/s\"\n"
        ),
    );
    assert_eq!(o.status.code(), Some(1));
    let line = stderr_line(&o);
    assert!(
        line.contains("target mute: not ready within 1s: GET http://127.0.0.1:"),
        "{line}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    // The program was stopped, not left behind.
    let ps = Command::new("pgrep")
        .args(["-f", &format!("^sleep {seconds}$")])
        .output()
        .unwrap();
    assert!(
        ps.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&ps.stdout)
    );
}

#[test]
fn a_missing_program_is_named_with_how_to_install_it() {
    let dir = temp_dir("target-missing");
    let o = run_tiny_against(
        &dir,
        "name = \"ghost\"\n[server]\ncommand = [\"pushbench-no-such-program\"]\nready = \"{base}/\"\ninstall = \"apt-get install ghost\"\n[publish]\nurl = \"{base}/p\"\n[subscribe.sse]\nurl = \"{base}/s\"\n",
    );
    assert_eq!(o.status.code(), Some(1));
    let line = stderr_line(&o);
    assert!(
        line.contains(
            "target ghost: cannot start `pushbench-no-such-program`: No such file or directory"
        ) && line.ends_with("; install it: apt-get install ghost"),
        "{line}"
    );
}

#[test]
fn a_raw_phase_is_left_out_against_a_target_with_one_line() {
    let dir = temp_dir("target-raw");
    let scenario = dir.join("both.toml");
    let text = "name = \"both\"\nduration = \"1s\"\nramp_up = \"200ms\"\nwarmup = \"300ms\"\n[workload]\nrate = 10\npayload_bytes = 8\n[[transports]]\nkind = \"raw\"\nclients = 1\n[[transports]]\nkind = \"sse\"\nclients = 2\n";
    std::fs::write(&scenario, text).unwrap();
    let out = dir.join("out");
    let target = repo("targets/pushbench.toml");
    let o = run(&scenario, &out, &["--target", target.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        stderr_line(&o),
        format!(
            "pushbench: {}: raw left out: no target offers pushbench's own raw stream",
            scenario.display()
        )
    );
    // The SSE phase ran, whole, and it alone: no row for the phase left out.
    let rows = summary(&out);
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["sse"]);
    assert_eq!(num(&rows["sse"], "messages_lost"), 0);
    assert!(num(&rows["sse"], "messages_delivered") > 0);
    // meta.json records the scenario as it ran.
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("meta.json")).unwrap()).unwrap();
    let kinds: Vec<&str> = meta["scenario"]["transports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["sse"]);
}
