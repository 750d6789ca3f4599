//! Slow consumers: streaming clients (stream, SSE, WebSocket, raw stream) that stop reading
//! while the publisher runs fast are disconnected, a client that keeps up loses nothing, and
//! the server's memory stays flat.

use pushbench_server::ServerConfig;
use pushbench_testkit::raw::{Conn, publish_body};
use pushbench_testkit::ws::*;
use pushbench_testkit::{TestServer as Server, WAIT};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// 1,000 messages/s of 2,000 payload bytes: about 2 MB/s per client, enough to fill a
/// socket's buffers in well under a second, slow enough for a test client on a busy
/// 2-core machine to keep up with.
const RATE: f64 = 1000.0;
const PAYLOAD: u64 = 2000;

/// A WebSocket client that reads every message and checks that none is missing. It stops
/// once it has seen the seq sent on `until`, and returns (first seq, last seq).
fn keep_up(mut ws: Conn, until: watch::Receiver<Option<u64>>) -> JoinHandle<(u64, u64)> {
    tokio::spawn(async move {
        let mut first = None;
        let mut last = 0;
        loop {
            if until.borrow().is_some_and(|end| last >= end) {
                return (first.unwrap_or(0), last);
            }
            let frame = read_frame(&mut ws).await;
            assert_eq!(frame.opcode(), TEXT, "{frame:?}");
            let seq = std::str::from_utf8(&frame.payload[..16])
                .ok()
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .expect("a message");
            if first.is_some() {
                assert_eq!(seq, last + 1, "the well-behaved client lost messages");
            }
            first.get_or_insert(seq);
            last = seq;
        }
    })
}

/// A push request on a connection that will not read its answer's body.
async fn stalled_push(server: &Server, target: &str) -> Conn {
    let mut conn = connect_small(server).await;
    conn.send_request("GET", target, &[], b"").await;
    let (status, _) = conn.read_head().await;
    assert_eq!(status, 200);
    conn
}

