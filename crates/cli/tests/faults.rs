//! `pushbench run` when things go wrong: an unreachable server, Ctrl-C, a server that dies
//! during a phase. Each leaves complete, readable files, says what happened in one line,
//! and exits with the documented code. Loopback only; every wait is bounded.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use pushbench_testkit::temp_dir;

fn pushbench() -> Command {
    Command::new(env!("CARGO_BIN_EXE_pushbench"))
}

/// Three phases of about two seconds each.
const THREE_PHASES: &str = r#"
name = "faults"
duration = "1500ms"
warmup = "200ms"
ramp_up = "100ms"
[workload]
rate = 20
payload_bytes = 8
[[transports]]
kind = "websocket"
clients = 2
[[transports]]
kind = "sse"
clients = 2
[[transports]]
kind = "stream"
clients = 2
"#;

/// A fresh directory holding `s.toml` with [`THREE_PHASES`].
fn three_phases(tag: &str) -> (PathBuf, PathBuf) {
    let dir = temp_dir(tag);
    let scenario = dir.join("s.toml");
    std::fs::write(&scenario, THREE_PHASES).unwrap();
    (dir, scenario)
}

/// Waits until `path` exists (the first phase's results), failing after 30 s.
fn wait_for(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the child to exit, failing after 30 s.
fn exit_code(child: &mut Child) -> Option<i32> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code();
        }
        assert!(Instant::now() < deadline, "pushbench did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill(2) on a child process of this test.
    unsafe { libc::kill(child.id() as libc::pid_t, sig) };
}

fn meta(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("meta.json")).unwrap()).unwrap()
}

/// The process exited with `code` and said why in one line naming `says`.
fn assert_failed(output: &std::process::Output, code: i32, says: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(stderr.contains(says), "{stderr}");
}

/// meta.json says the run did not complete, for a reason naming `why`.
fn assert_incomplete(out: &Path, why: &str) {
    let m = meta(out);
    assert_eq!(m["completed"], false);
    assert!(
        m["incomplete_reason"].as_str().unwrap().contains(why),
        "{m}"
    );
}

fn summary_rows(out: &Path) -> usize {
    std::fs::read_to_string(out.join("summary.csv"))
        .unwrap()
        .lines()
        .count()
        - 1
}

#[test]
fn an_unreachable_server_is_bad_input_and_nothing_is_written() {
    let (dir, scenario) = three_phases("unreachable");
    // A port that was free a moment ago and has no listener now: connection refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = pushbench()
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--out",
            dir.join("out").to_str().unwrap(),
        ])
        .args(["--server", &format!("http://127.0.0.1:{port}")])
        .output()
        .unwrap();
    assert_failed(&out, 2, &port.to_string());
    assert!(!dir.join("out").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn ctrl_c_keeps_what_was_measured_and_exits_130() {
    let (dir, scenario) = three_phases("ctrl-c");
    let out = dir.join("out");
    let mut child = pushbench()
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(&out.join("summary.csv"));
    signal(&child, libc::SIGINT);
    assert_eq!(exit_code(&mut child), Some(130));
    assert_incomplete(&out, "interrupted");
    let rows = summary_rows(&out);
    assert!(
        (1..=2).contains(&rows),
        "the phases that ran, the interrupted one included: {rows}"
    );
    assert!(
        out.join("report.html").exists(),
        "the report covers what was measured"
    );
    let leftovers: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "no half-written files: {leftovers:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Starts `pushbench serve` on `addr` and returns it with the address it listens on.
fn serve(addr: &str) -> (Child, String) {
    let mut server = pushbench()
        .args(["serve", "--addr", addr])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(server.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line.trim().rsplit(' ').next().unwrap().to_string();
    (server, addr)
}

/// Starts `pushbench run --quiet` of `scenario` against `addr`, writing into `out`.
fn run_against(scenario: &Path, out: &Path, addr: &str) -> Child {
    pushbench()
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            "--quiet",
        ])
        .args(["--server", &format!("http://{addr}")])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn a_server_that_dies_mid_run_fails_the_run_and_keeps_earlier_phases() {
    let (dir, scenario) = three_phases("server-dies");
    let (mut server, addr) = serve("127.0.0.1:0");
    let out = dir.join("out");
    let run = run_against(&scenario, &out, &addr);
    wait_for(&out.join("summary.csv"));
    server.kill().unwrap();
    server.wait().unwrap();
    let output = run.wait_with_output().unwrap();
    assert_failed(&output, 1, &addr);
    assert_incomplete(&out, &addr);
    assert_eq!(summary_rows(&out), 1, "the first phase's results are kept");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_server_restarted_mid_phase_is_noticed_and_the_run_fails() {
    let (dir, scenario) = three_phases("server-restarts");
    let (mut server, addr) = serve("127.0.0.1:0");
    let out = dir.join("out");
    let run = run_against(&scenario, &out, &addr);
    wait_for(&out.join("summary.csv"));
    // The second phase runs for about 1.8 s from here: restart the server inside it, on the
    // same address, so every later request of the load generator is answered again.
    std::thread::sleep(Duration::from_millis(600));
    server.kill().unwrap();
    server.wait().unwrap();
    let (mut second, _) = serve(&addr);
    let output = run.wait_with_output().unwrap();
    second.kill().unwrap();
    second.wait().unwrap();
    assert_failed(&output, 1, "restarted during phase");
    assert_incomplete(&out, "restarted");
    assert_eq!(summary_rows(&out), 1, "the first phase's results are kept");
    std::fs::remove_dir_all(&dir).unwrap();
}
