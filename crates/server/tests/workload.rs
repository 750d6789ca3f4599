//! The server-side publisher and shutdown.

use pushbench_testkit::TestServer as Server;
use pushbench_testkit::raw::{Conn, publish_body};
use std::time::{Duration, Instant};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publisher_follows_the_open_loop_schedule() {
    let server = Server::start().await;
    let before = Instant::now();
    server.workload(2, 50.0, 10).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let resp = server.post("/control/stop", b"").await;
    assert_eq!(resp.status, 200);
    let window = before.elapsed();

    let stats = server.stats().await;
    let heads: Vec<u64> = serde_json::from_value(stats["topic_heads"].clone()).unwrap();
    assert_eq!(heads.len(), 2);
    // Every tick publishes into every topic.
    assert_eq!(heads[0], heads[1], "{heads:?}");
    // Ticks at 0, 20 ms, 40 ms, ...: at most one per 20 ms of the window, plus tick 0.
    let upper = (window.as_secs_f64() * 50.0) as u64 + 1;
    assert!(
        (15..=upper).contains(&heads[0]),
        "{} messages in {window:?}",
        heads[0]
    );
    assert_eq!(stats["messages_published"], 2 * heads[0]);

    // Stopped means stopped.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.stats().await["topic_heads"], stats["topic_heads"]);

    let body = server.get("/poll?topic=1&cursor=0").await.body;
    let text = String::from_utf8(body).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(heads[1].to_string().as_str()));
    let mut previous_sent: Option<u64> = None;
    let mut count = 0;
    for (i, line) in lines.enumerate() {
        // 34 bytes of envelope + 10 of payload.
        assert_eq!(line.len(), 44, "{line:?}");
        let seq = u64::from_str_radix(&line[..16], 16).unwrap();
        let sent = u64::from_str_radix(&line[17..33], 16).unwrap();
        assert_eq!(seq, i as u64 + 1);
        assert_eq!(&line[34..], "abcdefghij");
        if let Some(p) = previous_sent {
            // The scheduled times, not wake-up times: exactly 1e9 / 50 ns apart.
            assert_eq!(sent - p, 20_000_000, "seq {seq}");
        }
        previous_sent = Some(sent);
        count += 1;
    }
    assert_eq!(count, heads[1]);

    // A new workload starts from fresh, empty topics.
    server.workload(3, 0.0, 0).await;
    let stats = server.stats().await;
    assert_eq!(stats["topic_heads"], serde_json::json!([0, 0, 0]));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_workload_does_not_break_old_subscribers() {
    let server = Server::start().await;
    server.workload(1, 0.0, 0).await;
    let mut stream = server.connect().await;
    stream
        .send_request("GET", "/stream?topic=0", &[], b"")
        .await;
    stream.read_head().await;
    // The old topic is gone from the server, but the stream keeps its connection open.
    server.workload(1, 0.0, 0).await;
    assert!(stream.quiet_for(Duration::from_millis(50)).await);
    let stats = server.stats().await;
    assert_eq!(stats["connections"]["stream"], 1);
    server.shutdown().await;
    // Shutdown ends the stream with the last chunk.
    stream.expect_eof().await;
    assert!(
        stream.buf.ends_with(b"0\r\n\r\n"),
        "{:?}",
        String::from_utf8_lossy(&stream.buf)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_answers_and_closes_everything() {
    let server = Server::start().await;
    server.workload(1, 0.0, 0).await;
    server.publish(0, &publish_body(1, "x")).await;
    let head = "1";

    let mut longpoll = server.connect().await;
    longpoll
        .send_request("GET", "/longpoll?topic=0&cursor=1&timeout=60000", &[], b"")
        .await;

    let mut sse = server.connect().await;
    sse.send_request("GET", "/sse?topic=0", &[], b"").await;
    sse.read_head().await;

    let mut ws = server.connect().await;
    let headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ];
    ws.send_request("GET", "/ws?topic=0", &headers, b"").await;
    assert_eq!(ws.read_head().await.0, 101);
    assert!(
        longpoll.quiet_for(Duration::from_millis(50)).await,
        "long poll is held"
    );

    // A keep-alive connection with no request in flight is simply closed.
    let mut idle: Conn = server.connect().await;
    let addr = server.addr;
    server.begin_shutdown();
    idle.expect_eof().await;

    // The held long poll gets the empty answer.
    let resp = longpoll.read_response().await;
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), format!("{head}\n"));
    // The SSE stream ends with the last chunk.
    sse.expect_eof().await;
    assert!(sse.buf.ends_with(b"0\r\n\r\n"));
    // The WebSocket gets a close frame with status 1001; answering it ends the connection.
    let frame = ws.take(4).await;
    assert_eq!(frame[0], 0x88);
    assert_eq!(&frame[2..4], &1001u16.to_be_bytes());
    let mut close = vec![0x88, 0x82, 0, 0, 0, 0];
    close.extend_from_slice(&1001u16.to_be_bytes());
    ws.write(&close).await;
    ws.expect_eof().await;

    server.shutdown().await;
    // Nothing listens any more.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
