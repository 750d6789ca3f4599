//! `pushbench serve --processes 3`: three processes sharing one port serve as one server. A
//! plain run and a sharded run against it (`run --server`, unchanged) count every message
//! they are owed, and `/stats` covers all three processes, checked against what /proc
//! says of each.
//!
//! The counts are exact for the reasons tests/shard.rs gives (2 messages per second, every
//! tick 250 ms clear of the window's edges): the load generator names the schedule's start,
//! and the process that receives the workload hands that instant to the others
//! (`crates/server/src/group.rs`).

mod common;
use common::pushbench;
use pushbench_report::RunData;
use pushbench_testkit::{WAIT, temp_dir};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant, SystemTime};

const SCENARIO: &str = r#"
name = "processes"
duration = "2s"
warmup = "600ms"
ramp_up = "100ms"
[workload]
rate = 2
payload_bytes = 8
topics = 2
[[transports]]
kind = "websocket"
clients = 12
[[transports]]
kind = "sse"
clients = 5
"#;

/// Messages each client is owed in the window: rate × duration.
const PER_CLIENT: u64 = 2 * 2;

/// The supervisor; killing it (SIGKILL) leaves its members, so it is stopped with SIGTERM,
/// which it passes on, and waited for.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn serve(processes: u32) -> (Server, SocketAddr) {
    let mut child = pushbench()
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--threads",
            "1",
            "--processes",
        ])
        .arg(processes.to_string())
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

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what}: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every client got every message it was owed, and nothing went wrong.
fn assert_all_delivered(run: &Path) {
    let data = RunData::load(run).unwrap_or_else(|e| panic!("{}: {e}", run.display()));
    assert_eq!(data.summary.len(), 2);
    for row in &data.summary {
        let owed = u64::from(row.clients) * PER_CLIENT;
        let what = &row.transport;
        assert_eq!(row.messages_published, owed, "{what}: {row:?}");
        assert_eq!(row.messages_delivered, owed, "{what}: {row:?}");
        assert_eq!(
            (row.messages_lost, row.messages_duplicated, row.errors),
            (0, 0, 0),
            "{what}"
        );
    }
    // RFC 6455: a 42-byte message (34-byte envelope, 8-byte payload) in a frame with a
    // 2-byte header, whichever process sent it.
    assert_eq!(data.summary[0].transport, "websocket");
    assert_eq!(data.summary[0].bytes_per_message, 44.0);
}

#[test]
fn plain_and_sharded_runs_against_three_processes_get_every_message() {
    let dir = temp_dir("processes");
    let scenario = dir.join("processes.toml");
    std::fs::write(&scenario, SCENARIO).unwrap();
    let (_server, addr) = serve(3);
    let url = format!("http://{addr}");

    let plain = dir.join("plain");
    let out = pushbench()
        .arg("run")
        .arg(&scenario)
        .args(["--server", &url, "--quiet", "--out"])
        .arg(&plain)
        .output()
        .unwrap();
    check(&out, "the plain run");
    assert_all_delivered(&plain);

    // Four seconds for two processes to start, on a busy machine too.
    let start =
        humantime::format_rfc3339_millis(SystemTime::now() + Duration::from_secs(4)).to_string();
    let shards: Vec<_> = (1..=2).map(|i| dir.join(format!("shard-{i}"))).collect();
    let children: Vec<Child> = shards
        .iter()
        .enumerate()
        .map(|(i, out)| {
            pushbench()
                .arg("run")
                .arg(&scenario)
                .args(["--shard", &format!("{}/2", i + 1), "--start-at", &start])
                .args(["--server", &url, "--quiet", "--out"])
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
    assert_all_delivered(&merged);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The members' pids: the supervisor's children.
fn members(server: &Server) -> Vec<u32> {
    let pid = server.0.id();
    let text = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap();
    text.split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect()
}

/// CPU seconds (user and system) and resident bytes of `pid`, from /proc.
fn usage(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // Fields after the command name, which ends with the last ')': state is field 3, utime
    // and stime fields 14 and 15, rss (pages) field 24.
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks = |i: usize| fields[i - 3].parse::<u64>().unwrap();
    // SAFETY: sysconf only reads a constant of the system.
    let (hz, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK) as f64,
            libc::sysconf(libc::_SC_PAGESIZE) as u64,
        )
    };
    ((ticks(14) + ticks(15)) as f64 / hz, ticks(24) * page)
}

fn stats(addr: SocketAddr) -> serde_json::Value {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /stats HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    let body = &answer[answer.find("\r\n\r\n").expect("a head") + 4..];
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {answer}"))
}

#[test]
fn stats_cover_every_process() {
    let (server, addr) = serve(3);
    let pids = members(&server);
    assert_eq!(pids.len(), 3, "{pids:?}");
    // Six idle connections, which the kernel spreads over the members as it likes.
    let idle: Vec<TcpStream> = (0..6).map(|_| TcpStream::connect(addr).unwrap()).collect();
    // Open at the moment of a reading: the six, the reading's own connection, and the
    // one it forwards to each of the two peers.
    let deadline = Instant::now() + WAIT;
    loop {
        let open = stats(addr)["connections_open"].as_u64().unwrap();
        if open == 6 + 1 + 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{open} connections open");
        std::thread::sleep(Duration::from_millis(20));
    }
    // CPU time only grows: the group's lies between the sums read before and after it.
    // Resident memory of idle processes moves by a few pages at most between readings.
    let sum = |pids: &[u32]| {
        pids.iter()
            .map(|&p| usage(p))
            .fold((0.0, 0), |(c, r), (pc, pr)| (c + pc, r + pr))
    };
    let before = sum(&pids);
    let s = stats(addr);
    let after = sum(&pids);
    let cpu = s["cpu_seconds"].as_f64().unwrap();
    // /proc counts in clock ticks (10 ms); the server reads its CPU time exactly.
    assert!(
        before.0 - 0.01 <= cpu && cpu <= after.0 + 0.03,
        "{cpu} s, /proc says {} to {}",
        before.0,
        after.0
    );
    let rss = s["rss_bytes"].as_u64().unwrap() as f64;
    let (low, high) = (before.1.min(after.1) as f64, before.1.max(after.1) as f64);
    assert!(
        low * 0.9 <= rss && rss <= high * 1.1,
        "{rss} bytes, /proc says {low} to {high}"
    );
    drop(idle);
}
