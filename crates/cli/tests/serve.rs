//! `pushbench serve` shuts down cleanly on SIGTERM, with either runtime: the real binary on
//! a free loopback port, a held long poll and a WebSocket open when the signal arrives.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Upper bound for any single wait.
const WAIT: Duration = Duration::from_secs(20);

/// Kills the server if the test fails before it exits.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect to the server");
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// Reads until `needle` is in `buf` (after what it already holds).
fn read_until(s: &mut TcpStream, buf: &mut Vec<u8>, needle: &[u8]) {
    let mut chunk = [0u8; 4096];
    while !buf.windows(needle.len()).any(|w| w == needle) {
        let n = s.read(&mut chunk).expect("read in time");
        assert!(n > 0, "EOF; have {:?}", String::from_utf8_lossy(buf));
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// One request on its own connection; the whole answer, read to the end.
fn get(addr: SocketAddr, target: &str) -> String {
    let mut s = connect(addr);
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    answer
}

fn stats(addr: SocketAddr) -> serde_json::Value {
    let answer = get(addr, "/stats");
    let (_, body) = answer.split_once("\r\n\r\n").expect("a body");
    serde_json::from_str(body).expect("stats is JSON")
}

#[test]
fn sigterm_answers_long_polls_closes_websockets_and_exits_zero() {
    sigterm_ends_everything("shared");
}

#[test]
fn sigterm_ends_everything_on_the_per_core_runtime_too() {
    sigterm_ends_everything("per-core");
}

fn sigterm_ends_everything(runtime: &str) {
    let child = Command::new(env!("CARGO_BIN_EXE_pushbench"))
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--threads",
            "2",
            "--runtime",
            runtime,
            // Far longer than the test waits: an exit within `WAIT` is the connections
            // having finished, not the timeout expiring.
            "--shutdown-timeout",
            "600",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start pushbench serve");
    let mut server = Server(child);
    let mut ready = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let addr: SocketAddr = ready
        .trim()
        .strip_prefix("pushbench server listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {ready:?}"))
        .parse()
        .unwrap();

    // Topic 0 is empty (head 0), so a long poll after cursor 0 is held.
    let mut longpoll = connect(addr);
    longpoll
        .write_all(b"GET /longpoll?topic=0&cursor=0&timeout=30000 HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();

    let mut ws = connect(addr);
    ws.write_all(
        b"GET /ws?topic=0 HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut ws_buf = Vec::new();
    read_until(&mut ws, &mut ws_buf, b"\r\n\r\n");
    assert!(ws_buf.starts_with(b"HTTP/1.1 101 "), "{ws_buf:?}");
    ws_buf.clear();

    // Both are in the server's hands before the signal.
    let deadline = Instant::now() + WAIT;
    loop {
        let s = stats(addr);
        if s["connections"]["long-poll"] == 1 && s["connections"]["websocket"] == 1 {
            break;
        }
        assert!(Instant::now() < deadline, "not both open: {s}");
        std::thread::sleep(Duration::from_millis(20));
    }

    let signalled = Instant::now();
    let pid = libc::pid_t::try_from(server.0.id()).unwrap();
    // SAFETY: kill only sends a signal, to the child this test started.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);

    // The held long poll gets the empty answer: the unchanged cursor and no messages.
    let mut answer = Vec::new();
    read_until(&mut longpoll, &mut answer, b"\r\n\r\n0\n");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("content-length: 2\r\n"),
        "{text}"
    );

    // The WebSocket gets close 1001 (going away); answering it ends the connection.
    let mut frame = [0u8; 4];
    ws.read_exact(&mut frame).expect("a close frame");
    assert_eq!(frame[0], 0x88, "FIN + close: {frame:?}");
    assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), 1001);
    let mut reason = vec![0u8; usize::from(frame[1]) - 2];
    ws.read_exact(&mut reason).unwrap();
    let mut close = vec![0x88, 0x82, 0, 0, 0, 0];
    close.extend_from_slice(&1001u16.to_be_bytes());
    ws.write_all(&close).unwrap();
    let mut rest = Vec::new();
    let _ = ws.read_to_end(&mut rest);

    // And the process exits, successfully, once its connections are done: long before its
    // 600 s shutdown timeout (`WAIT` only bounds a hang, on however busy a machine).
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            signalled.elapsed() < WAIT,
            "still running {WAIT:?} after SIGTERM, its connections closed"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}