/// Polls `/stats` until `slow_consumer_disconnects` reaches `n`, and returns the largest
/// `rss_bytes` seen meanwhile.
async fn await_disconnects(server: &Server, n: u64) -> u64 {
    let deadline = Instant::now() + WAIT;
    let mut peak = 0;
    loop {
        let stats = server.stats().await;
        peak = peak.max(stats["rss_bytes"].as_u64().unwrap());
        if stats["slow_consumer_disconnects"].as_u64() >= Some(n) {
            return peak;
        }
        assert!(Instant::now() < deadline, "not disconnected: {stats}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops the publisher and has the well-behaved client read up to the final head.
async fn finish(server: &Server, until: watch::Sender<Option<u64>>, good: JoinHandle<(u64, u64)>) {
    assert_eq!(server.post("/control/stop", b"").await.status, 200);
    let head = server.stats().await["topic_heads"][0].as_u64().unwrap();
    until.send_replace(Some(head));
    // Wakes the client should it have read everything before it learnt where to stop.
    server.publish(0, &publish_body(1, "last")).await;
    let (first, last) = tokio::time::timeout(WAIT, good)
        .await
        .expect("the well-behaved client reads to the head in time")
        .expect("the well-behaved client saw every message in order");
    assert!(last >= head, "stopped at {last} of {head}");
    assert!(last - first > 500, "it received {first}..={last}");
}

/// A raw stream on a connection that will not read.
async fn stalled_raw(server: &Server) -> Conn {
    let mut conn = connect_small(server).await;
    conn.upgrade_raw("/raw?topic=0").await;
    conn
}

/// Reads a raw stream to its end: what was buffered, then the end. Returns the bytes read.
async fn raw_to_end(conn: &mut Conn) -> Vec<u8> {
    conn.expect_eof().await;
    assert!(!conn.buf.is_empty(), "some messages came before the cut");
    std::mem::take(&mut conn.buf)
}

/// Reads an HTTP push answer's body to its end and checks it was cut, not ended cleanly.
async fn assert_cut(conn: &mut Conn) {
    conn.expect_eof().await;
    assert!(!conn.buf.is_empty(), "some messages came before the cut");
    assert!(
        !conn.buf.ends_with(b"\r\n0\r\n\r\n"),
        "a slow consumer's stream is cut, not ended with the last chunk"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_are_dropped_after_the_stall_timeout() {
    let server = Server::start_with(ServerConfig {
        stall_timeout: Duration::from_secs(1),
        ..ServerConfig::default()
    })
    .await;
    server.workload(1, RATE, PAYLOAD).await;
    let baseline = server.stats().await["rss_bytes"].as_u64().unwrap();

    let (until_tx, until) = watch::channel(None);
    let good = keep_up(open_ws(&server, 0).await, until);
    let mut ws = connect_small(&server).await;
    upgrade(&mut ws, 0).await;
    let mut sse = stalled_push(&server, "/sse?topic=0").await;
    let mut stream = stalled_push(&server, "/stream?topic=0").await;
    let mut raw = stalled_raw(&server).await;

    let peak = await_disconnects(&server, 4).await;
    let grown = peak.saturating_sub(baseline);
    assert!(grown < 128 << 20, "RSS grew by {grown} bytes");
    let stats = server.stats().await;
    // The well-behaved WebSocket and this /stats request.
    assert_eq!(stats["connections"]["websocket"], 1, "{stats}");
    assert_eq!(stats["connections"]["sse"], 0, "{stats}");
    assert_eq!(stats["connections"]["stream"], 0, "{stats}");
    assert_eq!(stats["connections"]["raw"], 0, "{stats}");
    finish(&server, until_tx, good).await;

    // When they finally read, each finds what was buffered and then the end. The stalled
    // WebSocket could not even take a close frame.
    let (end, texts) = read_ws_to_end(&mut ws).await;
    assert!(
        end == End::Cut || end == End::Close(1008),
        "{end:?} after {texts} messages"
    );
    assert_cut(&mut sse).await;
    assert_cut(&mut stream).await;
    // A raw stream has no end marker to leave out: its end is the connection's, wherever
    // the stalled write was cut off.
    raw_to_end(&mut raw).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_too_far_behind_are_dropped_when_they_next_send() {
    let server = Server::start_with(ServerConfig {
        // Long enough never to fire here: this is about the lag limit.
        stall_timeout: Duration::from_secs(60),
        max_lag: 500,
        ..ServerConfig::default()
    })
    .await;
    server.workload(1, RATE, PAYLOAD).await;
    let (until_tx, until) = watch::channel(None);
    let good = keep_up(open_ws(&server, 0).await, until);
    let mut ws = connect_small(&server).await;
    upgrade(&mut ws, 0).await;
    let mut stream = stalled_push(&server, "/stream?topic=0").await;
    let mut sse = stalled_push(&server, "/sse?topic=0").await;
    let mut raw = stalled_raw(&server).await;

    // Stop reading for long enough to fall 2,500 messages behind, then read again.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let resumed = tokio::spawn(async move {
        let ws_end = read_ws_to_end(&mut ws).await;
        assert_cut(&mut stream).await;
        assert_cut(&mut sse).await;
        (ws_end, raw_to_end(&mut raw).await)
    });
    await_disconnects(&server, 4).await;
    let ((end, texts), raw) = resumed.await.unwrap();
    // Cut for its lag before a write, so after a whole message: whole lines of
    // 34 + 2,000 + 1 bytes each, in order (docs/protocol.md).
    let line = 34 + PAYLOAD as usize + 1;
    assert_eq!(raw.len() % line, 0, "{} bytes", raw.len());
    let seqs: Vec<u64> = raw
        .chunks(line)
        .map(|l| {
            assert_eq!(l[line - 1], b'\n');
            u64::from_str_radix(std::str::from_utf8(&l[..16]).unwrap(), 16).unwrap()
        })
        .collect();
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    // The WebSocket gets the reason: its writer could finish the frame it was in.
    assert_eq!(end, End::Close(1008), "after {texts} messages");
    assert!(texts > 0);
    finish(&server, until_tx, good).await;
    server.shutdown().await;
}
