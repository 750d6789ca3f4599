//! `/raw`, the raw stream, checked byte for byte against docs/protocol.md: an upgrade to
//! `pushbench-raw`, then each message and a newline, and nothing else.

use pushbench_testkit::raw::{Conn, message, publish_body};
use pushbench_testkit::{TestServer as Server, WAIT};
use std::time::{Duration, Instant};

/// The `101` head from first principles: the status line (34 bytes with its CRLF), the
/// two fields the upgrade needs, Date (always 37 bytes, docs/protocol.md) and the blank
/// line. hyper writes field names in lowercase.
const HEAD_LEN: usize = "HTTP/1.1 101 Switching Protocols\r\n".len()
    + "connection: upgrade\r\n".len()
    + "upgrade: pushbench-raw\r\n".len()
    + 37
    + 2;

async fn open(server: &Server, target: &str) -> Conn {
    let mut conn = server.connect().await;
    conn.upgrade_raw(target).await;
    conn
}

/// A message's bytes on a raw stream: the message and `\n`.
fn line(seq: u64, sent_ns: u64, payload: &str) -> Vec<u8> {
    [message(seq, sent_ns, payload), b"\n".to_vec()].concat()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_message_is_its_envelope_and_a_newline_and_nothing_else() {
    let server = Server::start().await;
    server.workload(2, 0.0, 0).await;
    let mut raw = server.connect().await;
    let head = raw.upgrade_raw("/raw?topic=1").await;
    assert_eq!(head.len(), HEAD_LEN, "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("\r\nconnection: upgrade\r\n"), "{head}");
    assert!(lower.contains("\r\nupgrade: pushbench-raw\r\n"), "{head}");
    assert!(
        raw.buf.is_empty(),
        "nothing follows the head until a publish"
    );

    server.publish(1, &publish_body(0x55, "pushed")).await;
    server.publish(1, &publish_body(0x66, "x")).await;
    // 34 + 6 + 1 and 34 + 1 + 1 bytes: no length, chunk or frame around either.
    let want = [line(1, 0x55, "pushed"), line(2, 0x66, "x")].concat();
    assert_eq!(want.len(), (34 + 6 + 1) + (34 + 1 + 1));
    assert_eq!(raw.take(want.len()).await, want);
    assert!(
        raw.quiet_for(Duration::from_millis(200)).await,
        "no heartbeat or anything else"
    );

    let stats = server.stats().await;
    assert_eq!(stats["connections"]["raw"], 1, "{stats}");
    assert_eq!(stats["messages_written"], 2, "{stats}");
    assert_eq!(stats["bytes_written"], want.len() as u64, "{stats}");
    // The other topic's subscribers see nothing of it.
    assert_eq!(server.get("/poll?topic=0&cursor=0").await.body, b"0\n");

    // Shutdown ends the stream with the connection itself: no end marker.
    server.begin_shutdown();
    raw.expect_eof().await;
    assert!(raw.buf.is_empty(), "{:?}", raw.buf);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconnecting_raw_stream_resumes_after_its_cursor() {
    let server = Server::start().await;
    server.workload(1, 0.0, 0).await;
    for (ts, p) in [(1, "a"), (2, "b"), (3, "c")] {
        server.publish(0, &publish_body(ts, p)).await;
    }
    // Having seen message 1, the client asks for what came after it: 2 and 3, in order.
    let mut raw = open(&server, "/raw?topic=0&cursor=1").await;
    let want = [line(2, 2, "b"), line(3, 3, "c")].concat();
    assert_eq!(raw.take(want.len()).await, want);
    // Without a cursor it starts at the head: only what is published from now on.
    let mut fresh = open(&server, "/raw?topic=0").await;
    server.publish(0, &publish_body(4, "d")).await;
    assert_eq!(fresh.take(36).await, line(4, 4, "d"));
    assert_eq!(raw.take(36).await, line(4, 4, "d"));
    // A cursor beyond the head names messages that do not exist.
    let mut bad = server.connect().await;
    let fields = [("Connection", "Upgrade"), ("Upgrade", "pushbench-raw")];
    bad.send_request("GET", "/raw?topic=0&cursor=9", &fields, b"")
        .await;
    assert_eq!(bad.read_response().await.status, 400);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_the_upgrade_is_refused() {
    let server = Server::start().await;
    for fields in [
        &[][..],
        &[("Connection", "Upgrade"), ("Upgrade", "websocket")],
        &[("Upgrade", "pushbench-raw")],
    ] {
        let mut conn = server.connect().await;
        conn.send_request("GET", "/raw?topic=0", fields, b"").await;
        let resp = conn.read_response().await;
        assert_eq!(resp.status, 400, "{fields:?}");
        assert_eq!(
            resp.text(),
            "/raw needs Connection: Upgrade and Upgrade: pushbench-raw\n"
        );
    }
    // Tokens are compared without regard to case, in comma-separated lists (RFC 9110 §7.8).
    let mut conn = server.connect().await;
    let fields = [
        ("Connection", "keep-alive, UPGRADE"),
        ("Upgrade", "h2c, PushBench-Raw"),
    ];
    conn.send_request("GET", "/raw?topic=0", &fields, b"").await;
    assert_eq!(conn.read_head().await.0, 101);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_leaves_is_let_go_and_what_it_sends_is_dropped() {
    let server = Server::start().await;
    server.workload(1, 0.0, 0).await;
    let mut raw = open(&server, "/raw?topic=0").await;
    // The protocol has nothing for a client to say; bytes it sends change nothing.
    raw.write(b"hello\n").await;
    server.publish(0, &publish_body(7, "m")).await;
    assert_eq!(raw.take(36).await, line(1, 7, "m"));
    assert_eq!(server.stats().await["connections"]["raw"], 1);
    drop(raw);
    let deadline = Instant::now() + WAIT;
    while server.stats().await["connections"]["raw"] != 0 {
        assert!(Instant::now() < deadline, "raw stream still counted");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.shutdown().await;
}
