//! WebSocket frames the server refuses, each with the close code RFC 6455 §7.4.1 gives it,
//! and the close handshake's time limit.

use pushbench_server::ServerConfig;
use pushbench_testkit::TestServer as Server;
use pushbench_testkit::raw::{message, publish_body};
use pushbench_testkit::ws::*;
use std::time::{Duration, Instant};

/// Sends `bytes` on a fresh WebSocket, expects a close frame with `code`, answers it, and
/// expects the server to close the socket; then checks `/stats.<counter>`.
async fn refused(server: &Server, bytes: &[u8], code: u16, counter: &str) {
    let mut ws = open_ws(server, 0).await;
    let before = server.stats().await[counter].as_u64().unwrap();
    ws.write(bytes).await;
    assert_eq!(read_close(&mut ws).await, code, "{counter}");
    ws.write(&client_frame(true, CLOSE, &code.to_be_bytes()))
        .await;
    ws.expect_eof().await;
    await_stat(server, counter, before + 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_get_1009() {
    let server = Server::start().await;
    let max = ServerConfig::default().ws_max_message_bytes;
    // One frame over the limit: refused from its header, before the payload is read.
    let big = vec![b'a'; max + 1];
    refused(
        &server,
        &client_frame(true, TEXT, &big),
        1009,
        "ws_messages_too_big",
    )
    .await;
    // Fragments each under the limit that add up to more than it.
    let half = vec![b'a'; max / 2 + 1];
    let mut fragments = client_frame(false, TEXT, &half);
    fragments.extend(client_frame(true, 0x0, &half));
    refused(&server, &fragments, 1009, "ws_messages_too_big").await;
    // A frame of exactly the limit is not refused for its size (but is no publish body).
    let exact = [&publish_body(1, "")[..], &vec![b'a'; max - 17]].concat();
    assert_eq!(exact.len(), max);
    let mut ws = open_ws(&server, 0).await;
    ws.write(&client_frame(true, TEXT, &exact)).await;
    let frame = read_frame(&mut ws).await;
    assert_eq!(
        frame.opcode(),
        TEXT,
        "the message is published and pushed back"
    );
    assert_eq!(frame.payload.len(), max + 17);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_utf8_gets_1007() {
    let server = Server::start().await;
    let bad = [&publish_body(1, "")[..], &[0xff, 0xfe]].concat();
    refused(
        &server,
        &client_frame(true, TEXT, &bad),
        1007,
        "ws_invalid_utf8",
    )
    .await;
    // Split inside a fragmented message, where fastwebsockets does not look.
    let mut fragments = client_frame(false, TEXT, &publish_body(1, "ok"));
    fragments.extend(client_frame(true, 0x0, &[0xc3]));
    refused(&server, &fragments, 1007, "ws_invalid_utf8").await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_get_1002() {
    let server = Server::start().await;
    let mut count = 0;
    for (what, bytes) in [
        (
            "unmasked frame",
            unmasked_frame(TEXT, &publish_body(1, "x")),
        ),
        ("reserved opcode", client_frame(true, 0x3, b"")),
        ("reserved bit", {
            let mut f = client_frame(true, TEXT, &publish_body(1, "x"));
            f[0] |= 0x40;
            f
        }),
        ("continuation first", client_frame(true, 0x0, b"x")),
        ("fragmented ping", client_frame(false, PING, b"")),
        (
            "ping over 125 bytes",
            client_frame(true, PING, &[b'p'; 126]),
        ),
        ("1-byte close", client_frame(true, CLOSE, b"x")),
        (
            "close code 1005",
            client_frame(true, CLOSE, &1005u16.to_be_bytes()),
        ),
        ("new message inside a message", {
            let mut f = client_frame(false, TEXT, b"a");
            f.extend(client_frame(true, TEXT, b"b"));
            f
        }),
    ] {
        let mut ws = open_ws(&server, 0).await;
        ws.write(&bytes).await;
        assert_eq!(read_close(&mut ws).await, 1002, "{what}");
        ws.expect_eof().await;
        count += 1;
    }
    await_stat(&server, "ws_protocol_errors", count).await;
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fragmented_publish_is_put_together() {
    let server = Server::start().await;
    let mut ws = open_ws(&server, 0).await;
    let body = publish_body(0x77, "fragmented");
    let mut frames = client_frame(false, TEXT, &body[..20]);
    // A ping between the fragments is answered and does not break the message.
    frames.extend(client_frame(true, PING, b"p"));
    frames.extend(client_frame(false, 0x0, &body[20..22]));
    frames.extend(client_frame(true, 0x0, &body[22..]));
    ws.write(&frames).await;
    let pong = read_frame(&mut ws).await;
    assert_eq!((pong.first, pong.payload), (0x8a, b"p".to_vec()));
    let echo = read_frame(&mut ws).await;
    assert_eq!(echo.payload, message(1, 0x77, "fragmented"));
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_answer_ends_the_connection_at_once() {
    // With a long close timeout, an answered close must still end the socket promptly.
    let server = Server::start_with(ServerConfig {
        ws_close_timeout: Duration::from_secs(30),
        ..ServerConfig::default()
    })
    .await;
    let mut ws = open_ws(&server, 0).await;
    ws.write(&client_frame(true, BINARY, b"nope")).await;
    assert_eq!(read_close(&mut ws).await, 1003);
    let answered = Instant::now();
    ws.write(&client_frame(true, CLOSE, &1003u16.to_be_bytes()))
        .await;
    ws.expect_eof().await;
    assert!(answered.elapsed() < Duration::from_secs(10));
    drop(ws);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_that_never_answers_close_is_dropped() {
    let timeout = Duration::from_millis(300);
    let server = Server::start_with(ServerConfig {
        ws_close_timeout: timeout,
        ..ServerConfig::default()
    })
    .await;
    let mut ws = open_ws(&server, 0).await;
    // A close the server starts (here: shutting down) waits for the client's answer...
    server.begin_shutdown();
    assert_eq!(read_close(&mut ws).await, 1001);
    let closed_at = Instant::now();
    // ...which never comes: the server drops the socket after the close timeout.
    ws.expect_eof().await;
    let waited = closed_at.elapsed();
    assert!(waited >= timeout / 2, "dropped after {waited:?}");
    assert!(waited < Duration::from_secs(4), "dropped after {waited:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_connection_is_closed_without_waiting() {
    // A client that breaks a rule gets the close frame and the end of the socket at once,
    // however long the close timeout.
    let server = Server::start_with(ServerConfig {
        ws_close_timeout: Duration::from_secs(30),
        ..ServerConfig::default()
    })
    .await;
    let mut ws = open_ws(&server, 0).await;
    ws.write(&client_frame(true, TEXT, b"not a publish body"))
        .await;
    assert_eq!(read_close(&mut ws).await, 1008);
    let closed_at = Instant::now();
    ws.expect_eof().await;
    assert!(closed_at.elapsed() < Duration::from_secs(10));
    await_stat(&server, "ws_bad_publishes", 1).await;
    drop(ws);
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_larger_than_the_topic_budget_gets_1009() {
    // 1 MiB over a ring of 16 leaves about 32 KiB per message: less than a WebSocket
    // message may carry, so the topic's budget is what refuses this one.
    let server = Server::start_with(ServerConfig {
        ring_capacity: 16,
        max_retained_bytes: 1 << 20,
        ..ServerConfig::default()
    })
    .await;
    let body = publish_body(1, &"p".repeat(40_000));
    refused(
        &server,
        &client_frame(true, TEXT, &body),
        1009,
        "ws_messages_too_big",
    )
    .await;
    assert_eq!(server.stats().await["topic_heads"], serde_json::json!([0]));
    server.shutdown().await;
}
